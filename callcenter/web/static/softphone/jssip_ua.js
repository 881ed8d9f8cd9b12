// The browser SIP stack behind the softphone: JsSIP (pinned in package.json, copied by ./run into
// /static/vendor/jssip.min.js, loaded by the page as window.JsSIP). This adapter is the only code that knows
// JsSIP: it turns JsSIP's events into the machine's (machine.js) and the driver's calls into JsSIP's.
//
// Why JsSIP and not SIP.js: JsSIP 3.12.0 ships one prebuilt browser file (dist/jssip.min.js) that the set-up
// copies as it is, so the project needs no bundler; SIP.js 0.21 ships only ES module sources. JsSIP's
// UA / RTCSession events (registered, registrationFailed, newRTCSession, confirmed, ended, failed) are also
// one-to-one with the machine's events.

// The call's id on the centre's timeline, when the ARI application puts it on the INVITE.
const CALL_ID_HEADERS = ["X-Callcenter-Call-Id", "X-CC-Call-Id"];

export function jssipFactory(JsSIP) {
  if (JsSIP && JsSIP.debug) JsSIP.debug.disable("JsSIP:*");
  return function createUa(credentials, emit) {
    return new JssipUa(JsSIP, credentials, emit);
  };
}

class JssipUa {
  constructor(JsSIP, credentials, emit) {
    this.sessions = new Map();
    this.emit = emit;
    this.next = 0;
    const socket = new JsSIP.WebSocketInterface(credentials.ws_url);
    this.ua = new JsSIP.UA({
      sockets: [socket],
      uri: credentials.sip_uri,
      authorization_user: credentials.username,
      password: credentials.password,
      display_name: credentials.display_name || undefined,
      register: true,
      register_expires: 120,
      session_timers: false,
      user_agent: "callcenter-panel",
      // JsSIP reconnects the websocket by itself, keeping a call's dialog; the machine's own backoff restarts
      // the whole user agent when no call is up.
      connection_recovery_min_interval: 2,
      connection_recovery_max_interval: 30,
    });
    const ua = this.ua;
    ua.on("connected", () => emit({ type: "connected" }));
    ua.on("disconnected", (e) => emit({ type: "disconnected", cause: e && e.error ? "连接失败" : "连接断开" }));
    ua.on("registered", () => emit({ type: "registered" }));
    ua.on("unregistered", (e) => emit({ type: "unregistered", cause: (e && e.cause) || "" }));
    ua.on("registrationFailed", (e) => emit({
      type: "registration_failed",
      status: e && e.response ? e.response.status_code : 0,
      cause: (e && e.cause) || "",
    }));
    ua.on("newRTCSession", (e) => {
      if (e.originator !== "remote") return;
      this.incoming(e.session, e.request);
    });
  }

  incoming(session, request) {
    this.next += 1;
    const id = "s" + this.next;
    this.sessions.set(id, session);
    const emit = this.emit;
    let callId = "";
    for (const name of CALL_ID_HEADERS) {
      if (request && request.hasHeader && request.hasHeader(name)) { callId = request.getHeader(name); break; }
    }
    session.on("confirmed", () => emit({ type: "confirmed", id: id }));
    session.on("ended", (e) => { this.sessions.delete(id); emit({ type: "ended", id: id, originator: e.originator, cause: e.cause }); });
    session.on("failed", (e) => { this.sessions.delete(id); emit({ type: "failed", id: id, originator: e.originator, cause: e.cause }); });
    const who = session.remote_identity;
    const caller = who ? (who.display_name || (who.uri && who.uri.user) || "") : "";
    emit({ type: "incoming", id: id, caller: caller, callId: callId });
  }

  start() { this.ua.start(); }

  stop() {
    try { this.ua.stop(); } catch (e) { /* a user agent that never connected has nothing to stop */ }
  }

  register() { this.ua.register(); }

  unregister() { this.ua.unregister({ all: false }); }

  answer(id, constraints) {
    const session = this.sessions.get(id);
    if (!session) return;
    session.answer({ mediaConstraints: { audio: constraints.audio || true, video: false },
                     pcConfig: { iceServers: [] } });
  }

  reject(id, status) {
    const session = this.sessions.get(id);
    if (session) session.terminate({ status_code: status || 486 });
  }

  terminate(id) {
    const session = this.sessions.get(id);
    if (session) session.terminate();
  }

  mute(id, on) {
    const session = this.sessions.get(id);
    if (!session) return;
    if (on) session.mute({ audio: true }); else session.unmute({ audio: true });
  }

  // The call's two directions as MediaStreams, for the speaker and the level meters.
  streams(id) {
    const session = this.sessions.get(id);
    const pc = session && session.connection;
    if (!pc) return { local: null, remote: null };
    const local = new MediaStream(pc.getSenders().map((s) => s.track).filter(Boolean));
    const remote = new MediaStream(pc.getReceivers().map((r) => r.track).filter(Boolean));
    return { local: local, remote: remote, connection: pc };
  }
}
