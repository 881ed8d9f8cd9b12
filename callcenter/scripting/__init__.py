"""The script engine: scripts (话术) as data, prompts per locale, and sans-I/O sessions that speak them.

- ``protocol``: the event/command vocabulary and the Channel a driver talks to.
- ``model`` / ``loader`` / ``durations``: scripts loaded from YAML, errors at ``file:line:col``.
- ``catalogue``: prompt wording per locale (sandboxed Jinja2, StrictUndefined, locale chains, variables).
- ``library``: a whole scripts directory (scripts, catalogues, audio lengths), cached.
- ``linter``: the checks of docs/design.md. ``session``: the state machine of one call. ``notes``: its timeline
  notes. ``simulate``: the virtual-clock driver. ``errors``: ScriptError and its kinds.

Nothing here does I/O except the loader reading script, catalogue and WAV files; the real-clock driver is
``callcenter.calls.runner``.
"""
