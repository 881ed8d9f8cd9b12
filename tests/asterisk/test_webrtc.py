"""A browser seat on a real Asterisk: headless Chromium registers over WSS with the panel's JsSIP and talks
(issue 15).

The Asterisk is configured the way an admin does it: agent accounts with ``--seat webrtc``, then
``callcenter asterisk config --write`` (pjsip.conf, http.conf with TLS on 127.0.0.1 and a self-signed
certificate made here, ari.conf) copied beside the suite's own files (tests/asterisk/pbx.py). It runs only
where ``CALLCENTER_TEST_ASTERISK`` names a build with PJSIP (``res_pjsip.so``); elsewhere these tests report
themselves as not run, with the reason. Everything listens on 127.0.0.1, ICE offers loopback candidates only,
and the Asterisk is stopped when the module ends.

The browser's microphone is Chromium's fake capture device fed a 440 Hz tone; the far end (Asterisk's
dialplan on the seat's channel) plays a 1 kHz tone and records what the seat sent. Proven: the far end's
recording holds the 440 Hz tone, and the browser's received audio (WebRTC's own inbound-rtp audio energy)
is well above silence.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import math
import os
import shutil
import struct
import subprocess
import sys
import threading
import time
import wave
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from unittest import mock

import httpx
import pytest

from tests.asterisk.conftest import AGENT_FIRST_PASSWORD, service_config
from tests.asterisk.hearing import MEASURED
from tests.asterisk.pbx import ARI_PASSWORD, ARI_USER, Asterisk, AsteriskUnavailable, find_asterisk, free_port

REPO = Path(__file__).resolve().parents[2]
JSSIP = REPO / "callcenter" / "web" / "static" / "vendor" / "jssip.min.js"
BROWSER_SEAT, DESK_SEAT = "8001", "8002"
LOCAL_SEATS = 'agent_endpoint = "Local/{work_number}@agents/n"'
MIC_HZ, FAR_HZ = 440, 1000
# Below this a line is silent (Asterisk's silence files and an idle line are far below; the tones far above).
SILENCE_DBFS = -50.0

# What a PJSIP seat needs beside the suite's modules (tests/asterisk/pbx.py MODULES).
PJSIP_MODULES = (
    "res_crypto", "res_sorcery_astdb", "res_pjproject", "res_pjsip", "res_pjsip_session",
    "res_pjsip_authenticator_digest", "res_pjsip_endpoint_identifier_user", "res_pjsip_registrar", "res_pjsip_pubsub",
    "res_pjsip_transport_websocket", "res_pjsip_sdp_rtp", "res_pjsip_caller_id", "res_pjsip_dtmf_info",
    "res_pjsip_nat", "res_pjsip_logger", "res_rtp_asterisk", "res_srtp", "res_format_attr_opus", "chan_pjsip",
    "func_pjsip_endpoint",
)
# Modules that talk to the network by themselves, never loaded (PJSIP itself is wanted here).
NEVER = (
    "chan_iax2", "pbx_dundi", "res_hep", "res_hep_rtcp", "res_hep_pjsip", "res_snmp", "res_xmpp",
    "res_phoneprov", "res_pjsip_phoneprov_provider", "res_stun_monitor", "res_statsd", "chan_websocket",
    "res_calendar", "res_stir_shaken", "res_pjsip_stir_shaken", "res_rtp_multicast", "res_geolocation",
    "res_pjsip_geolocation", "res_pjsip_outbound_registration", "res_pjsip_outbound_publish",
)
# ICE on loopback only: no packet to any address outside 127.0.0.0/8. Asterisk: the seat's RTP is bound to
# 127.0.0.1 (pjsip.conf: media_address, bind_rtp_to_media_address). Asterisk 22 never offers a 127/8 address as a
# host candidate by itself (res_rtp_asterisk.c rtp_add_candidates_to_ice skips 127.0.0.0/8 before it looks at
# [ice_host_candidates], and a srflx candidate needs a host one first), so the one way to make it offer 127.0.0.1
# is to advertise the host's interface address as 127.0.0.1 without including it (include_local_address is not
# set): that address is named in this file only, no packet is sent to it. Every other address is denied.
# Chromium: see LOOPBACK_FLAGS and LOOPBACK_ONLY below.
RTP_CONF = """\
[general]
rtpstart = 20200
rtpend = 20400
icesupport = yes
ice_deny = 0.0.0.0/0.0.0.0
ice_deny = ::/0
ice_permit = 127.0.0.0/255.0.0.0
[ice_host_candidates]
{host} => 127.0.0.1
"""


def host_address() -> str:
    """The first address of an interface that is up and not loopback: what Chromium gathers its candidate on."""
    shown = subprocess.run(["ip", "-o", "-4", "addr", "show", "up", "scope", "global"], capture_output=True,
                           text=True, check=False).stdout.split()
    found = [word.split("/")[0] for before, word in itertools.pairwise(shown) if before == "inet"]
    if not found:
        pytest.skip("WebRTC tests not run: no network interface but loopback (Chromium gathers no ICE candidate)")
    return found[0]


FAR_DIALPLAN = """
; ---- the far end of a call to a seat (tests/asterisk/test_webrtc*.py) -------------------------------------
; Runs on the seat's own channel once the seat answers: records what the seat sends (r) and what it is sent
; (t), plays TONE to the seat, then hangs up.
[webrtc-far]
exten => talk,1,MixMonitor(${FAR}-mix.wav,r(${FAR}-from-seat.wav)t(${FAR}-to-seat.wav))
 same => n,Playback(${TONE})
 same => n,Hangup()
"""

# The test page: the panel's JsSIP bundle and a seat that answers what rings, with its measures on window.sp.
PAGE = """<!doctype html><meta charset="utf-8"><title>seat</title>
<audio id="far" autoplay></audio>
<script src="/jssip.min.js"></script>
<script>
const CFG = %(config)s;
const sp = window.sp = {state: "starting", registeredMs: null, failures: [], calls: 0};
const started = performance.now();
const ua = new JsSIP.UA({sockets: [new JsSIP.WebSocketInterface(CFG.ws_url)], uri: CFG.sip_uri,
  authorization_user: CFG.username, password: CFG.password, display_name: CFG.display_name,
  register: true, session_timers: false});
ua.on("registered", () => { if (sp.registeredMs === null) sp.registeredMs = performance.now() - started;
  if (sp.state === "starting") sp.state = "registered"; });
ua.on("registrationFailed", (e) => { sp.failures.push("registration: " + e.cause); });
ua.on("newRTCSession", ({session, originator}) => {
  if (originator !== "remote") return;
  window.session = session; sp.calls += 1; sp.state = "ringing";
  session.on("confirmed", () => { sp.state = "in call"; });
  session.on("ended", (e) => { sp.state = "ended: " + e.cause; });
  session.on("failed", (e) => { sp.state = "failed: " + e.cause; });
  // JsSIP makes the peer connection of an incoming call when it is answered.
  session.on("peerconnection", ({peerconnection: pc}) => {
    pc.addEventListener("iceconnectionstatechange", () => { sp.ice = pc.iceConnectionState; });
    pc.addEventListener("track", (ev) => {
      const far = document.getElementById("far"); far.srcObject = ev.streams[0]; far.play().catch(() => {}); });
  });
  // No STUN or TURN server: the seat and Asterisk are on one host (loopback), nothing is asked outside.
  session.answer({mediaConstraints: {audio: true, video: false}, pcConfig: {iceServers: []}});
});
ua.start();
window.levels = async () => {
  const pc = window.session && window.session.connection;
  const out = {};
  if (!pc) return out;
  const stats = await pc.getStats();
  const codecs = {};
  const byId = {};
  stats.forEach((r) => { byId[r.id] = r; if (r.type === "codec") codecs[r.id] = r.mimeType; });
  stats.forEach((r) => {
    const pair = r.type === "transport" && byId[r.selectedCandidatePairId];
    if (!pair) return;
    const end = (id) => { const c = byId[id] || {}; return (c.address || c.ip || "") + ":" + (c.port || ""); };
    out.pair = {local: end(pair.localCandidateId), remote: end(pair.remoteCandidateId),
      remoteType: (byId[pair.remoteCandidateId] || {}).candidateType || ""};
  });
  stats.forEach((r) => {
    if (r.kind !== "audio") return;
    if (r.type === "inbound-rtp") out.received = {energy: r.totalAudioEnergy || 0,
      seconds: r.totalSamplesDuration || 0, packets: r.packetsReceived, codec: codecs[r.codecId] || ""};
    if (r.type === "media-source") out.microphone = {energy: r.totalAudioEnergy || 0,
      seconds: r.totalSamplesDuration || 0};
    if (r.type === "outbound-rtp") out.sent = {packets: r.packetsSent, codec: codecs[r.codecId] || ""};
  });
  return out;
};
</script>
"""


def needs_pjsip() -> Path:
    """The Asterisk prefix when it has PJSIP; otherwise the test is not run, with the reason."""
    try:
        prefix = find_asterisk()
    except AsteriskUnavailable as exc:
        pytest.skip(f"real-Asterisk WebRTC tests not run: {exc}")
    if not (prefix / "lib" / "asterisk" / "modules" / "res_pjsip.so").is_file():
        pytest.skip(f"real-Asterisk WebRTC tests not run: {prefix} has no res_pjsip.so (a build without PJSIP; "
                    "these tests need one with PJSIP and the bundled pjproject)")
    if not JSSIP.is_file():
        reason = f"the panel's JsSIP bundle {JSSIP.relative_to(REPO)} is missing (./run copies it from npm)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    for tool in ("openssl", "sox"):
        if shutil.which(tool) is None:
            pytest.fail(f"the WebRTC tests need {tool} (apt-get install {tool})")
    return prefix


def tone(path: Path, hz: int, seconds: float, rate: int) -> Path:
    subprocess.run(["sox", "-n", "-r", str(rate), "-c", "1", "-b", "16", str(path), "synth", str(seconds), "sine",
                    str(hz), "vol", "0.5"], check=True, capture_output=True)
    return path


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A lab certificate for 127.0.0.1, the README's openssl command."""
    cert, key = folder / "asterisk-cert.pem", folder / "asterisk-key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    return cert, key


def callcenter(config: Path, *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "callcenter", *args], cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, "CALLCENTER_CONFIG": str(config)}, check=False)
    assert done.returncode == 0, f"callcenter {' '.join(args)}: {done.stderr}"
    return done.stdout


@dataclass
class WebrtcPbx:
    pbx: Asterisk
    config: Path  # the service's settings (the generated files come from them)
    web_port: int
    etc: Path  # what `callcenter asterisk config --write` wrote
    page: str  # the test page's address (served on 127.0.0.1)
    pages: Path  # its folder
    folder: Path  # recordings of the far ends
    mic: Path  # the fake microphone's tone

    def credentials(self, seat: str) -> dict[str, str]:
        """The seat's registration, as the panel's /api/agent/softphone gives it."""
        from callcenter.calls.softphone_seats import softphone_credentials
        from callcenter.config import load_settings
        from callcenter.web.users import list_users

        settings = load_settings(self.config, environ={})
        account = next(u for u in list_users(settings.database.url, "agent") if u.work_number == seat)
        return softphone_credentials(settings, account).as_json()

    def originate(self, seat: str, far: Path, tone_file: Path, formats: str = "") -> str:
        """Ring the seat; once it answers its channel runs [webrtc-far] (records it, plays the tone)."""
        params = {"endpoint": f"PJSIP/{seat}", "context": "webrtc-far", "extension": "talk", "priority": "1",
                  "timeout": "30"}
        if formats:
            params["formats"] = formats
        reply = httpx.post(f"http://127.0.0.1:{self.pbx.ports.http}/ari/channels", params=params,
                           json={"variables": {"FAR": str(far), "TONE": str(tone_file.with_suffix(""))}},
                           auth=(ARI_USER, ARI_PASSWORD), timeout=10)
        reply.raise_for_status()
        return str(reply.json()["id"])


def write_webrtc_config(pbx: Asterisk, generated: Path) -> None:
    """The suite's files (pbx.py), with the generated pjsip/http/ari files, PJSIP's modules and the far end."""
    etc = pbx.conf.parent
    for name in ("pjsip.conf", "http.conf", "ari.conf"):
        shutil.copyfile(generated / name, etc / name)
    from tests.asterisk.pbx import MODULES

    (etc / "modules.conf").write_text(
        "[modules]\nautoload = no\n" + "".join(f"load = {m}.so\n" for m in (*MODULES, *PJSIP_MODULES))
        + "".join(f"noload = {m}.so\n" for m in NEVER), encoding="utf-8")
    (etc / "rtp.conf").write_text(RTP_CONF.format(host=host_address()), encoding="utf-8")
    with (etc / "extensions.conf").open("a", encoding="utf-8") as fh:
        fh.write(FAR_DIALPLAN)


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class LoopbackAsterisk(Asterisk):
    """res_pjsip's pjlib looks up the host's own name for IPv6 when it loads (pj_gethostip; only a compile-time
    switch, PJ_GETHOSTIP_DISABLE_LOCAL_RESOLUTION, turns that off): with no IPv6 line for it in /etc/hosts that is
    a DNS query to the host's name server, outside 127.0.0.0/8 (measured: "AAAA? vm.", and with glibc's no-aaaa
    option alone "A? vm."). With attempts:0 its resolver sends nothing: a name not in /etc/hosts has no address
    (the suite's Asterisk dials addresses on 127.0.0.1 only)."""

    def start(self, timeout: float = 30.0) -> None:
        with mock.patch.dict(os.environ, {"RES_OPTIONS": "no-aaaa attempts:0"}):
            super().start(timeout)


@pytest.fixture(scope="module")
def webrtc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebrtcPbx]:
    prefix = needs_pjsip()
    root = tmp_path_factory.mktemp("webrtc")
    cert, key = self_signed(root)
    pbx = LoopbackAsterisk(prefix, root / "asterisk")
    tls_port, sip_port = free_port(), free_port()
    web_port = free_port()
    config = root / "callcenter.toml"  # where tests/asterisk/conftest.py's start_service looks for it
    # The suite's service settings (conftest.py), with the seats dialled as PJSIP endpoints, and [pbx].
    service = service_config(pbx, root, web_port)
    assert LOCAL_SEATS in service
    config.write_text(service.replace(LOCAL_SEATS, 'agent_endpoint = "PJSIP/{work_number}"') + f"""
[pbx]
bind_address = "127.0.0.1"
tls_port = {tls_port}
sip_port = {sip_port}
tls_cert_file = "{cert}"
tls_key_file = "{key}"
secrets_file = "{root / 'var' / 'seat-secrets.json'}"
""", encoding="utf-8")
    for seat, kind in ((BROWSER_SEAT, "webrtc"), (DESK_SEAT, "desk")):
        callcenter(config, "users", "add", seat, "--role", "agent", "--work-number", seat, "--seat", kind,
                   "--display-name", f"坐席{seat}", "--password", AGENT_FIRST_PASSWORD)
    generated = root / "generated"
    callcenter(config, "asterisk", "config", "--write", str(generated))
    write_webrtc_config(pbx, generated)
    pages = root / "pages"
    pages.mkdir()
    shutil.copyfile(JSSIP, pages / "jssip.min.js")
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(pages)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    folder = root / "far"
    folder.mkdir()
    running = WebrtcPbx(pbx, config, web_port, generated, f"http://127.0.0.1:{server.server_address[1]}", pages, folder,
                        tone(root / "mic.wav", MIC_HZ, 60, 48000))
    pbx.start()
    if os.environ.get("CALLCENTER_TEST_SIP_LOG"):
        pbx.cli("pjsip set logger on")
    try:
        yield running
    finally:
        pbx.stop()
        server.shutdown()
        server.server_close()


# Chromium gathers no loopback candidate unless told to, hides host addresses behind mDNS names (a multicast
# query) unless told not to, and looks up its update, account and search hosts even with background networking
# off (measured: DNS queries for accounts.google.com, clients2.google.com, update.googleapis.com,
# start.duckduckgo.com): every name fails here without a query; the pages are addressed as 127.0.0.1.
LOOPBACK_FLAGS = ("--allow-loopback-in-peer-connection", "--disable-features=WebRtcHideLocalIpsWithMdns",
                  "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1")
# Test harness only (never in the panel's code), run in every page before its scripts:
# - the local description shows only the 127/8 candidates, so the SDP JsSIP sends Asterisk names nothing else and
#   Asterisk checks 127.0.0.1 only;
# - the remote description's candidates (Asterisk's 127.0.0.1) are left out: Chromium pairs a remote candidate
#   from the SDP with every socket it gathered, the one on the host's outside address too (measured: checks and
#   DTLS from 192.0.2.2 to 127.0.0.1, answered back to 192.0.2.2), whereas it pairs the peer-reflexive candidate
#   that Asterisk's own check (Asterisk offers, so it controls ICE) reveals only with the socket it arrived on.
LOOPBACK_ONLY = r"""
(() => {
  const loopback = (line) => !line.startsWith("a=candidate:") || /^a=candidate:\S+ \d+ \S+ \d+ 127\./i.test(line);
  const proto = RTCPeerConnection.prototype;
  const setRemote = proto.setRemoteDescription;
  proto.setRemoteDescription = function (d, ...rest) {
    if (d && d.sdp) {
      d = {type: d.type, sdp: d.sdp.split("\r\n").filter((l) => !l.startsWith("a=candidate:")).join("\r\n")};
    }
    return setRemote.call(this, d, ...rest);
  };
  for (const name of ["localDescription", "currentLocalDescription", "pendingLocalDescription"]) {
    const real = Object.getOwnPropertyDescriptor(proto, name);
    if (!real || !real.get) continue;
    Object.defineProperty(proto, name, {configurable: true, enumerable: real.enumerable, get() {
      const d = real.get.call(this);
      if (!d || !d.sdp) return d;
      return new RTCSessionDescription({type: d.type, sdp: d.sdp.split("\r\n").filter(loopback).join("\r\n")});
    }});
  }
})();
"""


def browser_flags(mic: Path) -> tuple[str, ...]:
    return ("--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream", "--ignore-certificate-errors",
            f"--use-file-for-fake-audio-capture={mic}", *LOOPBACK_FLAGS)


@contextlib.contextmanager
def seat_browser(mic: Path) -> Iterator[Any]:
    """Headless Chromium as a seat: the fake microphone, and WebRTC on 127.0.0.0/8 only (LOOPBACK_ONLY runs
    before any page script)."""
    from tests.chromium import chromium

    with chromium(flags=browser_flags(mic)) as driver:
        loopback_only(driver)
        yield driver


def loopback_only(driver: Any) -> None:
    """LOOPBACK_ONLY in the current tab's next pages. Per tab: a tab opened later needs its own call (measured:
    a second tab without it paired its outside-address socket with Asterisk's 127.0.0.1, 11 packets)."""
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": LOOPBACK_ONLY})


def seat_page(webrtc: WebrtcPbx, seat: str, **override: str) -> str:
    import json

    name = f"seat-{seat}{'-' + '-'.join(override) if override else ''}.html"
    config = {**webrtc.credentials(seat), **override}
    (webrtc.pages / name).write_text(PAGE % {"config": json.dumps(config)}, encoding="utf-8")
    return f"{webrtc.page}/{name}"


def wait_for(what: str, check: Callable[[], Any], timeout: float, seen: Callable[[], Any] = lambda: "") -> Any:
    """Poll ``check`` until it returns something truthy, failing with ``what`` (and what ``seen`` shows) after
    ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} within {timeout} s: {seen()}")
        time.sleep(0.1)


def dbfs(energy: float, seconds: float) -> float:
    """WebRTC's totalAudioEnergy (sum of squared levels times duration) as a mean level in dBFS."""
    return 10 * math.log10(energy / seconds) if energy > 0 and seconds > 0 else -math.inf


def tone_seconds(path: Path, hz: int, frame_ms: int = 50) -> tuple[float, float]:
    """How long a recording holds the ``hz`` tone (frames whose power is mostly that tone and louder than
    silence), and its loudest frame's level in dBFS (Goertzel, no dependency)."""
    with wave.open(str(path)) as w:
        rate, width, frames = w.getframerate(), w.getsampwidth(), w.readframes(w.getnframes())
    assert width == 2, f"{path}: expected 16-bit samples"
    samples = struct.unpack(f"<{len(frames) // 2}h", frames)
    size = rate * frame_ms // 1000
    coeff = 2 * math.cos(2 * math.pi * hz / rate)
    held, loudest = 0, -math.inf
    for start in range(0, len(samples) - size + 1, size):
        block = samples[start:start + size]
        power = sum(s * s for s in block) / size
        if power <= 0:
            continue
        level = 10 * math.log10(power / 32768**2)
        loudest = max(loudest, level)
        s1 = s2 = 0.0
        for s in block:
            s1, s2 = s + coeff * s1 - s2, s1
        tone_power = (s1 * s1 + s2 * s2 - coeff * s1 * s2) * 2 / (size * size)
        if level > SILENCE_DBFS and tone_power / power > 0.5:
            held += 1
    return held * frame_ms / 1000, loudest


def test_the_generated_configuration_loads(webrtc: WebrtcPbx) -> None:
    """Asterisk takes the files as written: both seats, their AORs, and the WSS transport on 127.0.0.1."""
    endpoints = webrtc.pbx.cli("pjsip show endpoints")
    assert f"Endpoint:  {BROWSER_SEAT}" in endpoints and f"Endpoint:  {DESK_SEAT}" in endpoints, endpoints
    transports = webrtc.pbx.cli("pjsip show transports")
    assert "transport-wss" in transports and "transport-udp" in transports, transports
    http = webrtc.pbx.cli("http show status")
    assert "HTTPS Server Enabled and Bound to 127.0.0.1" in http, http
    assert "/ws" in http


def test_a_browser_seat_registers_and_talks_both_ways(webrtc: WebrtcPbx) -> None:
    with seat_browser(webrtc.mic) as driver:
        driver.get(seat_page(webrtc, BROWSER_SEAT))
        registered_ms = wait_for("the seat registered", lambda: driver.execute_script(
            "return window.sp.failures.length ? 'failed: ' + window.sp.failures : window.sp.registeredMs"), 20)
        assert not str(registered_ms).startswith("failed"), registered_ms
        contacts = webrtc.pbx.cli(f"pjsip show aor {BROWSER_SEAT}")
        assert "Contact:" in contacts and "transport=ws" in contacts.lower(), contacts
        far_tone = tone(webrtc.folder / "far-tone.wav", FAR_HZ, 6, 8000)
        far = webrtc.folder / "call-1"
        rang = time.monotonic()
        webrtc.originate(BROWSER_SEAT, far, far_tone)
        page_state = functools.partial(driver.execute_script, "return JSON.stringify(window.sp)")
        wait_for("the seat answered", lambda: driver.execute_script("return window.sp.state") == "in call", 20,
                 page_state)
        answered = time.monotonic() - rang
        levels: dict[str, Any] = {}

        def ended() -> bool:
            nonlocal levels
            state = driver.execute_script("return window.sp.state")
            if state == "in call":
                levels = driver.execute_async_script("window.levels().then(arguments[arguments.length - 1])")
            return str(state).startswith(("ended", "failed"))

        wait_for("the far end hung up after its tone", ended, 30)
        state = driver.execute_script("return window.sp.state")
        page = page_state()
    assert state.startswith("ended"), state
    received = levels.get("received", {})
    heard_dbfs = dbfs(received.get("energy", 0), received.get("seconds", 0))
    microphone = levels.get("microphone", {})
    mic_dbfs = dbfs(microphone.get("energy", 0), microphone.get("seconds", 0))
    sent_seconds, sent_loudest = tone_seconds(Path(f"{far}-from-seat.wav"), MIC_HZ)
    pair = levels.get("pair", {})
    MEASURED.append(
        f"WebRTC seat {BROWSER_SEAT}: registered in {registered_ms:.0f} ms, answered {answered:.2f} s after the "
        f"originate; media {pair.get('local')} <-> {pair.get('remote')} ({pair.get('remoteType')}); "
        f"codec {received.get('codec')}; browser received {heard_dbfs:.1f} dBFS mean "
        f"({received.get('packets')} packets); microphone {mic_dbfs:.1f} dBFS; far end recorded the "
        f"{MIC_HZ} Hz tone for {sent_seconds:.2f} s, loudest frame {sent_loudest:.1f} dBFS")
    # The selected ICE pair is on the browser's 127.0.0.1 socket (which cannot send outside 127.0.0.0/8). Its far
    # end is the peer-reflexive candidate Asterisk's check revealed (LOOPBACK_ONLY), whose address Chromium's
    # statistics do not show (only its port).
    assert str(pair.get("local", "")).startswith("127."), f"the browser's media socket is not on loopback: {pair}"
    remote = str(pair.get("remote", ""))
    assert remote.startswith("127.") or (pair.get("remoteType") == "prflx" and remote.startswith(":")), pair
    assert received.get("packets", 0) > 100, f"{levels} {page}"
    assert heard_dbfs > SILENCE_DBFS, f"the browser heard silence: {levels}"
    assert sent_seconds >= 2.0, f"the far end's recording holds {sent_seconds:.2f} s of the {MIC_HZ} Hz tone"


def contacts(webrtc: WebrtcPbx, seat: str) -> list[str]:
    """The seat's registered contacts, as Asterisk lists them."""
    return [line.split()[1] for line in webrtc.pbx.cli(f"pjsip show aor {seat}").splitlines()
            if line.strip().startswith("Contact:") and "<Aor/ContactUri" not in line]


def test_a_second_tab_takes_the_seat_over(webrtc: WebrtcPbx) -> None:
    """The AOR keeps one contact and a new registration replaces it (max_contacts = 1, remove_existing = yes):
    the seat's calls ring the tab that registered last, and only that one."""
    seen = "return JSON.stringify(window.sp)"
    with seat_browser(webrtc.mic) as driver:
        page = seat_page(webrtc, BROWSER_SEAT)
        driver.get(page)
        first = driver.current_window_handle
        wait_for("the first tab registered", lambda: driver.execute_script("return window.sp.registeredMs"), 20,
                 functools.partial(driver.execute_script, seen))
        wait_for("Asterisk holds the first tab's contact", lambda: len(contacts(webrtc, BROWSER_SEAT)) == 1, 10)
        before = contacts(webrtc, BROWSER_SEAT)
        driver.switch_to.new_window("tab")
        loopback_only(driver)
        driver.get(page)
        second = driver.current_window_handle
        wait_for("the second tab registered", lambda: driver.execute_script("return window.sp.registeredMs"), 20,
                 functools.partial(driver.execute_script, seen))
        wait_for("the second tab's contact replaced the first", lambda: (
            (now := contacts(webrtc, BROWSER_SEAT)) and len(now) == 1 and now != before), 10,
            lambda: contacts(webrtc, BROWSER_SEAT))
        far_tone = tone(webrtc.folder / "far-tone-2.wav", FAR_HZ, 3, 8000)
        webrtc.originate(BROWSER_SEAT, webrtc.folder / "call-takeover", far_tone)
        wait_for("the second tab answered", lambda: driver.execute_script("return window.sp.calls") == 1, 20,
                 functools.partial(driver.execute_script, seen))
        wait_for("the call ended", lambda: str(driver.execute_script("return window.sp.state")).startswith(
            ("ended", "failed")), 20, functools.partial(driver.execute_script, seen))
        driver.switch_to.window(first)
        assert driver.execute_script("return window.sp.calls") == 0, "the replaced tab rang too"
        driver.switch_to.window(second)
    MEASURED.append(f"WebRTC seat {BROWSER_SEAT}: a second tab replaced the first one's contact; only it rang")


def test_a_wrong_seat_password_is_refused(webrtc: WebrtcPbx) -> None:
    """The generated auth is enforced: a browser with another password does not register."""
    with seat_browser(webrtc.mic) as driver:
        driver.get(seat_page(webrtc, BROWSER_SEAT, password="not-the-secret"))
        failures = wait_for("the registration was refused", lambda: driver.execute_script(
            "return window.sp.failures"), 20, functools.partial(driver.execute_script, "return JSON.stringify(sp)"))
        assert driver.execute_script("return window.sp.registeredMs") is None
    assert failures == ["registration: Authentication Error"], failures
