"""Asterisk 22.10.1's ARI resource files, the Swagger models the simulator answers and validates against.

Copied from the ``rest-api/api-docs/`` folder of Asterisk's source tree at git tag 22.10.1 (origin in
``VERSION.txt``) with the prose stripped (descriptions, summaries, notes: 78 KB instead of 220 KB); paths,
operations, parameters and models are unchanged. This is the only copy the project reads
(:func:`callcenter.sim.swagger.locate_api_docs`). A package only so that setuptools ships the JSON files.
"""
