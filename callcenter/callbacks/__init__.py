"""Callbacks the system dials (回访, R-94..R-106): campaigns, tasks and their attempts, the do-not-call list.

A layer between the services and the domain (pyproject.toml, ``layers``): it reads and changes work orders
only through ``callcenter.tickets`` and knows no Asterisk — the dialer (``callcenter.telephony``) claims due
tasks from :mod:`callcenter.callbacks.queue`, dials them and reports each attempt to
:mod:`callcenter.callbacks.outcomes`. Design: docs/design.md; rules: docs/standards.md.
"""
