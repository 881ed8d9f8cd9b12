"""Work orders (工单): the store, its SLA engine on the Chinese working-day calendar, callbacks, overdue job.

Other packages use :mod:`callcenter.tickets.service` only (see its ``__all__``); the tables are private.
"""
