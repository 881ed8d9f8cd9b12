// The JsSIP adapter (callcenter/web/static/softphone/jssip_ua.js) against a stand-in with JsSIP's shape: the
// user agent is configured from the seat's credentials, and JsSIP's events become the machine's.
import { test } from "node:test";
import assert from "node:assert/strict";
import { EventEmitter } from "node:events";

import { jssipFactory } from "../../callcenter/web/static/softphone/jssip_ua.js";

const CREDENTIALS = { seat: "webrtc", ws_url: "wss://127.0.0.1:8089/ws", sip_uri: "sip:8001@127.0.0.1",
                      username: "8001", password: "pw", display_name: "张三" };

function fakeJsSIP() {
  const made = [];
  class UA extends EventEmitter {
    constructor(config) { super(); this.config = config; this.calls = []; made.push(this); }
    start() { this.calls.push("start"); }
    stop() { this.calls.push("stop"); }
    register() { this.calls.push("register"); }
    unregister(options) { this.calls.push(["unregister", options]); }
  }
  class WebSocketInterface { constructor(url) { this.url = url; } }
  const disabled = [];
  return { made, disabled, JsSIP: { UA, WebSocketInterface, debug: { disable: (ns) => disabled.push(ns) } } };
}

class Session extends EventEmitter {
  constructor(caller) {
    super();
    this.remote_identity = { display_name: "", uri: { user: caller } };
    this.calls = [];
  }
  answer(options) { this.calls.push(["answer", options]); }
  terminate(options) { this.calls.push(["terminate", options]); }
  mute(options) { this.calls.push(["mute", options]); }
  unmute(options) { this.calls.push(["unmute", options]); }
}

function request(headers) {
  return { hasHeader: (name) => name in headers, getHeader: (name) => headers[name] };
}

test("the user agent registers over the seat's websocket and keeps JsSIP's own socket recovery", () => {
  const { made, disabled, JsSIP } = fakeJsSIP();
  const ua = jssipFactory(JsSIP)(CREDENTIALS, () => {});
  assert.deepEqual(disabled, ["JsSIP:*"]);
  const config = made[0].config;
  assert.equal(config.sockets[0].url, "wss://127.0.0.1:8089/ws");
  assert.equal(config.uri, "sip:8001@127.0.0.1");
  assert.equal(config.authorization_user, "8001");
  assert.equal(config.password, "pw");
  assert.equal(config.register, true);
  assert.equal(config.connection_recovery_max_interval, 30);
  ua.start();
  ua.register();
  ua.unregister();
  ua.stop();
  assert.deepEqual(made[0].calls, ["start", "register", ["unregister", { all: false }], "stop"]);
});

test("JsSIP's registration and transport events become the machine's", () => {
  const { made, JsSIP } = fakeJsSIP();
  const events = [];
  jssipFactory(JsSIP)(CREDENTIALS, (e) => events.push(e));
  const ua = made[0];
  ua.emit("connected", {});
  ua.emit("registered", {});
  ua.emit("registrationFailed", { response: { status_code: 403 }, cause: "Rejected" });
  ua.emit("registrationFailed", { cause: "Connection Error" });
  ua.emit("unregistered", { cause: "Expires" });
  ua.emit("disconnected", { error: true });
  ua.emit("disconnected", {});
  assert.deepEqual(events, [
    { type: "connected" },
    { type: "registered" },
    { type: "registration_failed", status: 403, cause: "Rejected" },
    { type: "registration_failed", status: 0, cause: "Connection Error" },
    { type: "unregistered", cause: "Expires" },
    { type: "disconnected", cause: "连接失败" },
    { type: "disconnected", cause: "连接断开" },
  ]);
});

test("an incoming call: its id from the INVITE, answer with the chosen microphone, mute, end", () => {
  const { made, JsSIP } = fakeJsSIP();
  const events = [];
  const ua = jssipFactory(JsSIP)(CREDENTIALS, (e) => events.push(e));
  const session = new Session("13800005678");
  made[0].emit("newRTCSession", { originator: "local", session: new Session("x"), request: request({}) });
  assert.equal(events.length, 0, "a call this phone made is not an incoming one");
  made[0].emit("newRTCSession", { originator: "remote", session, request: request({ "X-Callcenter-Call-Id": "c-9" }) });
  assert.deepEqual(events.pop(), { type: "incoming", id: "s1", caller: "13800005678", callId: "c-9" });
  ua.answer("s1", { audio: { deviceId: { exact: "mic-2" } } });
  assert.deepEqual(session.calls[0], ["answer", { mediaConstraints: { audio: { deviceId: { exact: "mic-2" } }, video: false },
                                                  pcConfig: { iceServers: [] } }]);
  session.emit("confirmed", {});
  assert.deepEqual(events.pop(), { type: "confirmed", id: "s1" });
  ua.mute("s1", true);
  ua.mute("s1", false);
  assert.deepEqual(session.calls.slice(1), [["mute", { audio: true }], ["unmute", { audio: true }]]);
  session.emit("ended", { originator: "remote", cause: "BYE" });
  assert.deepEqual(events.pop(), { type: "ended", id: "s1", originator: "remote", cause: "BYE" });
  ua.terminate("s1"); // gone: nothing to do
  assert.equal(session.calls.length, 3);
});

test("a call that fails (the caller gave up, or the microphone was refused) and a busy reject", () => {
  const { made, JsSIP } = fakeJsSIP();
  const events = [];
  const ua = jssipFactory(JsSIP)(CREDENTIALS, (e) => events.push(e));
  const first = new Session("1");
  made[0].emit("newRTCSession", { originator: "remote", session: first, request: request({}) });
  first.emit("failed", { originator: "local", cause: "User Denied Media Access" });
  assert.deepEqual(events.pop(), { type: "failed", id: "s1", originator: "local", cause: "User Denied Media Access" });
  const second = new Session("2");
  made[0].emit("newRTCSession", { originator: "remote", session: second, request: request({}) });
  assert.equal(events.pop().callId, "");
  ua.reject("s2", 486);
  assert.deepEqual(second.calls, [["terminate", { status_code: 486 }]]);
});
