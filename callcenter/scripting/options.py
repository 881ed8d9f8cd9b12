"""The engine's own options: small frozen values, the only configuration the script engine reads.

The engine imports nothing of the project outside this package (the layer contracts in pyproject.toml), so
it cannot read the service's settings. The edge hands it these instead: ``callcenter.config`` builds its
``[service]`` and ``[scripts]`` sections on :class:`CentreOptions` and :class:`LibraryOptions` (each section
is the engine's options plus what only the service needs: time zone, logs, the scripts directory), and
``callcenter.calls.runner.session_config`` fills a :class:`~callcenter.scripting.session.SessionConfig` from
the telephony settings and the ring cadence.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

# the floor of every "pause then hang up" window in the standards.
STANDARD_PAUSE_SECONDS = 5.0


@dataclass(frozen=True)
class CentreOptions:
    """What a centre's scripts speak and wait for: names in the prompts, honorifics, configured durations."""

    hotline: str = "江南云商"
    center: str = "江南云商"
    # R-10 / docs/design.md: default female honorific 女士, 小姐 as a setting.
    female_honorific: str = "女士"
    # R-12 / docs/design.md: the greeting names the agent by work number (工号) unless set to "name".
    agent_label: str = "work_number"
    # after the closing phrase the system waits this long for the caller to hang up first.
    caller_hangup_wait_seconds: float = 30.0
    # R-19..R-21 / docs/design.md: re-check a dialect caller every N seconds, release allowed after the maximum.
    dialect_recheck_seconds: float = 30.0
    dialect_max_seconds: float = 300.0


@dataclass(frozen=True)
class LibraryOptions:
    """How a scripts directory is read: locales and their fallback chains, required audio, speech rate."""

    default_locale: str = "zh-CN"
    # Locale fallback chains; every chain ends in the default locale (docs/design.md, dialect).
    locale_chains: Mapping[str, tuple[str, ...]] = field(
        default_factory=lambda: {"zh-sichuan": ("zh-sichuan", "zh-CN"), "zh-CN": ("zh-CN",)}
    )
    required_audio_locales: tuple[str, ...] = ()
    # Characters per second used to estimate a prompt's length when it has no audio file yet.
    speech_chars_per_second: float = 4.0
    # Folders read before the scripts directory, whose own scripts and prompts replace theirs name by name and
    # key by key (a centre's data folder over the packaged standard library; callcenter/scripting/library.py).
    base_directories: tuple[Path, ...] = ()
