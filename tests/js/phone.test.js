// The softphone's driver (callcenter/web/static/softphone/phone.js) against a fake user agent, a fake
// control API and hand-driven timers: the machine's commands reach the right party, and the answers come
// back as events.
import { test } from "node:test";
import assert from "node:assert/strict";

import { Phone } from "../../callcenter/web/static/softphone/phone.js";

const CREDENTIALS = { seat: "webrtc", ws_url: "wss://127.0.0.1:8089/ws", sip_uri: "sip:8001@127.0.0.1",
                      username: "8001", password: "pw", display_name: "张三" };

class FakeUa {
  constructor(credentials, emit) { this.credentials = credentials; this.emit = emit; this.calls = []; }
  start() { this.calls.push("start"); }
  stop() { this.calls.push("stop"); }
  register() { this.calls.push("register"); }
  unregister() { this.calls.push("unregister"); }
  answer(id, constraints) { this.calls.push(["answer", id, constraints]); }
  reject(id, status) { this.calls.push(["reject", id, status]); }
  terminate(id) { this.calls.push(["terminate", id]); }
  mute(id, on) { this.calls.push(["mute", id, on]); }
  streams(id) { return { local: "local-" + id, remote: "remote-" + id }; }
}

class Timers {
  constructor() { this.due = new Map(); this.next = 0; }
  set(fn, ms) { this.next += 1; this.due.set(this.next, { fn, ms }); return this.next; }
  clear(handle) { this.due.delete(handle); }
  fire() { const [h, t] = [...this.due.entries()][0]; this.due.delete(h); t.fn(); return t.ms; }
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

function rig(options = {}) {
  const uas = [];
  const posts = [];
  const media = { started: [], alerts: [], stopped: 0,
    checkMic: options.checkMic || (() => Promise.resolve()),
    constraints: () => ({ audio: { deviceId: { exact: "mic-2" } } }),
    start(streams) { this.started.push(streams); },
    stop() { this.stopped += 1; },
    alert(on) { this.alerts.push(on); } };
  let claims = 0;
  const timers = new Timers();
  const snapshots = [];
  const phone = new Phone({
    ringLimit: 3,
    uaFactory: (c, emit) => { const ua = new FakeUa(c, emit); uas.push(ua); return ua; },
    post: options.post || ((action, body) => { posts.push([action, body]); return Promise.resolve({ ok: true, state: {} }); }),
    media, claim: () => { claims += 1; }, timers, onChange: (s) => snapshots.push(s.state),
  });
  return { phone, uas, posts, media, timers, snapshots, claims: () => claims };
}

test("register, ring, answer with the chosen microphone, hold through the API, hang up", async () => {
  const r = rig();
  r.phone.emit({ type: "start", credentials: CREDENTIALS });
  await tick();
  assert.equal(r.claims(), 1);
  assert.equal(r.uas.length, 1);
  assert.deepEqual(r.uas[0].calls, ["start"]);
  assert.equal(r.uas[0].credentials.sip_uri, "sip:8001@127.0.0.1");
  r.uas[0].emit({ type: "registered" });
  r.uas[0].emit({ type: "incoming", id: "s1", caller: "13800005678", callId: "c-1" });
  assert.deepEqual(r.media.alerts, [true]);
  r.phone.emit({ type: "answer" });
  assert.deepEqual(r.uas[0].calls[1], ["answer", "s1", { audio: { deviceId: { exact: "mic-2" } } }]);
  r.uas[0].emit({ type: "confirmed", id: "s1" });
  assert.deepEqual(r.media.started, [{ local: "local-s1", remote: "remote-s1" }]);
  r.phone.emit({ type: "press", action: "hold" });
  await tick();
  assert.deepEqual(r.posts, [["hold", { call_id: "c-1" }]]);
  assert.equal(r.phone.state, "on_hold");
  r.phone.emit({ type: "press", action: "hangup" });
  await tick();
  assert.equal(r.phone.state, "ending");
  assert.equal(r.timers.due.size, 1);
  r.uas[0].emit({ type: "ended", id: "s1", originator: "remote", cause: "BYE" });
  assert.equal(r.timers.due.size, 0, "the ending timer is cancelled when the line drops");
  assert.equal(r.phone.state, "registered");
  assert.deepEqual(r.snapshots.slice(0, 4), ["checking_mic", "registering", "registered", "ringing"]);
});

test("a refused control action comes back as the server's one line", async () => {
  const refuse = () => Promise.reject(Object.assign(new Error("不能挂机:话术未结束"), { status: 409 }));
  const r = rig({ post: refuse });
  r.phone.emit({ type: "start", credentials: CREDENTIALS });
  await tick();
  r.uas[0].emit({ type: "registered" });
  r.uas[0].emit({ type: "incoming", id: "s1", caller: "1", callId: "c-1" });
  r.phone.emit({ type: "answer" });
  r.uas[0].emit({ type: "confirmed", id: "s1" });
  r.phone.emit({ type: "press", action: "hangup" });
  await tick();
  assert.equal(r.phone.state, "in_call");
  assert.equal(r.phone.snapshot().message.text, "不能挂机:不能挂机:话术未结束");
});

test("microphone refused: no user agent is made", async () => {
  const denied = () => Promise.reject(Object.assign(new Error("Permission denied"), { name: "NotAllowedError" }));
  const r = rig({ checkMic: denied });
  r.phone.emit({ type: "start", credentials: CREDENTIALS });
  await tick();
  assert.equal(r.phone.state, "failed");
  assert.equal(r.uas.length, 0);
  assert.match(r.phone.snapshot().message.text, /NotAllowedError/);
});

test("a network drop restarts the user agent after the backoff, and the old one's events are ignored", async () => {
  const r = rig();
  r.phone.emit({ type: "start", credentials: CREDENTIALS });
  await tick();
  const first = r.uas[0];
  first.emit({ type: "registered" });
  first.emit({ type: "disconnected", cause: "连接断开" });
  assert.equal(r.phone.state, "reregistering");
  assert.equal(r.timers.fire(), 1000);
  assert.equal(r.uas.length, 2);
  assert.deepEqual(first.calls, ["start", "stop"]);
  first.emit({ type: "registered" }); // late, from the stopped one
  assert.equal(r.phone.state, "reregistering");
  r.uas[1].emit({ type: "disconnected", cause: "连接失败" });
  assert.equal(r.timers.fire(), 2000);
  r.uas[2].emit({ type: "registered" });
  assert.equal(r.phone.state, "registered");
});

test("a hang-up the session refuses (release.refused) keeps the SIP leg: no terminate, the timer cancelled", async () => {
  const r = rig({ post: (action, body) => Promise.resolve({ ok: true, state: { release: "requested" } }) });
  r.phone.emit({ type: "start", credentials: CREDENTIALS });
  await tick();
  r.uas[0].emit({ type: "registered" });
  r.uas[0].emit({ type: "incoming", id: "s1", caller: "1", callId: "c-1" });
  r.phone.emit({ type: "answer" });
  r.uas[0].emit({ type: "confirmed", id: "s1" });
  r.phone.emit({ type: "press", action: "hangup" });
  await tick();
  assert.equal(r.phone.state, "ending");
  assert.equal(r.timers.due.size, 1);
  r.phone.emit({ type: "release_refused", reason: "R-23: silent_call must not be hung up directly" });
  assert.equal(r.phone.state, "in_call");
  assert.equal(r.timers.due.size, 0, "the ending timer is cancelled by the refusal");
  assert.equal(r.phone.snapshot().message.text, "不能挂机:R-23: silent_call must not be hung up directly");
  // Asked again and nothing comes back: the timeout returns to the call instead of hanging up.
  r.phone.emit({ type: "press", action: "hangup" });
  await tick();
  assert.equal(r.phone.state, "ending");
  assert.equal(r.timers.fire(), 8000);
  assert.equal(r.phone.state, "in_call");
  assert.ok(!r.uas[0].calls.some((c) => Array.isArray(c) && c[0] === "terminate"), JSON.stringify(r.uas[0].calls));
  r.uas[0].emit({ type: "ended", id: "s1", originator: "remote", cause: "BYE" });
  assert.equal(r.phone.state, "registered");
});
