"""The script engine: scripts (话术) as data, prompts per locale, and sans-I/O sessions that speak them.

``protocol`` is the event/command vocabulary; ``model``/``loader`` the scripts; ``catalogue`` the prompts;
``linter`` the checks of DESIGN.md; ``session`` the state machine of one call; ``simulate`` a virtual-clock
driver; ``library`` loads a whole scripts directory. Nothing here does I/O except reading script files.
"""
