"""A real Asterisk for the tests: its own configuration in a temporary folder, loopback ports of its own.

``CALLCENTER_TEST_ASTERISK=<prefix>`` names an installed Asterisk (``<prefix>/sbin/asterisk``, modules under
``<prefix>/lib/asterisk/modules``, sounds under ``<prefix>/var/lib/asterisk/sounds``). Nothing of Asterisk's
sample configuration is used: :func:`write_config` writes every file Asterisk reads, loads only the modules the
bridges need (``autoload=no``) and names the modules that reach out by themselves as ``noload`` as well.

Callers are Local channels, and so are the customers the callback dialer rings (``[customers]``).
``channel originate Local/<entry>@bridge/n extension <scenario>@caller``: the ``;2``
half runs the bridge's dialplan (FastAGI or Stasis) and rings until the bridge answers, the ``;1`` half is the
caller: once answered it runs ``[caller]``, which records what it hears (``MixMonitor`` with ``r()``: the audio
the caller's channel reads is what the bridge plays) and "says" its part (streamed silence, speech files,
``SendDTMF``), or sends no media at all. The caller's own clock (answer instant, hang-up instant) is written
by the dialplan, so rings and windows are measured from the caller's side only.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

# Modules the bridges and the caller dialplan use; everything else stays unloaded.
MODULES = (
    "res_timing_timerfd", "res_sorcery_config", "res_sorcery_memory", "pbx_config", "res_speech", "res_agi",
    "res_websocket_client", "app_playback", "app_mixmonitor", "app_talkdetect",
    "app_senddtmf", "app_dial", "app_echo", "app_exec", "app_system", "app_stasis", "app_verbose",
    "res_stasis", "res_stasis_answer", "res_stasis_playback", "res_stasis_recording", "res_stasis_snoop",
    "res_stasis_device_state", "res_http_websocket", "res_ari", "res_ari_model", "res_ari_applications",
    "res_ari_asterisk", "res_ari_bridges", "res_ari_channels", "res_ari_device_states", "res_ari_endpoints",
    "res_ari_events", "res_ari_playbacks", "res_ari_recordings", "res_ari_sounds", "res_musiconhold",
    "func_talkdetect", "func_channel", "func_strings", "func_shell", "func_logic", "func_callerid",
    "bridge_simple", "bridge_softmix", "bridge_holding", "bridge_builtin_features", "format_wav",
    "format_pcm", "format_sln", "codec_ulaw", "codec_alaw", "codec_a_mu", "codec_resample", "res_clioriginate",
    "chan_bridge_media", "app_originate", "app_stack",
)
# Modules that talk to the network by themselves: never loaded here (autoload is off anyway). res_ari needs
# res_websocket_client loaded; it connects nowhere unless websocket_client.conf names a server (it is empty).
NEVER = (
    "chan_iax2", "pbx_dundi", "res_hep", "res_hep_rtcp", "res_hep_pjsip", "res_snmp", "res_xmpp",
    "res_phoneprov", "res_stun_monitor", "res_statsd", "chan_websocket",
    "res_calendar", "res_stir_shaken", "res_pjsip", "chan_pjsip", "res_rtp_multicast",
)

# A Local channel offers every format it knows unless told otherwise, and the two halves then settle on
# signed linear at 192 kHz (slin192 in its log): 28 calls took 1.7 cores and starved the audio. Callers here
# are telephone calls: 8 kHz signed linear, what the prompts are.
CALL_FORMATS = "slin"
ARI_USER = "callcenter"
ARI_PASSWORD = "callcenter-test"
ARI_APP = "callcenter"


class AsteriskUnavailable(RuntimeError):
    """No Asterisk to run the suite against; the message is the reason."""


def find_asterisk() -> Path:
    prefix = os.environ.get("CALLCENTER_TEST_ASTERISK", "")
    if not prefix:
        raise AsteriskUnavailable("CALLCENTER_TEST_ASTERISK is not set (the prefix of an installed Asterisk 22)")
    binary = Path(prefix) / "sbin" / "asterisk"
    if not binary.is_file():
        raise AsteriskUnavailable(f"CALLCENTER_TEST_ASTERISK={prefix}: no {binary}")
    return Path(prefix)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Ports:
    http: int = field(default_factory=free_port)
    agi: int = field(default_factory=free_port)
    probe: int = field(default_factory=free_port)  # tests/asterisk/agi_probe.py


def dialplan(agi_port: int, probe_port: int, agents: Path) -> str:
    """The dialplan of the README's recipe plus the simulated callers' and agents' sides."""
    return f"""\
[general]
static=yes
writeprotect=yes

[globals]
AGENTS={agents}

; ---- the bridge's side: what README.md tells an admin to write --------------------------------------
[callcenter]
exten => main,1,NoOp(hotline over FastAGI)
 same => n,AGI(agi://127.0.0.1:{agi_port}/${{ENTRY}})
 same => n,Hangup()
exten => _[0-9*#],1,Hangup()

; ---- agent seats (tests only): web.agent_endpoint = Local/{{work_number}}@agents/n ------------------------
; 8001 rings and never answers; any other seat answers at once, says AGENTS/agent-speech (after the seconds
; in AGENTS/<seat>.delay, if any), listens 12 s and hangs up. Each notes when it began ringing, answered and
; was hung up, and records what it heard.
[agents]
exten => _X.,1,Set(SEAT=${{EXTEN}})
 same => n,System(echo ringing ${{FILTER(0-9.,${{SHELL(date +%s.%N)}})}} >> ${{AGENTS}}/${{SEAT}}.clock)
 same => n,GotoIf($["${{EXTEN}}" = "8001"]?never)
 same => n,Answer()
 same => n,MixMonitor(${{AGENTS}}/${{SEAT}}-mix.wav,r(${{AGENTS}}/${{SEAT}}-heard.wav))
 same => n,System(echo answered ${{FILTER(0-9.,${{SHELL(date +%s.%N)}})}} >> ${{AGENTS}}/${{SEAT}}.clock)
 same => n,Wait(${{FILTER(0-9.,${{SHELL(cat ${{AGENTS}}/${{SEAT}}.delay 2>/dev/null || echo 0)}})}})
 same => n,Playback(${{AGENTS}}/agent-speech)
 same => n,Playback(silence/10&silence/2)
 same => n,Hangup()
 same => n(never),Ringing()
 same => n,Wait(120)
exten => h,1,System(echo hangup ${{FILTER(0-9.,${{SHELL(date +%s.%N)}})}} >> ${{AGENTS}}/${{SEAT}}.clock)

; ---- the customers the callback dialer rings (tests only): outbound_endpoint = Local/{{number}}@customers/n ----
; By the last digit: 1 answers during the 2nd ring, records what it hears and presses the digit in <number>.key
; at the second in <number>.press (both written by the test), then stays on the line until the service releases
; it; 2 is busy; 3 congested; 4 rings and never answers; 5 answers and hangs up 2 s later (during the opening).
[customers]
exten => _139XXXXXXXX,1,Set(CALL=${{AGENTS}}/customer-${{EXTEN}})
 same => n,System(echo ringing ${{FILTER(0-9.,${{SHELL(date +%s.%N)}})}} >> ${{CALL}}.clock)
 same => n,GotoIf($["${{EXTEN:-1}}" = "2"]?busy)
 same => n,GotoIf($["${{EXTEN:-1}}" = "3"]?congested)
 same => n,GotoIf($["${{EXTEN:-1}}" = "4"]?never)
 same => n,Ringing()
 same => n,Wait(6)
 same => n,Answer()
 same => n,Gosub(caller,begin,1)
 same => n,GotoIf($["${{EXTEN:-1}}" = "5"]?leaves)
 same => n,Wait(${{FILTER(0-9.,${{SHELL(cat ${{CALL}}.press)}})}})
 same => n,SendDTMF(${{FILTER(0-9,${{SHELL(cat ${{CALL}}.key)}})}},250)
 same => n,Wait(60)
 same => n,Hangup()
 same => n(leaves),Wait(2)
 same => n,Hangup()
 same => n(busy),Busy(10)
 same => n(congested),Congestion(10)
 same => n(never),Ringing()
 same => n,Wait(120)
exten => h,1,System(echo hangup ${{FILTER(0-9.,${{SHELL(date +%s.%N)}})}} >> ${{CALL}}.clock)

; ---- the transcript probe (tests/asterisk/agi_probe.py) ------------------------------------------------
[probe]
exten => main,1,AGI(agi://127.0.0.1:{probe_port}/probe)
 same => n,Hangup()

[callcenter-ari]
exten => main,1,NoOp(hotline over ARI)
 same => n,Stasis({ARI_APP},${{ENTRY}})
 same => n,Hangup()

; ---- the callers (tests only) ----------------------------------------------------------------------
; CALL: a file stem in the test's folder. The caller records what it hears (r) and what it says (t),
; notes its answer and hang-up instants, then plays its part.
[caller]
; MixMonitor first: a greeting played at the answer must not lose its first words to the clock's shell.
exten => begin,1,MixMonitor(${{CALL}}-mix.wav,r(${{CALL}}-heard.wav)t(${{CALL}}-said.wav))
 same => n,Set(ANSWERED=${{FILTER(0-9.,${{SHELL(date +%s.%N)}})}})
 same => n,System(echo answered ${{ANSWERED}} >> ${{CALL}}.clock)
 same => n,Return()
exten => h,1,System(echo hangup ${{FILTER(0-9.,${{SHELL(date +%s.%N)}})}} >> ${{CALL}}.clock)

; a quiet caller: streams silence for up to 60 s (frames keep flowing, nothing is said)
exten => quiet,1,Gosub(caller,begin,1)
 same => n,Playback(silence/10&silence/10&silence/10&silence/10&silence/10&silence/10)
 same => n,Hangup()
; a caller whose phone sends no media: nothing at all is written towards the bridge
exten => nomedia,1,Gosub(caller,begin,1)
 same => n,Wait(60)
 same => n,Hangup()
; a caller who speaks: SPEECH (file stem) after the silence files in QUIET, then stays quiet
exten => speaks,1,Gosub(caller,begin,1)
 same => n,Playback(${{QUIET}})
 same => n,Playback(${{SPEECH}})
 same => n,Playback(silence/10&silence/10&silence/10&silence/10)
 same => n,Hangup()
; a caller who presses DIGIT after the silence files in QUIET
exten => dtmf,1,Gosub(caller,begin,1)
 same => n,Playback(${{QUIET}})
 same => n,SendDTMF(${{DIGIT}},250)
 same => n,Playback(silence/10&silence/10&silence/10&silence/10)
 same => n,Hangup()
"""


def write_config(root: Path, prefix: Path, ports: Ports) -> Path:
    """Every file this Asterisk reads, under ``root``; returns the asterisk.conf path."""
    etc = root / "etc"
    for sub in ("etc", "lib", "spool", "run", "log", "agi", "agents"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    data = prefix / "var" / "lib" / "asterisk"
    files = {
        "asterisk.conf": f"""\
[directories]
astetcdir => {etc}
astmoddir => {prefix}/lib/asterisk/modules
astvarlibdir => {root}/lib
astdbdir => {root}/lib
astkeydir => {root}/lib
astdatadir => {data}
astagidir => {root}/agi
astspooldir => {root}/spool
astrundir => {root}/run
astlogdir => {root}/log
astsbindir => {prefix}/sbin
[options]
verbose = 3
debug = 0
highpriority = no
transmit_silence = yes
""",
        "modules.conf": "[modules]\nautoload = no\n"
        + "".join(f"load = {m}.so\n" for m in MODULES)
        + "".join(f"noload = {m}.so\n" for m in NEVER),
        "logger.conf": "[general]\n[logfiles]\nmessages.log => notice,warning,error,verbose\n",
        "http.conf": f"[general]\nenabled = yes\nbindaddr = 127.0.0.1\nbindport = {ports.http}\n",
        "ari.conf": f"[general]\nenabled = yes\n[{ARI_USER}]\ntype = user\nread_only = no\npassword = {ARI_PASSWORD}\n",
        "musiconhold.conf": f"[default]\nmode = files\ndirectory = {moh_folder(prefix)}\n",
        "websocket_client.conf": "",
        "acl.conf": "", "udptl.conf": "[general]\n", "ccss.conf": "[general]\n",
        "extensions.conf": dialplan(ports.agi, ports.probe, root / "agents"),
        "indications.conf": "[general]\ncountry = cn\n[cn]\ndescription = China\nringcadence = 1000,4000\n"
        "dial = 450\nbusy = 450/350,0/350\nring = 450/1000,0/4000\ncongestion = 450/700,0/700\n"
        "callwaiting = 450/400,0/4000\ndialrecall = 450\nrecord = 950/400,0/10000\n",
        "cdr.conf": "[general]\nenable = no\n",
        "cel.conf": "[general]\nenable = no\n",
        "features.conf": "[general]\n",
        "stasis.conf": "[threadpool]\n",
        "res_stun_monitor.conf": "[general]\n",
        "rtp.conf": "[general]\nrtpstart = 20000\nrtpend = 20100\n",
    }
    for name, text in files.items():
        (etc / name).write_text(text, encoding="utf-8")
    return etc / "asterisk.conf"


def moh_folder(prefix: Path) -> Path:
    """Music on hold: Asterisk's own install, else Debian's asterisk-moh-opsound-wav."""
    own = prefix / "var" / "lib" / "asterisk" / "moh"
    return own if own.is_dir() and any(own.iterdir()) else Path("/usr/share/asterisk/moh")


class Asterisk:
    """One Asterisk process with its own configuration; ``cli()`` runs a console command in it."""

    def __init__(self, prefix: Path, root: Path, ports: Ports | None = None) -> None:
        self.prefix = prefix
        self.root = root
        self.ports = ports or Ports()
        self.conf = write_config(root, prefix, self.ports)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def binary(self) -> str:
        return str(self.prefix / "sbin" / "asterisk")

    def start(self, timeout: float = 30.0) -> None:
        log = open(self.root / "log" / "console.txt", "ab")
        self.process = subprocess.Popen(
            [self.binary, "-C", str(self.conf), "-f", "-n", "-vvv"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"asterisk exited with {self.process.returncode}: "
                                   f"{(self.root / 'log' / 'console.txt').read_text(errors='replace')[-2000:]}")
            try:
                self.cli("core waitfullybooted", timeout=5)
                with socket.create_connection(("127.0.0.1", self.ports.http), timeout=1):
                    return
            except (OSError, subprocess.SubprocessError):
                pass
            time.sleep(0.2)
        raise RuntimeError("asterisk did not start within 30 s")

    def cli(self, command: str, timeout: float = 10.0) -> str:
        done = subprocess.run(
            [self.binary, "-C", str(self.conf), "-rx", command],
            capture_output=True, timeout=timeout, check=False,
        )
        if done.returncode != 0:
            raise subprocess.SubprocessError(f"asterisk -rx {command!r}: {done.stderr.decode(errors='replace')}")
        return done.stdout.decode(errors="replace")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        try:
            self.cli("core stop now", timeout=5)
        except (OSError, subprocess.SubprocessError):
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def restart(self) -> None:
        self.stop()
        self.start()

    def originate(self, *, bridge: str, entry: str, scenario: str, call: Path, **variables: str) -> str:
        """Place one call into the bridge's context (``callcenter`` or ``callcenter-ari``) at ``entry``; the
        caller runs ``scenario``. Returns the caller channel's id. Over ARI's REST (not the bridge's app):
        ``channel originate`` on the console cannot set variables."""
        values = {"ENTRY": entry, "CALL": str(call), **variables}
        # The __ prefix: inherited by the other half of the Local channel (the bridge's side needs ENTRY).
        body = {"variables": {f"__{k}": str(v) for k, v in values.items()}}
        reply = httpx.post(
            f"http://127.0.0.1:{self.ports.http}/ari/channels",
            params={"endpoint": f"Local/main@{bridge}/n", "context": "caller", "extension": scenario,
                    "priority": "1", "timeout": "60", "formats": CALL_FORMATS},
            json=body, auth=(ARI_USER, ARI_PASSWORD), timeout=10,
        )
        reply.raise_for_status()
        return str(reply.json()["id"])

    def originate_into_app(self, *, app: str, scenario: str, call: Path) -> str:
        """A caller (``scenario``) whose other half enters the ARI application ``app`` directly."""
        reply = httpx.post(
            f"http://127.0.0.1:{self.ports.http}/ari/channels",
            params={"endpoint": f"Local/{scenario}@caller/n", "app": app, "timeout": "30", "formats": CALL_FORMATS},
            json={"variables": {"__CALL": str(call)}}, auth=(ARI_USER, ARI_PASSWORD), timeout=10,
        )
        reply.raise_for_status()
        return str(reply.json()["id"])


def silence_files(seconds: int) -> str:
    """Asterisk's silence/1 … silence/10 joined to last ``seconds`` (a Playback argument)."""
    files = ["silence/10"] * (seconds // 10) + ([f"silence/{seconds % 10}"] if seconds % 10 else [])
    return "&".join(files)


def espeak_wav(text: str, target: Path, voice: str = "cmn") -> Path:
    """A caller's speech: espeak-ng, 8 kHz mono (what Asterisk plays without transcoding)."""
    raw = target.with_suffix(".raw.wav")
    subprocess.run(["espeak-ng", "-v", voice, "-w", str(raw), text], check=True, capture_output=True)
    subprocess.run(["sox", str(raw), "-r", "8000", "-c", "1", "-b", "16", str(target)], check=True,
                   capture_output=True)
    raw.unlink()
    return target


def tools_missing() -> list[str]:
    return [tool for tool in ("espeak-ng", "sox") if shutil.which(tool) is None]
