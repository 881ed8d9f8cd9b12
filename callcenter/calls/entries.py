"""The dialplan's entry points (``telephony.entries``) checked against the script library.

An entry (``agi://host/<entry>`` or a Stasis app argument) names the script and locale its callers get. A bad
one should stop ``callcenter serve`` before the first call rather than send every caller of that entry down
the fallback path; the check lives here, at the edge that knows both the settings and the engine.
"""

from __future__ import annotations

from callcenter.config import Settings
from callcenter.scripting.errors import RenderError
from callcenter.scripting.library import ScriptLibrary


def entry_problems(library: ScriptLibrary, settings: Settings) -> list[str]:
    """What is wrong with ``telephony.entries`` for this library: each entry must name one of its scripts
    and a locale it knows, each problem as ``telephony.entries.<name>.<key>: …``."""
    out = []
    for name, entry in settings.telephony.entries.items():
        key = f"telephony.entries.{name}"
        if entry.script not in library.scripts:
            out.append(f"{key}.script: unknown script {entry.script!r}")
        try:
            library.catalogues.chain(entry.locale)
        except RenderError as exc:
            out.append(f"{key}.locale: {exc}")
    return out
