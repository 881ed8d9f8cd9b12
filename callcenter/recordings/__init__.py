"""Call recordings: storage layout, pydub processing, the retention floor and sweeper, legal hold, and the
hash-chained access ledger (R-107 … R-116). Other packages use :mod:`callcenter.recordings.service`."""
