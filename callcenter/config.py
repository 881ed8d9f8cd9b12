"""One settings object for the whole service.

Layers, later wins: the embedded defaults below < a TOML file (``--config`` or ``CALLCENTER_CONFIG``) <
environment variables ``CALLCENTER_<SECTION>__<KEY>`` (e.g. ``CALLCENTER_TELEPHONY__AGI_PORT=4573``).
Every value is checked once, at start-up; a bad one is a :class:`ConfigError` naming its key, so a typo in a
deployment fails loudly before the first call instead of mid-call. No other module reads the environment.
A key nested below a section nests in the variable too: ``CALLCENTER_TELEPHONY__ASTERISK__B__ARI_URL``.

Over 500 lines: settings have one home (docs/design.md); every section's fields, defaults and checks are here.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from callcenter.errors import CallcenterError
from callcenter.scripting.options import CentreOptions, LibraryOptions

PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = PACKAGE_DIR.parent
ENV_PREFIX = "CALLCENTER_"
# A source checkout (an editable install too) keeps the standard script library at its top, ``scripts/``; a wheel
# carries the same files inside the package (setup.py maps ``scripts`` to ``callcenter.library``).
SOURCE_CHECKOUT = (PROJECT_ROOT / "pyproject.toml").is_file() and (PROJECT_ROOT / "scripts").is_dir()
STANDARD_LIBRARY = PROJECT_ROOT / "scripts" if SOURCE_CHECKOUT else PACKAGE_DIR / "library"


@dataclass(frozen=True)
class DataFolder:
    """Where one centre's data lives: ``callcenter init DIR`` makes one and writes its ``callcenter.toml``.

    Without a config file a source checkout is its own data folder (its ``var/``, ``recordings/`` and
    ``scripts/``, as always) and an installed package uses ``~/.local/share/callcenter``; never site-packages.
    """

    root: Path

    @property
    def database(self) -> Path:
        return self.root / "var" / "callcenter.sqlite3"

    @property
    def recordings(self) -> Path:
        return self.root / "recordings"

    @property
    def reports(self) -> Path:
        return self.root / "var" / "reports"

    @property
    def secret_file(self) -> Path:
        return self.root / "var" / "web-secret"

    @property
    def scripts(self) -> Path:
        """The centre's own scripts, prompts and sounds (the checkout's: the standard library itself)."""
        return self.root / "scripts"

    @property
    def rendered_audio(self) -> Path:
        return self.root / "var" / "prompt-audio"

    @property
    def demo(self) -> Path:
        """Where ``callcenter demo`` keeps its own ``demo.sqlite3``, ``demo-recordings`` and ``demo-reports``."""
        return self.root / "var"


DEFAULT_DATA = DataFolder(PROJECT_ROOT if SOURCE_CHECKOUT else Path.home() / ".local" / "share" / "callcenter")

# docs/design.md, retention: 183 days after the call, never less (R-numbers of section 6).
RETENTION_FLOOR_DAYS = 183


class ConfigError(CallcenterError):
    """A setting is missing, of the wrong type or out of range; the message names the key."""


@dataclass(frozen=True)
class ServiceSettings(CentreOptions):
    """``[service]``: the engine's centre options (hotline, honorifics, agent label, configured durations, see
    callcenter/scripting/options.py) and what only the service needs."""

    timezone: str = "Asia/Shanghai"
    male_honorific: str = "先生"
    log_level: str = "info"
    log_json: bool = True

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


@dataclass(frozen=True)
class EntrySettings:
    """What one dialplan entry point (``agi://host/<entry>`` or Stasis app argument) runs."""

    script: str = "main_menu"
    locale: str = "zh-CN"
    hotline: str = ""
    group: str = "default"


@dataclass(frozen=True)
class AsteriskServer:
    """``[telephony.asterisk.<name>]``: one Asterisk server of the centre (issue 17). Its calls carry its name
    (``call.offered``'s ``server``, ``call_owners.server``); a process serves the servers of
    ``telephony.serve_asterisk`` (all when empty). Without any section the flat ``telephony.ari_*`` and
    ``telephony.agi_*`` keys are the one server ``main``, as before."""

    ari_url: str = "http://127.0.0.1:8088/ari"
    ari_username: str = "callcenter"
    ari_password: str = "callcenter"
    ari_app: str = "callcenter"
    # This server's FastAGI calls come to agi_host:agi_port; 0 = it sends none (ARI only).
    agi_host: str = "127.0.0.1"
    agi_port: int = 0
    # How this server dials an agent's seat ({work_number} or {name}, e.g. "PJSIP/{work_number}@pbx-a" through a
    # trunk to the server the phones register on); "" = the seat's own endpoint.
    agent_endpoint: str = ""


DEFAULT_SERVER = "main"
_SERVER_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,30}")


@dataclass(frozen=True)
class TelephonySettings:
    agi_host: str = "127.0.0.1"
    agi_port: int = 4573
    agi_max_calls: int = 1000
    agi_command_timeout_seconds: float = 10.0
    ari_url: str = "http://127.0.0.1:8088/ari"
    ari_username: str = "callcenter"
    ari_password: str = "callcenter"
    ari_app: str = "callcenter"
    # docs/design.md: cadence profile "cn" = 1 s ring, 4 s silence; the IVR answers after this many rings.
    ring_cadence: str = "cn"
    answer_after_rings: int = 1
    # an agent leg not answered within this many rings overflows to the neighbour seat.
    agent_ring_limit: int = 3
    # TALK_DETECT(set) value "<silence_ms>,<energy>" (Asterisk default 2500,160).
    talk_detect: str = "2500,160"
    default_group: str = "default"
    # Callbacks the centre dials (回访): the dial string of a customer's number ("{number}" is replaced), the
    # caller id they see (default: service.hotline), and how long their phone may ring before "no answer".
    outbound_endpoint: str = "PJSIP/{number}@trunk"
    outbound_caller_id: str = ""
    outbound_ring_seconds: float = 30.0
    # Live monitoring: some centres require telling the agent; when on, the agent alone hears this media
    # as a supervisor starts listening (监听 only: in whisper and barge the agent hears the supervisor anyway).
    supervision_notify_agent: bool = False
    supervision_notify_media: str = "sound:beep"
    entries: Mapping[str, EntrySettings] = field(
        default_factory=lambda: {
            "main": EntrySettings(script="main_menu"),
            "hotline": EntrySettings(script="inbound"),
            "silent": EntrySettings(script="silent_call"),
        }
    )
    # How this server dials an agent's seat ({work_number} or {name}); "" = the seat's own endpoint. Set per
    # server in [telephony.asterisk.<name>] agent_endpoint (callcenter/telephony/ari/endpoints.py).
    agent_endpoint: str = ""
    # Several Asterisk servers (issue 17): [telephony.asterisk.<name>] sections, and the ones this process serves.
    asterisk: Mapping[str, AsteriskServer] = field(default_factory=dict)
    serve_asterisk: tuple[str, ...] = ()

    def servers(self) -> dict[str, AsteriskServer]:
        """Every Asterisk server of the centre by name: the sections, or the flat keys as ``main``."""
        if self.asterisk:
            return dict(self.asterisk)
        return {DEFAULT_SERVER: AsteriskServer(self.ari_url, self.ari_username, self.ari_password, self.ari_app,
                                               self.agi_host, self.agi_port, self.agent_endpoint)}

    def served(self) -> dict[str, AsteriskServer]:
        """The servers this process takes calls from (``serve_asterisk``, all when empty)."""
        servers = self.servers()
        return {name: servers[name] for name in self.serve_asterisk} if self.serve_asterisk else servers


@dataclass(frozen=True)
class ScriptSettings(LibraryOptions):
    """``[scripts]``: where the library is, and the engine's library options (locales and their chains,
    required audio, speech rate; callcenter/scripting/options.py)."""

    directory: Path = DEFAULT_DATA.scripts
    # Installed, the packaged standard library lies under the centre's own folder; a checkout's scripts/ is it.
    base_directories: tuple[Path, ...] = () if SOURCE_CHECKOUT else (STANDARD_LIBRARY,)
    # Prompts without a recording (the per-call greeting, R-04) are rendered from the call's own text and
    # kept here by their words (callcenter/voice). Asterisk opens them by path: same host or shared volume.
    rendered_audio_directory: Path = DEFAULT_DATA.rendered_audio


@dataclass(frozen=True)
class DatabaseSettings:
    url: str = f"sqlite:///{DEFAULT_DATA.database}"
    echo: bool = False
    # Processes sharing the database run each job once (callcenter.jobs): a standby tries for a job's lock, and
    # its holder checks its lock, this often; a dead holder's job moves within about this long.
    job_lock_poll_seconds: float = 5.0
    # Commands to the process that holds a call (callcenter.calls.commands_bus): read at least this often even
    # without a notification (PostgreSQL), and how often SQLite's one process looks.
    command_poll_seconds: float = 0.5


@dataclass(frozen=True)
class RecordingSettings:
    root: Path = DEFAULT_DATA.recordings
    retention_days: int = RETENTION_FLOOR_DAYS
    complaint_retention_days: int = 366
    format: str = "wav"
    compressed_format: str = ""
    min_free_bytes: int = 200 * 1024 * 1024
    sweep_batch: int = 1000
    # Replay copy for the QA page: "mp3" plays in every browser (Safari included); "webm" is Opus in WebM.
    browser_format: str = "mp3"
    browser_bitrate: str = "32k"
    # Silence segments for QA: quieter than this for at least silence_min_ms (R-15 silent calls show up).
    silence_threshold_dbfs: float = -45.0
    silence_min_ms: int = 1000
    waveform_points: int = 800
    # A sweeper's claim older than this is presumed dead (crashed) and may be taken over.
    claim_timeout_seconds: float = 600.0
    # How often `callcenter serve` runs the retention sweep (recordings.sweeper.sweep_periodically).
    sweep_interval_seconds: float = 3600.0


@dataclass(frozen=True)
class TicketSettings:
    policy: str = "call_center_003"
    number_prefix: str = "GD"
    extra_holidays: tuple[str, ...] = ()
    extra_workdays: tuple[str, ...] = ()
    # A date in a year the statutory calendar does not know: "weekends" (Mon-Fri, warned, deadlines marked
    # provisional) or "error" (refuse). See callcenter/tickets/calendar.py.
    unknown_year: str = "weekends"
    # level-2 and level-3 callback sampling, percent of closed orders (floors 10 and 5).
    callback_l2_percent: float = 10.0
    callback_l3_percent: float = 5.0


@dataclass(frozen=True)
class WebSettings:
    host: str = "127.0.0.1"
    port: int = 8080
    secret_key: str = ""
    session_max_age_seconds: int = 8 * 3600
    # Where a generated session key is kept when secret_key is empty (created once, mode 0600).
    secret_file: Path = DEFAULT_DATA.secret_file
    # Send the session cookie only over HTTPS (set true behind a TLS proxy).
    cookie_secure: bool = False
    # R-120 passwords: changed at least every N days (the standard's "typically every three months"), none of
    # the last N reused, and an account locked (until an admin unlocks it) after N failures within M minutes.
    password_max_age_days: int = 90
    password_history: int = 5
    lockout_attempts: int = 5
    lockout_window_minutes: int = 15
    # Where a process without the web role (serve --role telephony|jobs) answers /healthz and /readyz.
    health_host: str = "127.0.0.1"
    health_port: int = 8081
    # The phone endpoint of an agent account's seat ({work_number} or {name} of the account).
    agent_endpoint: str = "PJSIP/{work_number}"
    # The demo's simulated traffic: a new call every N seconds, at most this many live at once.
    demo_call_interval_seconds: float = 20.0
    demo_max_live_calls: int = 6
    # ``callcenter demo``'s own database, recordings and reports (emptied at each start, never the real ones).
    demo_directory: Path = DEFAULT_DATA.demo


@dataclass(frozen=True)
class MetricSettings:
    # R-numbers of section 7: service level = Y % answered within X seconds; both left to the centre.
    service_level_seconds: int = 20
    service_level_target_percent: float = 80.0
    reports_directory: Path = DEFAULT_DATA.reports
    # scheduled reports are written this long after their period ends (calls across midnight settle);
    # the daily report must still be out by 09:00.
    report_delay_minutes: int = 30


@dataclass(frozen=True)
class HealthSettings:
    # R-119 「每天…检查,并作好登记」: the daily self-check's centre time (HH:MM), registered in health_checks.
    daily_check_at: str = "08:30"


@dataclass(frozen=True)
class PbxSettings:
    """``[pbx]``: what ``callcenter asterisk config`` writes for Asterisk's PJSIP, HTTP and ARI (issue 15). The
    ARI port and user come from ``telephony``; seat secrets are generated once and kept in ``secrets_file``."""

    # Where Asterisk listens: the HTTP server (ARI, and the secure websocket of the browsers' SIP) and the desk
    # phones' SIP over UDP/TCP. Loopback by default: a centre opens what it means to.
    bind_address: str = "127.0.0.1"
    tls_port: int = 8089
    sip_port: int = 5060
    # The certificate and key of the HTTPS/WSS server (PEM); required as soon as one seat is ``webrtc``.
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    # The host name the browsers use for wss://HOST:tls_port/ws and their SIP domain (default: bind_address).
    public_host: str = ""
    # Codecs of the browser seats, in order of preference; desk phones get G.711. G.711 first: Asterisk
    # transcodes Opus only with codec_opus (a binary module, not built from source); without it a call that
    # settles on Opus fails at its first prompt ("no translation path (slin) -> (opus)", 22.10.1). With
    # codec_opus installed a centre may put "opus" first.
    webrtc_codecs: tuple[str, ...] = ("ulaw", "alaw", "opus")
    # The dialplan context of calls a seat itself places (the centre's calls to seats go through ARI).
    seat_context: str = "callcenter-seats"
    secrets_file: Path = DEFAULT_DATA.root / "var" / "seat-secrets.json"


@dataclass(frozen=True)
class AgentSettings:
    """``[agents]``: seat states as centres use them (issue 15) and seat reservations (issue 17)."""

    # Not-ready reason codes beside break 小休, meal 用餐, training 培训, meeting 会议: code = label.
    reason_codes: Mapping[str, str] = field(default_factory=dict)
    # Wrap-up (话后处理) ends after this long (0 = no maximum): the agent is made "ready" or "flag"ged.
    wrap_up_max_seconds: float = 120.0
    wrap_up_overdue: str = "ready"
    # A seat reserved for a call is held under a lease its process renews; a dead process's seats are free
    # again this long after its last renewal.
    lease_seconds: float = 30.0


@dataclass(frozen=True)
class Settings:
    service: ServiceSettings = field(default_factory=ServiceSettings)
    telephony: TelephonySettings = field(default_factory=TelephonySettings)
    scripts: ScriptSettings = field(default_factory=ScriptSettings)
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    recordings: RecordingSettings = field(default_factory=RecordingSettings)
    tickets: TicketSettings = field(default_factory=TicketSettings)
    web: WebSettings = field(default_factory=WebSettings)
    metrics: MetricSettings = field(default_factory=MetricSettings)
    health: HealthSettings = field(default_factory=HealthSettings)
    agents: AgentSettings = field(default_factory=AgentSettings)
    pbx: PbxSettings = field(default_factory=PbxSettings)

    def entry(self, name: str) -> EntrySettings | None:
        return self.telephony.entries.get(name)


def load_settings(
    path: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Build the settings from defaults, an optional TOML file and the environment; validate them."""
    environ = os.environ if environ is None else environ
    raw: dict[str, dict[str, object]] = {}
    path = path or environ.get(f"{ENV_PREFIX}CONFIG")
    if path:
        try:
            with open(path, "rb") as fh:
                data = tomllib.load(fh)
        except FileNotFoundError:
            raise ConfigError(f"config file {path} does not exist") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path}: {exc}") from None
        for section, values in data.items():
            if not isinstance(values, dict):
                raise ConfigError(f"{section}: expected a [{section}] table")
            raw[section] = dict(values)
    for key, value in environ.items():
        if not key.startswith(ENV_PREFIX) or "__" not in key:
            continue
        section, _, name = key[len(ENV_PREFIX) :].lower().partition("__")
        _set_nested(raw.setdefault(section, {}), name.split("__"), value, f"{section}.")
    settings: Settings = _build(Settings, raw, "")
    _check(settings)
    return settings


def _set_nested(table: dict[str, object], path: list[str], value: str, prefix: str) -> None:
    """``CALLCENTER_TELEPHONY__ASTERISK__B__ARI_URL`` sets ``[telephony.asterisk.b] ari_url`` over the file's."""
    for part in path[:-1]:
        inner = table.get(part)
        if isinstance(inner, str):
            inner = _parse_toml_value(inner, prefix + part)
        inner = dict(inner) if isinstance(inner, Mapping) else {}
        table[part] = inner
        table, prefix = inner, f"{prefix}{part}."
    table[path[-1]] = value


def _build(cls: type, values: Mapping[str, object], prefix: str) -> typing.Any:
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    for name in values:
        if name not in known:
            raise ConfigError(f"{prefix}{name}: unknown setting")
    kwargs: dict[str, object] = {}
    for f in dataclasses.fields(cls):
        if f.name not in values:
            continue
        key = f"{prefix}{f.name}"
        kwargs[f.name] = _coerce(hints[f.name], values[f.name], key)
    return cls(**kwargs)


def _coerce(tp: typing.Any, value: object, key: str) -> object:
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key}: expected a table")
        return _build(typing.cast(type, tp), value, f"{key}.")
    if origin is typing.Union or origin is types.UnionType:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return _coerce(args[0], value, key)
    if origin in (Mapping, dict) or tp in (Mapping, dict):
        if isinstance(value, str):
            value = _parse_toml_value(value, key)
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key}: expected a table")
        _, vt = typing.get_args(tp)
        return {str(k): _coerce(vt, v, f"{key}.{k}") for k, v in value.items()}
    if origin is tuple:
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{key}: expected a list")
        return tuple(_coerce(typing.get_args(tp)[0], v, key) for v in value)
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in {"1", "true", "yes", "on", "0", "false", "no", "off"}:
            return value.lower() in {"1", "true", "yes", "on"}
        raise ConfigError(f"{key}: expected true or false, got {value!r}")
    if tp in (int, float):
        if isinstance(value, bool):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        try:
            return tp(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{key}: expected {'an integer' if tp is int else 'a number'}, got {value!r}") from None
    if tp is Path:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a path")
        return Path(value).expanduser()
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
        return value
    raise ConfigError(f"{key}: unsupported setting type {tp!r}")


def _parse_toml_value(text: str, key: str) -> object:
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{key}: not a TOML value: {exc}") from None


def check_settings(s: Settings) -> None:
    """Check settings changed after loading (``serve --asterisk``); a bad value is a :class:`ConfigError`."""
    _check(s)


def _check_agents(a: AgentSettings) -> None:
    for name, label in a.reason_codes.items():
        plain = name.isascii() and name[:1].isalpha() and len(name) <= 32
        if not plain or not all(c.islower() or c.isdigit() or c == "_" for c in name) or not label:
            raise ConfigError(f"agents.reason_codes.{name}: expected a lower-case code (a-z, 0-9, _) = a label")
    if a.wrap_up_max_seconds < 0:
        raise ConfigError("agents.wrap_up_max_seconds: must be 0 (no maximum) or more")
    if a.wrap_up_overdue not in {"ready", "flag"}:
        raise ConfigError(f"agents.wrap_up_overdue: expected 'ready' or 'flag', got {a.wrap_up_overdue!r}")
    if not 5 <= a.lease_seconds <= 3600:
        raise ConfigError("agents.lease_seconds: expected 5 to 3600 seconds")


def _check(s: Settings) -> None:
    _check_agents(s.agents)
    try:
        ZoneInfo(s.service.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"service.timezone: unknown time zone {s.service.timezone!r}") from None
    if s.service.agent_label not in {"work_number", "name"}:
        raise ConfigError("service.agent_label: expected 'work_number' or 'name'")
    if s.service.log_level.lower() not in {"debug", "info", "warning", "error"}:
        raise ConfigError(f"service.log_level: unknown level {s.service.log_level!r}")
    for key, value in (
        ("telephony.agi_port", s.telephony.agi_port),
        ("web.port", s.web.port),
        ("web.health_port", s.web.health_port),
    ):
        if not 0 <= value <= 65535:
            raise ConfigError(f"{key}: {value} is not a TCP port")
    _check_servers(s.telephony)
    if s.telephony.answer_after_rings < 0:
        raise ConfigError("telephony.answer_after_rings: must be 0 or more")
    if not 1 <= s.telephony.agent_ring_limit <= 3:
        raise ConfigError("telephony.agent_ring_limit: R-01 allows 1 to 3 rings")
    if s.telephony.agi_max_calls < 1:
        raise ConfigError("telephony.agi_max_calls: must be at least 1")
    if s.telephony.agi_command_timeout_seconds <= 0:
        raise ConfigError("telephony.agi_command_timeout_seconds: must be positive")
    endpoint = s.telephony.outbound_endpoint
    if "/" not in endpoint or endpoint.count("{number}") != 1 or endpoint.replace("{number}", "").count("{"):
        raise ConfigError("telephony.outbound_endpoint: expected a dial string with one {number}, "
                          f"e.g. PJSIP/{{number}}@trunk, got {endpoint!r}")
    if not 5 <= s.telephony.outbound_ring_seconds <= 120:
        raise ConfigError("telephony.outbound_ring_seconds: expected 5 to 120 seconds")
    if s.telephony.default_group == "":
        raise ConfigError("telephony.default_group: must not be empty")
    if s.web.session_max_age_seconds < 60:
        raise ConfigError("web.session_max_age_seconds: must be at least 60")
    if not 1 <= s.web.password_max_age_days <= 90:
        raise ConfigError("web.password_max_age_days: 1 to 90 (R-120: passwords change about every three months)")
    if not 1 <= s.web.password_history <= 24:
        raise ConfigError("web.password_history: 1 to 24 previous passwords")
    if not 1 <= s.web.lockout_attempts <= 20 or not 1 <= s.web.lockout_window_minutes <= 24 * 60:
        raise ConfigError("web.lockout_attempts / web.lockout_window_minutes: 1 to 20 failures / 1 to 1440 minutes")
    if s.web.demo_call_interval_seconds <= 0 or s.web.demo_max_live_calls < 1:
        raise ConfigError("web.demo_call_interval_seconds / web.demo_max_live_calls: must be positive")
    if s.recordings.retention_days < RETENTION_FLOOR_DAYS:
        raise ConfigError(
            f"recordings.retention_days: {s.recordings.retention_days} is below the floor of "
            f"{RETENTION_FLOOR_DAYS} days (recordings are kept at least six months)"
        )
    if s.recordings.complaint_retention_days < 366:
        raise ConfigError("recordings.complaint_retention_days: complaint records are kept at least one year")
    _check_tickets(s)
    if s.recordings.browser_format not in {"mp3", "webm"}:
        raise ConfigError(f"recordings.browser_format: expected 'mp3' or 'webm', got {s.recordings.browser_format!r}")
    if s.recordings.compressed_format not in {"", "flac", "opus"}:
        raise ConfigError(
            f"recordings.compressed_format: expected '', 'flac' or 'opus', got {s.recordings.compressed_format!r}"
        )
    if s.database.job_lock_poll_seconds <= 0:
        raise ConfigError("database.job_lock_poll_seconds: must be positive")
    if not 0 < s.database.command_poll_seconds <= 5:
        raise ConfigError("database.command_poll_seconds: expected more than 0 and at most 5 seconds")
    if s.recordings.sweep_batch < 1:
        raise ConfigError("recordings.sweep_batch: must be at least 1")
    if s.recordings.min_free_bytes < 0:
        raise ConfigError("recordings.min_free_bytes: must be 0 or more")
    if s.recordings.silence_min_ms < 10 or s.recordings.waveform_points < 1:
        raise ConfigError("recordings.silence_min_ms / recordings.waveform_points: must be at least 10 ms / 1 point")
    if s.recordings.claim_timeout_seconds <= 0:
        raise ConfigError("recordings.claim_timeout_seconds: must be positive")
    if s.recordings.sweep_interval_seconds <= 0:
        raise ConfigError("recordings.sweep_interval_seconds: must be positive")
    if not 0 < s.metrics.service_level_target_percent <= 100:
        raise ConfigError("metrics.service_level_target_percent: must be in (0, 100]")
    if s.metrics.service_level_seconds <= 0:
        raise ConfigError("metrics.service_level_seconds: must be positive")
    if not 0 <= s.metrics.report_delay_minutes < 9 * 60:
        raise ConfigError("metrics.report_delay_minutes: must be 0 or more and leave the daily report out by 09:00")
    hours, _, minutes = s.health.daily_check_at.partition(":")
    if not (len(hours) == len(minutes) == 2 and hours.isdigit() and minutes.isdigit()
            and int(hours) < 24 and int(minutes) < 60):
        raise ConfigError(f"health.daily_check_at: expected HH:MM (00:00-23:59), got {s.health.daily_check_at!r}")
    if s.scripts.speech_chars_per_second <= 0:
        raise ConfigError("scripts.speech_chars_per_second: must be positive")
    for locale, chain in s.scripts.locale_chains.items():
        if not chain or chain[0] != locale:
            raise ConfigError(f"scripts.locale_chains.{locale}: a chain starts with its own locale")


def _check_servers(t: TelephonySettings) -> None:
    """One line naming the key for a bad ``[telephony.asterisk.<name>]`` section (issue 17)."""
    seen_apps: dict[tuple[str, str], str] = {}
    seen_agi: dict[tuple[str, int], str] = {}
    for name, server in t.servers().items():
        key = f"telephony.asterisk.{name}"
        if not _SERVER_NAME.fullmatch(name):
            raise ConfigError(f"{key}: a server name is 1-31 lower-case letters, digits or '-'")
        if not server.ari_url.startswith(("http://", "https://")):
            raise ConfigError(f"{key}.ari_url: expected http(s)://host:port/ari, got {server.ari_url!r}")
        if not server.ari_app or not server.ari_username:
            raise ConfigError(f"{key}.{'ari_app' if not server.ari_app else 'ari_username'}: must not be empty")
        if not 0 <= server.agi_port <= 65535:
            raise ConfigError(f"{key}.agi_port: {server.agi_port} is not a TCP port")
        try:
            server.agent_endpoint.format(work_number="8001", name="agent")
        except (KeyError, IndexError, ValueError) as exc:
            raise ConfigError(f"{key}.agent_endpoint: unknown placeholder {exc} (use {{work_number}} or {{name}})") \
                from None
        other = seen_apps.setdefault((server.ari_url.rstrip("/"), server.ari_app), name)
        if other != name:
            raise ConfigError(f"{key}.ari_app: {server.ari_app!r} on {server.ari_url} is server {other!r} already")
        if server.agi_port:
            other = seen_agi.setdefault((server.agi_host, server.agi_port), name)
            if other != name:
                raise ConfigError(f"{key}.agi_port: {server.agi_host}:{server.agi_port} is server {other!r}'s already")
    unknown = [name for name in t.serve_asterisk if name not in t.servers()]
    if unknown:
        raise ConfigError(f"telephony.serve_asterisk: unknown server {unknown[0]!r} "
                          f"(configured: {', '.join(sorted(t.servers()))})")


def _check_tickets(s: Settings) -> None:
    from datetime import date

    t = s.tickets
    if t.unknown_year not in {"weekends", "error"}:
        raise ConfigError(f"tickets.unknown_year: expected 'weekends' or 'error', got {t.unknown_year!r}")
    if not 10.0 <= t.callback_l2_percent <= 100.0:
        raise ConfigError("tickets.callback_l2_percent: R-94 samples at least 10 % (and at most 100)")
    if not 5.0 <= t.callback_l3_percent <= 100.0:
        raise ConfigError("tickets.callback_l3_percent: R-94 samples at least 5 % (and at most 100)")
    if not t.number_prefix or not t.number_prefix.isascii() or len(t.number_prefix) > 8:
        raise ConfigError("tickets.number_prefix: 1 to 8 ASCII characters")
    for key, days in (("tickets.extra_holidays", t.extra_holidays), ("tickets.extra_workdays", t.extra_workdays)):
        for day in days:
            try:
                date.fromisoformat(day)
            except ValueError:
                raise ConfigError(f"{key}: {day!r} is not an ISO date (YYYY-MM-DD)") from None
