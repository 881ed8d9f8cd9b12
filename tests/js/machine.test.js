// The softphone's call state machine (callcenter/web/static/softphone/machine.js): states, transitions and
// every failure of issue 15, as plain function calls (no browser, no SIP, no clock).
import { test, describe } from "node:test";
import assert from "node:assert/strict";

import { Machine, STATES, BACKOFF_MS, ACTION_STATES, ENDING_TIMEOUT_MS } from "../../callcenter/web/static/softphone/machine.js";

const CREDENTIALS = { seat: "webrtc", ws_url: "wss://127.0.0.1:8089/ws", sip_uri: "sip:8001@127.0.0.1",
                      username: "8001", password: "s3cret", display_name: "张三" };

function types(commands) { return commands.map((c) => c.type); }

function registered() {
  const m = new Machine({ ringLimit: 3 });
  m.handle({ type: "start", credentials: CREDENTIALS });
  m.handle({ type: "mic_ok" });
  m.handle({ type: "registered" });
  assert.equal(m.state, "registered");
  return m;
}

function inCall(callId = "c-1") {
  const m = registered();
  m.handle({ type: "incoming", id: "s1", caller: "13800005678", callId: callId });
  m.handle({ type: "answer" });
  m.handle({ type: "confirmed", id: "s1" });
  assert.equal(m.state, "in_call");
  return m;
}

// Press a control button and have the server answer it.
function act(m, action, args = {}, answer = { ok: true }) {
  const out = m.handle({ type: "press", action, args });
  const post = out.find((c) => c.type === "post");
  assert.ok(post, `${action} posted: ${JSON.stringify(out)} (${JSON.stringify(m.message)})`);
  if (answer.ok) return m.handle({ type: "control_ok", action, body: post.body, state: answer.state || {} });
  return m.handle({ type: "control_failed", action, status: answer.status, error: answer.error });
}

describe("registration", () => {
  test("a webrtc seat checks the microphone, claims the seat, then registers", () => {
    const m = new Machine();
    assert.equal(m.state, "unregistered");
    assert.deepEqual(types(m.handle({ type: "start", credentials: CREDENTIALS })), ["check_mic"]);
    assert.equal(m.state, "checking_mic");
    const out = m.handle({ type: "mic_ok" });
    assert.deepEqual(types(out), ["claim", "register"]);
    assert.equal(out[1].credentials.username, "8001");
    assert.equal(m.state, "registering");
    assert.deepEqual(m.handle({ type: "registered" }), []);
    assert.equal(m.state, "registered");
    assert.equal(m.snapshot().message, null);
  });

  test("a desk seat registers nothing from the browser", () => {
    const m = new Machine();
    assert.deepEqual(m.handle({ type: "start", credentials: { seat: "desk" } }), []);
    assert.equal(m.state, "unregistered");
    assert.deepEqual(m.handle({ type: "reclaim" }), []);
  });

  test("credentials without a server or account fail plainly", () => {
    const m = new Machine();
    assert.deepEqual(m.handle({ type: "start", credentials: { seat: "webrtc", ws_url: "", username: "" } }), []);
    assert.equal(m.state, "failed");
    assert.equal(m.message.reason, "no_credentials");
  });

  test("microphone refused before registering: no registration, so the neighbour seat gets the calls", () => {
    const m = new Machine();
    m.handle({ type: "start", credentials: CREDENTIALS });
    assert.deepEqual(m.handle({ type: "mic_refused", detail: "NotAllowedError" }), []);
    assert.equal(m.state, "failed");
    assert.equal(m.message.reason, "mic_refused");
    assert.match(m.message.text, /麦克风/);
    assert.match(m.message.text, /NotAllowedError/);
    // A late mic_ok (another prompt answered) changes nothing until a person presses 重新连接.
    assert.deepEqual(m.handle({ type: "mic_ok" }), []);
    assert.deepEqual(types(m.handle({ type: "reclaim" })), ["stop_ua", "check_mic"]);
    assert.deepEqual(types(m.handle({ type: "mic_ok" })), ["claim", "register"]);
  });

  test("a refused password stops the user agent and does not retry", () => {
    const m = new Machine();
    m.handle({ type: "start", credentials: CREDENTIALS });
    m.handle({ type: "mic_ok" });
    const out = m.handle({ type: "registration_failed", status: 403, cause: "Rejected" });
    assert.deepEqual(types(out), ["stop_ua"]);
    assert.equal(m.state, "failed");
    assert.equal(m.message.reason, "auth");
    assert.match(m.message.text, /注册失败/);
    assert.deepEqual(m.handle({ type: "disconnected" }), [], "a closed socket after the refusal retries nothing");
  });

  test("a failed registration retries by itself with a doubling backoff capped at 30 s", () => {
    const m = new Machine();
    m.handle({ type: "start", credentials: CREDENTIALS });
    m.handle({ type: "mic_ok" });
    const waits = [];
    let out = m.handle({ type: "registration_failed", status: 503, cause: "SIP Failure Code" });
    for (let i = 0; i < 8; i++) {
      assert.equal(m.state, "reregistering");
      const timer = out.find((c) => c.type === "start_timer");
      waits.push(timer.ms);
      assert.equal(timer.name, "reregister");
      assert.deepEqual(types(m.handle({ type: "timer", name: "reregister" })), ["restart_ua"]);
      out = m.handle({ type: "disconnected", cause: "连接失败" });
    }
    assert.deepEqual(waits, [1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
    assert.deepEqual(BACKOFF_MS.slice(0, 2), [1000, 2000]);
    assert.match(m.message.text, /自动重新注册/);
    assert.equal(m.attempt, 9);
    m.handle({ type: "timer", name: "reregister" });
    m.handle({ type: "registered" });
    assert.equal(m.state, "registered");
    assert.equal(m.attempt, 0);
    assert.equal(m.message.reason, "reregistered");
  });

  test("network drop: one retry timer however many disconnects arrive, cancelled when registered again", () => {
    const m = registered();
    const first = m.handle({ type: "disconnected", cause: "连接断开" });
    assert.deepEqual(types(first), ["start_timer"]);
    assert.deepEqual(m.handle({ type: "disconnected" }), []);
    assert.deepEqual(m.handle({ type: "unregistered" }), []);
    assert.equal(m.state, "reregistering");
    assert.equal(m.snapshot().message.reason, "reregistering");
    // JsSIP's own socket recovery got there before the timer.
    assert.deepEqual(m.handle({ type: "registered" }), [{ type: "cancel_timer", name: "reregister" }]);
    assert.equal(m.state, "registered");
    assert.deepEqual(m.handle({ type: "timer", name: "reregister" }), [], "a stale timer does nothing");
  });

  test("an unREGISTER nobody asked for (expired, removed) re-registers", () => {
    const m = registered();
    assert.deepEqual(types(m.handle({ type: "unregistered", cause: "Expires" })), ["start_timer"]);
    assert.equal(m.state, "reregistering");
  });

  test("Asterisk restart mid-call: the call stays on the screen, the re-register reuses its user agent", () => {
    const m = inCall();
    m.handle({ type: "disconnected", cause: "连接断开" });
    assert.equal(m.state, "in_call", "the call is shown until its own end arrives");
    assert.equal(m.snapshot().registration, "reregistering");
    assert.deepEqual(m.handle({ type: "timer", name: "reregister" }).map((c) => c.type), ["register"]);
    const out = m.handle({ type: "ended", id: "s1", originator: "system", cause: "Connection Error" });
    assert.ok(types(out).includes("stop_media"));
    assert.equal(m.state, "reregistering");
    assert.equal(m.message.reason, "dropped");
    assert.equal(m.lastCall.by, "系统");
    m.handle({ type: "registration_failed", status: 0, cause: "Connection Error" });
    assert.deepEqual(types(m.handle({ type: "timer", name: "reregister" })), ["restart_ua"]);
    m.handle({ type: "registered" });
    assert.equal(m.state, "registered");
  });
});

describe("second tab", () => {
  test("an idle tab that loses the seat stops its user agent and says so", () => {
    const m = registered();
    assert.deepEqual(types(m.handle({ type: "taken_over", by: "tab" })), ["stop_ua"]);
    assert.equal(m.state, "taken_over");
    assert.equal(m.message.reason, "taken_over");
    assert.match(m.message.text, /另一个标签页/);
    assert.deepEqual(m.handle({ type: "taken_over", by: "tab" }), [], "told twice, acts once");
    // A registered event from the stopped user agent cannot bring it back.
    m.handle({ type: "registered" });
    assert.equal(m.state, "taken_over");
    assert.deepEqual(types(m.handle({ type: "incoming", id: "s9", caller: "1" })), ["reject"]);
  });

  test("a tab in a call keeps the call, unregisters, and stops when the call ends", () => {
    const m = inCall();
    assert.deepEqual(types(m.handle({ type: "taken_over", by: "elsewhere" })), ["unregister"]);
    assert.equal(m.state, "in_call");
    assert.equal(m.snapshot().registration, "taken_over");
    assert.match(m.message.text, /另一个浏览器/);
    const out = m.handle({ type: "ended", id: "s1", originator: "remote", cause: "BYE" });
    assert.ok(types(out).includes("stop_ua"));
    assert.equal(m.state, "taken_over");
    assert.deepEqual(types(m.handle({ type: "reclaim" })), ["stop_ua", "check_mic"]);
  });

  test("a lost seat while retrying cancels the retry", () => {
    const m = registered();
    m.handle({ type: "disconnected" });
    assert.deepEqual(types(m.handle({ type: "taken_over", by: "tab" })), ["cancel_timer", "stop_ua"]);
  });
});

describe("ringing and answering", () => {
  test("rings with the live ring count (R-01) and marks a ring past the limit", () => {
    const m = registered();
    m.handle({ type: "ring", callId: "c-1", ring: 1 }); // the timeline may be ahead of the INVITE
    assert.deepEqual(types(m.handle({ type: "incoming", id: "s1", caller: "13800005678" })), ["alert"]);
    assert.equal(m.state, "ringing");
    assert.equal(m.call.ring, 1);
    m.handle({ type: "panel_call", call: { call_id: "c-1", phase: "ringing", ring: 1 } });
    assert.equal(m.call.callId, "c-1");
    m.handle({ type: "ring", callId: "c-1", ring: 2 });
    assert.equal(m.snapshot().call.ring, 2);
    m.handle({ type: "ring", callId: "other", ring: 3 });
    assert.equal(m.snapshot().call.ring, 2, "another call's ring is not this one's");
    m.handle({ type: "ring", callId: "c-1", ring: 4 });
    assert.equal(m.snapshot().call.late, true);
    assert.equal(m.snapshot().canAnswer, true);
  });

  test("answer: one press, the media comes up, the call is in progress", () => {
    const m = registered();
    m.handle({ type: "incoming", id: "s1", caller: "13800005678", callId: "c-1" });
    assert.deepEqual(m.handle({ type: "answer" }), [{ type: "alert", on: false }, { type: "answer", id: "s1" }]);
    assert.equal(m.state, "answering");
    assert.deepEqual(m.handle({ type: "answer" }), [], "a second press (key repeat) does nothing");
    assert.deepEqual(types(m.handle({ type: "confirmed", id: "s1" })), ["alert", "start_media"]);
    assert.equal(m.state, "in_call");
    assert.equal(m.snapshot().warnOnLeave, true);
    assert.deepEqual(m.snapshot().allowed, ["hold", "mute", "dtmf", "hangup", "transfer", "consult"]);
  });

  test("an answer key with nothing ringing does nothing", () => {
    const m = registered();
    assert.deepEqual(m.handle({ type: "answer" }), []);
    assert.equal(m.state, "registered");
  });

  test("microphone refused on answer: the call fails, the seat unregisters and says why", () => {
    const m = registered();
    m.handle({ type: "incoming", id: "s1", caller: "1", callId: "c-1" });
    m.handle({ type: "answer" });
    const out = m.handle({ type: "failed", id: "s1", originator: "local", cause: "User Denied Media Access" });
    assert.ok(types(out).includes("stop_ua"));
    assert.equal(m.state, "failed");
    assert.equal(m.message.reason, "mic_refused");
    assert.match(m.message.text, /麦克风/);
  });

  test("the caller hangs up while it rings: back to registered, with a line saying so", () => {
    const m = registered();
    m.handle({ type: "incoming", id: "s1", caller: "1", callId: "c-1" });
    const out = m.handle({ type: "failed", id: "s1", originator: "remote", cause: "Canceled" });
    assert.deepEqual(types(out), ["cancel_timer", "alert", "stop_media"]);
    assert.equal(m.state, "registered");
    assert.equal(m.message.reason, "canceled");
  });

  test("a second INVITE while a call is up is refused busy", () => {
    const m = inCall();
    assert.deepEqual(m.handle({ type: "incoming", id: "s2", caller: "2" }), [{ type: "reject", id: "s2", status: 486 }]);
    assert.equal(m.call.id, "s1");
  });
});

describe("call control", () => {
  test("hold and resume go through the server and change the state on its answer (R-38, R-39)", () => {
    const m = inCall();
    const out = m.handle({ type: "press", action: "hold" });
    assert.deepEqual(out, [{ type: "post", action: "hold", body: { call_id: "c-1" } }]);
    assert.equal(m.state, "in_call", "nothing changes before the server says so");
    assert.deepEqual(m.snapshot().allowed, [], "no second action while one is on its way");
    m.handle({ type: "control_ok", action: "hold", state: {} });
    assert.equal(m.state, "on_hold");
    assert.match(m.message.text, /R-38/);
    assert.deepEqual(m.snapshot().allowed, ["resume", "mute", "hangup", "transfer", "consult"]);
    act(m, "resume");
    assert.equal(m.state, "in_call");
  });

  test("an action pressed in the wrong state is not sent", () => {
    const m = inCall();
    assert.deepEqual(m.handle({ type: "press", action: "resume" }), []);
    assert.equal(m.message.reason, "not_now");
    assert.deepEqual(m.handle({ type: "press", action: "launch" }), []);
  });

  test("a second press while the first is on its way is refused", () => {
    const m = inCall();
    m.handle({ type: "press", action: "hold" });
    assert.deepEqual(m.handle({ type: "press", action: "mute" }), []);
    assert.equal(m.message.reason, "busy");
    m.handle({ type: "control_ok", action: "mute" }); // an answer to something not asked changes nothing
    assert.equal(m.call.muted, false);
  });

  test("mute and unmute, with the local track muted too", () => {
    const m = inCall();
    assert.deepEqual(act(m, "mute"), [{ type: "local_mute", on: true }]);
    assert.equal(m.call.muted, true);
    assert.ok(m.snapshot().allowed.includes("unmute") && !m.snapshot().allowed.includes("mute"));
    assert.deepEqual(act(m, "unmute"), [{ type: "local_mute", on: false }]);
  });

  test("DTMF digits go in the body", () => {
    const m = inCall();
    const out = m.handle({ type: "press", action: "dtmf", args: { digits: "12#" } });
    assert.deepEqual(out[0].body, { call_id: "c-1", digits: "12#" });
    m.handle({ type: "control_ok", action: "dtmf", body: out[0].body });
    assert.match(m.message.text, /12#/);
  });

  test("a refused hang-up (R-48) keeps the call and shows the server's reason", () => {
    const m = inCall();
    act(m, "hangup", {}, { ok: false, status: 409, error: "话术未结束,不能挂机" });
    assert.equal(m.state, "in_call");
    assert.equal(m.message.text, "不能挂机:话术未结束,不能挂机");
    assert.deepEqual(m.snapshot().allowed.includes("hangup"), true);
  });

  test("hang-up: ending until the session's BYE drops the line", () => {
    const m = inCall();
    const out = act(m, "hangup");
    assert.deepEqual(out, [{ type: "start_timer", name: "ending", ms: ENDING_TIMEOUT_MS }]);
    assert.equal(m.state, "ending");
    assert.deepEqual(m.snapshot().allowed, []);
    const end = m.handle({ type: "ended", id: "s1", originator: "remote", cause: "BYE" });
    assert.ok(end.some((c) => c.type === "cancel_timer" && c.name === "ending"));
    assert.equal(m.state, "registered");
    assert.equal(m.lastCall.by, "对方");
  });

  test("hang-up refused by the session (release.refused, R-23): back in the call, the leg never ended here", () => {
    const m = inCall();
    act(m, "hangup");
    assert.equal(m.state, "ending");
    const out = m.handle({ type: "release_refused", reason: "R-23: silent_call must not be hung up directly" });
    assert.deepEqual(out, [{ type: "cancel_timer", name: "ending" }]);
    assert.equal(m.state, "in_call");
    assert.equal(m.message.text, "不能挂机:R-23: silent_call must not be hung up directly");
    assert.equal(m.message.reason, "release_refused");
    assert.ok(m.snapshot().allowed.includes("hangup"));
    // A stale ending timer (already due when cancelled) ends nothing.
    assert.deepEqual(m.handle({ type: "timer", name: "ending" }), []);
    assert.equal(m.state, "in_call");
    // The caller hangs up: the call ends by the BYE.
    m.handle({ type: "ended", id: "s1", originator: "remote", cause: "BYE" });
    assert.equal(m.state, "registered");
    assert.equal(m.lastCall.by, "对方");
  });

  test("release.refused before the API's answer: the late 200 does not put the call in ending", () => {
    const m = inCall();
    const out = m.handle({ type: "press", action: "hangup", args: {} });
    const post = out.find((c) => c.type === "post");
    assert.deepEqual(m.handle({ type: "release_refused", reason: "R-48: the caller hangs up first" }), []);
    assert.equal(m.state, "in_call");
    assert.equal(m.message.text, "不能挂机:R-48: the caller hangs up first");
    assert.deepEqual(m.handle({ type: "control_ok", action: "hangup", body: post.body, state: { release: "requested" } }), []);
    assert.equal(m.state, "in_call");
    assert.ok(m.snapshot().allowed.includes("hangup"));
  });

  test("a hang-up refused while on hold goes back to hold", () => {
    const m = inCall();
    act(m, "hold");
    act(m, "hangup");
    m.handle({ type: "release_refused", reason: "R-48" });
    assert.equal(m.state, "on_hold");
  });

  test("no answer to a hang-up within the timeout: back in the call with a message, never terminate", () => {
    const m = inCall();
    act(m, "hangup");
    const out = m.handle({ type: "timer", name: "ending" });
    assert.ok(!out.some((c) => c.type === "terminate"), JSON.stringify(out));
    assert.equal(m.state, "in_call");
    assert.equal(m.message.reason, "release_timeout");
    assert.match(m.message.text, /8 秒内没有结果,通话仍在继续/);
    // The refusal arriving late still tells the agent why.
    m.handle({ type: "release_refused", reason: "R-23: late" });
    assert.equal(m.state, "in_call");
    assert.equal(m.message.text, "不能挂机:R-23: late");
  });

  test("a refusal nobody on this panel asked for changes nothing", () => {
    const m = inCall();
    assert.deepEqual(m.handle({ type: "release_refused", reason: "R-48" }), []);
    assert.equal(m.message, null);
    act(m, "transfer", { kind: "agent", target: "8002" }, { ok: true, state: { result: "answered" } });
    assert.deepEqual(m.handle({ type: "release_refused", reason: "R-48" }), []);
    assert.equal(m.state, "ending");
  });

  test("a completed transfer whose BYE never comes is ended here (the caller is with the target)", () => {
    const m = inCall();
    act(m, "transfer", { kind: "agent", target: "8002" }, { ok: true, state: { result: "answered" } });
    assert.deepEqual(m.handle({ type: "timer", name: "ending" }), [{ type: "terminate", id: "s1" }]);
  });

  test("an action without the call's id is not sent", () => {
    const m = registered();
    m.handle({ type: "incoming", id: "s1", caller: "1" });
    m.handle({ type: "answer" });
    m.handle({ type: "confirmed" });
    assert.deepEqual(m.handle({ type: "press", action: "hold" }), []);
    assert.equal(m.message.reason, "no_call_id");
    m.handle({ type: "panel_call", call: { call_id: "c-7", phase: "talking" } });
    assert.equal(m.handle({ type: "press", action: "hold" })[0].body.call_id, "c-7");
  });

  test("the server's word on hold wins (a hold the session started shows as hold)", () => {
    const m = inCall();
    m.handle({ type: "panel_call", call: { call_id: "c-1", phase: "hold" } });
    assert.equal(m.state, "on_hold");
    m.handle({ type: "panel_call", call: { call_id: "c-1", phase: "talking" } });
    assert.equal(m.state, "in_call");
    m.handle({ type: "panel_call", call: { call_id: "other", phase: "hold" } });
    assert.equal(m.state, "in_call");
  });

  test("every action has the states it may be pressed in", () => {
    for (const states of Object.values(ACTION_STATES)) {
      for (const s of states) assert.ok(STATES.includes(s), s);
    }
  });
});

describe("transfers", () => {
  test("consult: the second leg shows while it rings, answers, and the agent returns to the caller", () => {
    const m = inCall();
    const out = m.handle({ type: "press", action: "consult", args: { kind: "agent", target: "8002" } });
    assert.deepEqual(out[0].body, { call_id: "c-1", kind: "agent", target: "8002" });
    // The server answers once the target answered: meanwhile the second leg shows as ringing.
    assert.equal(m.state, "consulting");
    assert.deepEqual(m.snapshot().call.consult, { kind: "agent", target: "8002", status: "dialing" });
    assert.deepEqual(m.snapshot().allowed, []);
    m.handle({ type: "consult_answered" }); // the timeline may tell first
    assert.equal(m.snapshot().call.consult.status, "talking");
    m.handle({ type: "control_ok", action: "consult", state: { result: "answered", leg: "chan-2" } });
    assert.equal(m.snapshot().call.consult.status, "talking");
    assert.deepEqual(m.snapshot().allowed, ["mute", "dtmf", "consult_complete", "consult_return", "conference"]);
    act(m, "consult_return");
    assert.equal(m.state, "in_call");
    assert.equal(m.snapshot().call.consult, null);
  });

  test("a consult the server refuses at once goes back to the call", () => {
    const m = inCall();
    act(m, "consult", { kind: "agent", target: "8009" }, { ok: false, status: 409, error: "agent 8009 is not free" });
    assert.equal(m.state, "in_call");
    assert.equal(m.call.consult, null);
    assert.equal(m.message.text, "咨询转接失败:agent 8009 is not free");
  });

  test("consult, then a three-way conference, then hang up", () => {
    const m = inCall();
    act(m, "consult", { kind: "group", target: "billing" });
    act(m, "conference");
    assert.equal(m.state, "conference");
    act(m, "hangup");
    assert.equal(m.state, "ending");
  });

  test("consult completed: the agent's leg ends", () => {
    const m = inCall();
    act(m, "consult", { kind: "number", target: "02112345678" });
    act(m, "consult_complete");
    assert.equal(m.state, "ending");
    assert.match(m.message.text, /已转接给号码 02112345678/);
  });

  test("a blind transfer to a busy number returns the caller to the agent (the API's answer says so)", () => {
    const m = inCall();
    m.handle({ type: "press", action: "transfer", args: { kind: "number", target: "02100000000" } });
    assert.equal(m.state, "in_call");
    assert.match(m.message.text, /正在呼叫号码 02100000000/);
    m.handle({ type: "control_ok", action: "transfer", state: { result: "busy", detail: "17" } });
    assert.equal(m.state, "in_call");
    assert.equal(m.message.text, "转接号码 02100000000失败(对方忙),客户已回到您的通话");
    assert.deepEqual(m.snapshot().allowed, ["hold", "mute", "dtmf", "hangup", "transfer", "consult"]);
  });

  test("the timeline's transfer.failed before the API's answer: back to the caller, the late answer ignored", () => {
    const m = inCall();
    m.handle({ type: "press", action: "transfer", args: { kind: "group", target: "billing" } });
    m.handle({ type: "transfer_failed", reason: "no_agent" });
    assert.equal(m.state, "in_call");
    assert.equal(m.message.text, "转接技能组 billing失败(没有空闲坐席),客户已回到您的通话");
    assert.deepEqual(m.handle({ type: "control_ok", action: "transfer", state: { result: "no_agent" } }), []);
    assert.equal(m.state, "in_call");
  });

  test("a blind transfer the target answered ends this leg", () => {
    const m = inCall();
    act(m, "transfer", { kind: "agent", target: "8002" }, { ok: true, state: { result: "answered" } });
    assert.equal(m.state, "ending");
    assert.match(m.message.text, /已转接给坐席 8002/);
  });

  test("a transfer that fails after the server let the leg go still returns the caller", () => {
    const m = inCall();
    act(m, "transfer", { kind: "number", target: "02100000000" });
    assert.equal(m.state, "ending");
    const out = m.handle({ type: "transfer_failed", reason: "号码不存在" });
    assert.deepEqual(out, [{ type: "cancel_timer", name: "ending" }]);
    assert.equal(m.state, "in_call");
    assert.equal(m.message.reason, "transfer_failed");
    assert.equal(m.message.text, "转接号码 02100000000失败(号码不存在),客户已回到您的通话");
    assert.ok(m.snapshot().allowed.includes("hangup"));
  });

  test("a consult whose second leg fails returns to the caller", () => {
    const m = inCall();
    act(m, "consult", { kind: "agent", target: "8009" }, { ok: true, state: { result: "no_answer" } });
    assert.equal(m.message.text, "转接坐席 8009失败(无人接听),客户已回到您的通话");
    assert.equal(m.state, "in_call");
    assert.equal(m.call.consult, null);
  });

  test("a transfer the server refuses stays in the call and names the reason", () => {
    const m = inCall();
    act(m, "transfer", { kind: "group", target: "nobody" }, { ok: false, status: 400, error: "target: no group" });
    assert.equal(m.state, "in_call");
    assert.equal(m.message.text, "转接失败:target: no group");
    assert.deepEqual(m.handle({ type: "press", action: "transfer", args: { kind: "agent", target: "" } }), []);
    assert.equal(m.message.reason, "no_target");
  });

  test("the server ends the second leg or the conference: back with the caller", () => {
    const m = inCall();
    act(m, "consult", { kind: "agent", target: "8002" });
    m.handle({ type: "consult_returned" });
    assert.equal(m.state, "in_call");
    assert.equal(m.call.consult, null);
    act(m, "consult", { kind: "agent", target: "8002" });
    act(m, "conference");
    assert.deepEqual(m.handle({ type: "consult_returned" }), []);
    assert.equal(m.state, "conference");
    m.handle({ type: "conference_ended" });
    assert.equal(m.state, "in_call");
    assert.equal(m.message.reason, "conference_ended");
  });

  test("a transfer failure after the line ended changes nothing", () => {
    const m = inCall();
    act(m, "hangup");
    assert.deepEqual(m.handle({ type: "transfer_failed" }), []);
    assert.equal(m.state, "ending");
  });
});

describe("the tab", () => {
  test("closed mid-call: the user agent stops at once (Asterisk learns, the ARI application takes the caller)", () => {
    const m = inCall();
    assert.equal(m.snapshot().warnOnLeave, true);
    assert.deepEqual(types(m.handle({ type: "page_closing" })), ["stop_ua"]);
    assert.equal(m.state, "unregistered");
  });

  test("closed while re-registering: the retry timer goes too", () => {
    const m = registered();
    m.handle({ type: "disconnected" });
    assert.deepEqual(types(m.handle({ type: "page_closing" })), ["cancel_timer", "stop_ua"]);
  });

  test("an unknown event changes nothing", () => {
    const m = registered();
    assert.deepEqual(m.handle({ type: "nonsense" }), []);
    assert.deepEqual(m.handle(null), []);
    assert.equal(m.state, "registered");
  });
});
