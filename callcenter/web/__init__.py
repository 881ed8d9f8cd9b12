"""The people's side: agent softphone panel, QA review and supervisor wallboard (Starlette, Jinja2, websockets).

The web layer calls services (timeline, agent pool, work orders, recordings, metrics) and never Asterisk;
every page and API checks the signed-in user's role on the server (:mod:`callcenter.web.access`).
"""
