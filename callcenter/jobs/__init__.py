"""One of each job when several processes share one database (issue 17: scale out on PostgreSQL).

The overdue job, the report scheduler, the retention sweeper, the daily self-check and the callback dialer each
run in one process at a time: :func:`callcenter.jobs.exclusive.run_exclusively` holds the job's lock
(:mod:`callcenter.jobs.locks`: a PostgreSQL advisory lock on a dedicated connection, or an OS file lock beside
the SQLite file) for as long as the job runs, and the other processes stand by and take over when the holder
dies. Nothing else is shared between the processes: no cluster protocol, no heartbeat table.
"""
