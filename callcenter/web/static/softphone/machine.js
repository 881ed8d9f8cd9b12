// The softphone's call state machine (issue 15), sans-I/O like the script session (scripting/session.py):
// it takes events — from the browser SIP stack, from the panel's buttons, from the call-control API's answers
// (POST /api/agent/call/{action}) and from the call timeline — and returns commands for its driver
// (softphone/phone.js) to carry out. No DOM, no JsSIP, no clock: a wait is a start_timer command whose end
// comes back as a timer event, so every failure of issue 15 is a test of plain function calls
// (tests/js/machine.test.js).
//
// Two things are tracked apart and shown as one state: the registration (is this tab the seat's phone?) and
// the call (is a call ringing or up on it?). A network drop changes the first while a call may go on.

// What the panel shows, one of these (`snapshot().state`).
export const STATES = Object.freeze([
  "unregistered",   // not started, or stopped
  "checking_mic",   // asking the browser for the microphone before registering
  "registering",    // REGISTER sent
  "registered",     // idle: calls may be offered to this seat
  "reregistering",  // lost the registration (network drop, Asterisk restart); retrying with backoff
  "taken_over",     // another tab (or browser) of this agent registered the seat
  "failed",         // needs a person: microphone refused, password refused, no credentials
  "ringing",        // a call is offered; the live ring count shows
  "answering",      // answer pressed, waiting for the media to come up
  "in_call",
  "on_hold",        // the caller hears the standard phrase then music
  "consulting",     // the second leg of a consult transfer is up or being dialled; the caller waits on hold
  "conference",     // three-way
  "ending",         // hang-up (or a completed transfer) asked for; waiting for the line to drop
]);

// Seconds between registration attempts after a failure: doubling, then every 30 s until it works.
export const BACKOFF_MS = Object.freeze([1000, 2000, 4000, 8000, 16000, 30000]);
// How long "ending" waits for the line to drop. After a completed transfer the caller is with the target, so
// the leg is ended here. After a hang-up request the session may still refuse it: the leg is
// never ended here (that would be a lost softphone: the caller back in the queue), the panel goes back to
// the call and says so.
export const ENDING_TIMEOUT_MS = 8000;

// SIP statuses after which retrying cannot help: the seat's account or password is wrong.
const AUTH_STATUSES = new Set([401, 403, 404, 407]);
// The browser SIP stack's causes (JsSIP.C.causes) that mean the microphone was refused or missing.
const MIC_CAUSES = new Set(["User Denied Media Access", "mic_refused", "NotAllowedError", "NotFoundError"]);

// What each call action may be pressed in. The server checks again (409); this keeps buttons honest.
export const ACTION_STATES = Object.freeze({
  hold: ["in_call"],
  resume: ["on_hold"],
  mute: ["in_call", "on_hold", "consulting", "conference"],
  unmute: ["in_call", "on_hold", "consulting", "conference"],
  dtmf: ["in_call", "consulting", "conference"],
  hangup: ["in_call", "on_hold", "conference"],
  transfer: ["in_call", "on_hold"],
  consult: ["in_call", "on_hold"],
  consult_complete: ["consulting"],
  consult_return: ["consulting"],
  conference: ["consulting"],
});

export const ACTION_LABELS = Object.freeze({
  hold: "保持", resume: "恢复通话", mute: "静音", unmute: "取消静音", dtmf: "拨号键", hangup: "挂断",
  transfer: "转接", consult: "咨询转接", consult_complete: "完成转接", consult_return: "返回客户",
  conference: "三方通话",
});

const TARGET_KINDS = { agent: "坐席", group: "技能组", number: "号码" };
// Why a transfer's target did not take the caller (the control API's state.result, transfer.failed's reason).
export const TRANSFER_RESULTS = Object.freeze({
  busy: "对方忙", no_answer: "无人接听", congestion: "线路拥塞", invalid: "号码无法接通", no_agent: "没有空闲坐席",
  caller_gone: "客户已挂机", failed: "呼叫失败", unavailable: "无法接通",
});

const CALL_PHASES = new Set(["ringing", "answering", "in_call", "on_hold", "consulting", "conference", "ending"]);

function backoff(attempt) {
  return BACKOFF_MS[Math.min(Math.max(attempt, 1), BACKOFF_MS.length) - 1];
}

function targetText(leg) {
  if (!leg) return "";
  return (TARGET_KINDS[leg.kind] || leg.kind || "") + " " + (leg.target || "");
}

export class Machine {
  constructor(options = {}) {
    this.ringLimit = options.ringLimit || 3;
    this.reg = "unregistered";
    this.credentials = null;
    this.attempt = 0;          // consecutive registration failures
    this.retryPending = false; // a reregister timer is running
    this.lastCause = "";
    this.call = null;
    this.message = null;       // {level: "info"|"warn"|"error", text, reason}
    this.lastCall = null;      // how the previous call ended, for the panel's line
    this.pendingRing = null;   // a ring the timeline reported before the INVITE arrived
  }

  get state() {
    if (this.call) return this.call.phase;
    return this.reg;
  }

  get registered() {
    return this.reg === "registered";
  }

  // Everything the panel renders, as plain data.
  snapshot() {
    const call = this.call ? Object.assign({}, this.call, {
      consult: this.call.consult ? Object.assign({}, this.call.consult) : null,
      late: this.call.ring > this.ringLimit,
    }) : null;
    return {
      state: this.state,
      registration: this.reg,
      attempt: this.attempt,
      call: call,
      ringLimit: this.ringLimit,
      message: this.message ? Object.assign({}, this.message) : null,
      lastCall: this.lastCall,
      allowed: this.allowedActions(),
      canAnswer: this.state === "ringing",
      warnOnLeave: Boolean(this.call && this.call.phase !== "ringing"),
    };
  }

  allowedActions() {
    const state = this.state;
    if (!this.call || this.call.pending) return [];
    return Object.keys(ACTION_STATES).filter((a) => ACTION_STATES[a].includes(state))
      .filter((a) => (a === "mute" ? !this.call.muted : a === "unmute" ? this.call.muted : true));
  }

  // One event in, the commands for the driver out. Unknown events change nothing.
  handle(event) {
    const fn = HANDLERS[event && event.type];
    if (!fn) return [];
    return fn.call(this, event) || [];
  }

  say(level, text, reason) {
    this.message = { level: level, text: text, reason: reason || "" };
  }

  // ------------------------------------------------------------------ registration

  startRegistering(commands) {
    this.reg = "checking_mic";
    commands.push({ type: "check_mic" });
    return commands;
  }

  retry(cause, commands) {
    this.reg = "reregistering";
    this.lastCause = cause || this.lastCause;
    if (!this.retryPending) {
      this.attempt += 1;
      this.retryPending = true;
      const ms = backoff(this.attempt);
      commands.push({ type: "start_timer", name: "reregister", ms: ms });
      this.say("warn", "与电话服务器的注册已断开(" + (cause || "网络中断") + ")," + Math.round(ms / 1000) +
        " 秒后自动重新注册(第 " + this.attempt + " 次)。断开期间不会分配来电。", "reregistering");
    }
    return commands;
  }

  loseSeat(text, reason, commands) {
    // The seat cannot take calls here until a person acts; a call still up on this tab goes on.
    if (this.retryPending) {
      commands.push({ type: "cancel_timer", name: "reregister" });
      this.retryPending = false;
    }
    commands.push(this.call ? { type: "unregister" } : { type: "stop_ua" });
    this.say("error", text, reason);
    return commands;
  }

  // ------------------------------------------------------------------ the call

  endCall(summary, commands) {
    this.lastCall = summary;
    this.call = null;
    commands.push({ type: "cancel_timer", name: "ending" }, { type: "alert", on: false }, { type: "stop_media" });
    if (this.reg === "taken_over") commands.push({ type: "stop_ua" });
    return commands;
  }

  control(action, args) {
    const commands = [];
    if (!this.call) return commands;
    if (this.call.pending) {
      this.say("warn", "上一个操作(" + ACTION_LABELS[this.call.pending] + ")还在进行,请稍候", "busy");
      return commands;
    }
    const allowed = ACTION_STATES[action];
    if (!allowed) return commands;
    if (!allowed.includes(this.state)) {
      this.say("warn", "现在不能" + ACTION_LABELS[action] + "(" + this.state + ")", "not_now");
      return commands;
    }
    if (!this.call.callId) {
      this.say("error", "还不知道这通电话的编号,请稍候再试", "no_call_id");
      return commands;
    }
    if ((action === "transfer" || action === "consult") && !(args && args.target)) {
      this.say("warn", "请先填写转接目标", "no_target");
      return commands;
    }
    this.call.pending = action;
    if (action === "transfer" || action === "consult") {
      // The server answers once the target has answered or failed (it may ring for a while): meanwhile the
      // caller hears the hold phrase and music, and the panel shows whom it rings.
      this.call.leg = { kind: args.kind, target: args.target };
      if (action === "consult") {
        this.call.phase = "consulting";
        this.call.consult = { kind: args.kind, target: args.target, status: "dialing" };
      }
      this.say("info", "客户在保持中;正在呼叫" + targetText(this.call.leg) + "…", "transferring");
    }
    commands.push({ type: "post", action: action, body: Object.assign({ call_id: this.call.callId }, args || {}) });
    return commands;
  }

  transferFailed(reason, commands) {
    const why = TRANSFER_RESULTS[reason] || reason || "";
    return this.backToCaller("转接" + targetText(this.call.consult || this.call.leg) + "失败" +
      (why ? "(" + why + ")" : "") + ",客户已回到您的通话", commands);
  }

  backToCaller(text, commands) {
    this.call.phase = "in_call";
    this.call.ending = null;
    this.call.consult = null;
    this.call.leg = null;
    this.say("error", text, "transfer_failed");
    commands.push({ type: "cancel_timer", name: "ending" });
    return commands;
  }
}

const HANDLERS = {
  // The panel read GET /api/agent/softphone: register with these credentials.
  start(event) {
    const c = event.credentials || {};
    this.credentials = c;
    if (c.seat !== "webrtc") {
      this.reg = "unregistered";
      return [];
    }
    if (!c.ws_url || !c.username) {
      this.reg = "failed";
      this.say("error", "这个坐席的软电话账号还没有配置(缺少服务器地址或账号),请联系管理员", "no_credentials");
      return [];
    }
    this.attempt = 0;
    this.message = null;
    return this.startRegistering([]);
  },

  mic_ok() {
    if (this.reg !== "checking_mic") return [];
    this.reg = "registering";
    // Claim first: another tab of this agent lets go before this one's REGISTER replaces its contact.
    return [{ type: "claim" }, { type: "register", credentials: this.credentials }];
  },

  mic_refused(event) {
    if (this.reg !== "checking_mic") return [];
    this.reg = "failed";
    this.say("error", "浏览器没有允许使用麦克风" + (event.detail ? "(" + event.detail + ")" : "") +
      ":请点地址栏的麦克风图标选择“允许”,再按“重新连接”。在此之前本坐席不注册,来电会转给其他坐席。",
      "mic_refused");
    return [];
  },

  connected() {
    return [];
  },

  registered() {
    const commands = [];
    if (this.reg === "taken_over" || this.reg === "unregistered") return commands;
    const wasRetrying = this.reg === "reregistering" || this.attempt > 0;
    if (this.retryPending) {
      commands.push({ type: "cancel_timer", name: "reregister" });
      this.retryPending = false;
    }
    this.reg = "registered";
    this.attempt = 0;
    if (wasRetrying) this.say("info", "已重新注册,可以接听来电", "reregistered");
    else if (this.message && this.message.reason !== "mic_refused") this.message = null;
    return commands;
  },

  registration_failed(event) {
    if (this.reg === "taken_over" || this.reg === "unregistered" || this.reg === "failed") return [];
    const status = Number(event.status) || 0;
    if (AUTH_STATUSES.has(status) || event.cause === "Authentication Error") {
      this.reg = "failed";
      return this.loseSeat("注册失败:电话服务器拒绝了这个坐席的账号或密码(" + (status || event.cause) +
        ")。请联系管理员检查软电话账号。", "auth", []);
    }
    return this.retry(event.cause || ("SIP " + status), []);
  },

  // The SIP websocket closed (network drop, Asterisk restarting) or an unREGISTER we did not ask for.
  disconnected(event) {
    if (this.reg === "taken_over" || this.reg === "unregistered" || this.reg === "failed") return [];
    if (this.reg === "checking_mic") return [];
    return this.retry(event.cause || "网络中断", []);
  },

  unregistered(event) {
    if (this.reg !== "registered") return [];
    return this.retry(event.cause || "注册已失效", []);
  },

  timer(event) {
    const commands = [];
    if (event.name === "reregister") {
      this.retryPending = false;
      if (this.reg !== "reregistering") return commands;
      // A call still up keeps its user agent (its dialog lives there): register again on it. Otherwise a
      // fresh user agent, as after a page load.
      commands.push(this.call ? { type: "register", credentials: this.credentials }
        : { type: "restart_ua", credentials: this.credentials });
      return commands;
    }
    const call = this.call;
    if (event.name === "ending" && call && call.phase === "ending") {
      if (call.ending === "transfer") {
        commands.push({ type: "terminate", id: call.id });
        return commands;
      }
      // Neither the hang-up nor a refusal came: the caller is still on the line, so the call goes on here.
      call.phase = call.before || "in_call";
      call.ending = null;
      this.say("warn", "挂机请求 " + Math.round(ENDING_TIMEOUT_MS / 1000) + " 秒内没有结果,通话仍在继续:" +
        "请再按挂断,或等客户挂机", "release_timeout");
    }
    return commands;
  },

  // Another tab of this agent (BroadcastChannel), or the server's record of who holds the seat, says the
  // registration is now theirs.
  taken_over(event) {
    if (this.reg === "taken_over" || this.reg === "unregistered") return [];
    this.reg = "taken_over";
    const where = event.by === "elsewhere" ? "另一个浏览器" : "另一个标签页";
    return this.loseSeat("本坐席的软电话已在" + where + "登录,本页不再接听来电" +
      (this.call ? "(当前通话结束前仍在本页)" : "") + "。要在本页接听,请按“在本页接听”。", "taken_over", []);
  },

  // "在本页接听" / "重新连接": a person asked to (re)register here.
  reclaim() {
    if (this.call) return [];
    if (!this.credentials || this.credentials.seat !== "webrtc") return [];
    const commands = [];
    if (this.retryPending) {
      commands.push({ type: "cancel_timer", name: "reregister" });
      this.retryPending = false;
    }
    this.attempt = 0;
    this.message = null;
    commands.push({ type: "stop_ua" });
    return this.startRegistering(commands);
  },

  // ------------------------------------------------------------------ the call

  incoming(event) {
    if (this.call || this.reg === "taken_over") {
      return [{ type: "reject", id: event.id, status: 486 }];
    }
    this.call = {
      id: event.id, callId: event.callId || "", caller: event.caller || "", phase: "ringing",
      ring: this.pendingRing && (!event.callId || this.pendingRing.callId === event.callId) ? this.pendingRing.ring : 0,
      muted: false, consult: null, leg: null, pending: null,
      ending: null,        // "release" (hang-up asked) | "transfer" (the caller is with the target) while ending
      before: null,        // the phase a hang-up request was made in, to go back to on a refusal
      releaseAsked: false, // a hang-up request is out and the session has not refused it
    };
    this.pendingRing = null;
    if (this.message && this.message.level !== "error") this.message = null;
    return [{ type: "alert", on: true }];
  },

  // agent.ringing from the call timeline: the ring this seat is in.
  ring(event) {
    if (this.call && this.call.phase === "ringing" && (!this.call.callId || !event.callId ||
        this.call.callId === event.callId)) {
      this.call.ring = event.ring;
      if (event.callId) this.call.callId = event.callId;
    } else if (!this.call) {
      this.pendingRing = { callId: event.callId, ring: event.ring };
    }
    return [];
  },

  // The panel's view of this seat's live call (GET /api/agent/panel): the call id, and the server's word on
  // hold and on the second leg (a supervisor or the session may change them too).
  panel_call(event) {
    const p = event.call;
    if (!this.call || !p) return [];
    if (!this.call.callId && (p.phase === "ringing" || p.phase === "talking" || p.phase === "hold")) {
      this.call.callId = p.call_id;
    }
    if (p.call_id !== this.call.callId) return [];
    if (this.call.phase === "ringing" && p.phase === "ringing" && typeof p.ring === "number") {
      this.call.ring = Math.max(this.call.ring, p.ring);
    }
    if (this.call.pending) return [];
    if (p.phase === "hold" && this.call.phase === "in_call") this.call.phase = "on_hold";
    else if (p.phase === "talking" && this.call.phase === "on_hold") this.call.phase = "in_call";
    return [];
  },

  answer() {
    if (!this.call || this.call.phase !== "ringing") return [];
    this.call.phase = "answering";
    return [{ type: "alert", on: false }, { type: "answer", id: this.call.id }];
  },

  // The call's media is up (JsSIP "confirmed"): the agent and the caller hear each other.
  confirmed() {
    if (!this.call || (this.call.phase !== "answering" && this.call.phase !== "ringing")) return [];
    this.call.phase = "in_call";
    return [{ type: "alert", on: false }, { type: "start_media" }];
  },

  // The line dropped after it was up (either side's BYE, or the transport died under it).
  ended(event) {
    if (!this.call) return [];
    const by = event.originator === "local" ? "坐席" : event.originator === "remote" ? "对方" : "系统";
    const commands = this.endCall({ by: by, cause: event.cause || "" }, []);
    if (this.reg === "reregistering" || event.cause === "Connection Error") {
      this.say("warn", "通话因网络中断结束,系统会把客户转回队列;正在重新注册…", "dropped");
    }
    return commands;
  },

  // The call never came up: the caller hung up while it rang, or answering failed.
  failed(event) {
    if (!this.call) return [];
    const cause = event.cause || "";
    const wasAnswering = this.call.phase === "answering";
    const commands = this.endCall({ by: event.originator === "remote" ? "对方" : "系统", cause: cause }, []);
    if (MIC_CAUSES.has(cause)) {
      // Without a microphone this seat would ring again and fail again: let the neighbour seat take calls
      // until the agent allows the microphone.
      this.reg = "failed";
      return this.loseSeat("无法接听:浏览器没有允许使用麦克风。请点地址栏的麦克风图标选择“允许”,再按“重新连接”。" +
        "在此之前来电会转给其他坐席。", "mic_refused", commands);
    }
    if (cause === "Canceled" || cause === "Terminated" || event.originator === "remote") {
      this.say("info", "来电已取消(对方在接听前挂机或已转给其他坐席)", "canceled");
    } else if (wasAnswering) {
      this.say("error", "接听失败(" + cause + ")", "answer_failed");
    }
    return commands;
  },

  // A control button; the server does it (never the browser to Asterisk).
  press(event) {
    const commands = this.control(event.action, event.args || {});
    if (event.action === "hangup" && commands.some((c) => c.type === "post")) this.call.releaseAsked = true;
    return commands;
  },

  control_ok(event) {
    const commands = [];
    const call = this.call;
    if (!call || call.pending !== event.action) return commands;
    call.pending = null;
    const state = event.state || {};
    switch (event.action) {
      case "hold":
        call.phase = "on_hold";
        this.say("info", "已保持:客户听到“对不起,请稍等”和等待音乐 (R-38)", "hold");
        break;
      case "resume":
        call.phase = "in_call";
        this.say("info", "已恢复通话:“对不起,让您久等了” (R-39)", "resume");
        break;
      case "mute":
        call.muted = true;
        commands.push({ type: "local_mute", on: true });
        break;
      case "unmute":
        call.muted = false;
        commands.push({ type: "local_mute", on: false });
        break;
      case "dtmf":
        this.say("info", "已发送按键 " + ((event.body && event.body.digits) || ""), "dtmf");
        break;
      case "hangup":
        // Accepted means asked, not done: the session hangs up (call.hangup, then the BYE) or refuses
        // (release.refused on the timeline).
        call.before = call.phase;
        call.phase = "ending";
        call.ending = "release";
        commands.push({ type: "start_timer", name: "ending", ms: ENDING_TIMEOUT_MS });
        break;
      case "transfer":
        if (state.result && state.result !== "answered") return this.transferFailed(state.result, commands);
        // Blind: the target has the caller; the server releases this leg.
        call.phase = "ending";
        call.ending = "transfer";
        this.say("info", "已转接给" + targetText(call.leg), "transferred");
        commands.push({ type: "start_timer", name: "ending", ms: ENDING_TIMEOUT_MS });
        break;
      case "consult":
        if (state.result && state.result !== "answered") return this.transferFailed(state.result, commands);
        call.phase = "consulting";
        call.consult = Object.assign({}, call.leg, { status: "talking" });
        this.say("info", targetText(call.leg) + "已接通:可以“完成转接”“三方通话”或“返回客户”", "consult_up");
        break;
      case "consult_complete":
        call.phase = "ending";
        call.ending = "transfer";
        this.say("info", "已转接给" + targetText(call.consult), "transferred");
        commands.push({ type: "start_timer", name: "ending", ms: ENDING_TIMEOUT_MS });
        break;
      case "consult_return":
        call.phase = "in_call";
        call.consult = null;
        call.leg = null;
        this.say("info", "已返回客户", "returned");
        break;
      case "conference":
        call.phase = "conference";
        this.say("info", "三方通话中", "conference");
        break;
      default:
        break;
    }
    return commands;
  },

  control_failed(event) {
    const call = this.call;
    if (!call || call.pending !== event.action) return [];
    call.pending = null;
    if (event.action === "hangup") call.releaseAsked = false;
    if (event.action === "transfer" || event.action === "consult") {
      call.leg = null;
      call.consult = null;
      call.phase = "in_call";
    }
    const prefix = event.action === "hangup" ? "不能挂机:" : ACTION_LABELS[event.action] + "失败:";
    this.say("error", prefix + (event.error || ("HTTP " + event.status)), "control_failed");
    return [];
  },

  // The second leg answered (from the timeline or the control API's state).
  consult_answered() {
    if (this.call && this.call.phase === "consulting" && this.call.consult) {
      this.call.consult.status = "talking";
      this.say("info", targetText(this.call.consult) + "已接通:可以“完成转接”“三方通话”或“返回客户”", "consult_up");
    }
    return [];
  },

  // The transfer's target failed (busy, no answer, a number that does not exist): the caller is back with
  // this agent, and the panel says so. The timeline's transfer.failed may come before the API's answer.
  transfer_failed(event) {
    const call = this.call;
    if (!call || !call.leg) return [];
    if (call.pending === "transfer" || call.pending === "consult") call.pending = null;
    return this.transferFailed(event.reason, []);
  },

  // release.refused from the call timeline: the session keeps the call. The panel goes back to it
  // and never ends the SIP leg itself; the call ends when the caller hangs up. The refusal may come before the
  // API's answer to the hang-up (then that answer is ignored) or after the ending timeout.
  release_refused(event) {
    const call = this.call;
    if (!call || !call.releaseAsked) return [];
    const commands = [];
    call.releaseAsked = false;
    if (call.pending === "hangup") call.pending = null;
    if (call.phase === "ending" && call.ending === "release") {
      call.phase = call.before || "in_call";
      call.ending = null;
      commands.push({ type: "cancel_timer", name: "ending" });
    }
    this.say("error", "不能挂机:" + (event.reason || "通话流程不允许现在挂机"), "release_refused");
    return commands;
  },

  // The server ended the second leg (its target hung up, or the session gave the caller back).
  consult_returned() {
    if (!this.call || this.call.phase !== "consulting") return [];
    this.call.phase = "in_call";
    this.call.consult = null;
    this.call.leg = null;
    this.say("info", "第二路已结束,您已回到客户", "returned");
    return [];
  },

  // The third party left the conference: the agent and the caller go on.
  conference_ended() {
    if (!this.call || this.call.phase !== "conference") return [];
    this.call.phase = "in_call";
    this.call.consult = null;
    this.say("info", "三方通话已结束,您仍与客户通话", "conference_ended");
    return [];
  },

  // The page is being closed or reloaded: end the SIP side cleanly so Asterisk learns at once (the ARI
  // application then gives the caller the hold music and phrase and puts the call back in the queue).
  page_closing() {
    const commands = [];
    if (this.retryPending) commands.push({ type: "cancel_timer", name: "reregister" });
    this.retryPending = false;
    commands.push({ type: "stop_ua" });
    this.reg = "unregistered";
    this.call = null;
    return commands;
  },
};

export function isCallState(state) {
  return CALL_PHASES.has(state);
}

export function createMachine(options) {
  return new Machine(options);
}
