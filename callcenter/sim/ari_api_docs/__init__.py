"""A small copy of Asterisk 22.10.1's ARI resource files (descriptions stripped: 78 KB instead of 220 KB) for
installs without the ``shared/asterisk-ari-api-docs`` folder beside the repository. A package only so that
setuptools ships the JSON files; :func:`callcenter.sim.swagger.locate_api_docs` prefers the full originals.
"""
