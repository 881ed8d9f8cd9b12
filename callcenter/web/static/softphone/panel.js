// The agent panel's softphone (issue 15): for a webrtc seat, the page is the phone. This module is the DOM
// side: it reads the seat's registration (GET /api/agent/softphone), loads the browser SIP stack from the
// service's own static files, drives the state machine through the driver (phone.js) and renders each
// snapshot into the softphone card of templates/softphone.html. Call control goes to the call-control API
// (POST /api/agent/call/{action}); the browser never talks to Asterisk's REST interface.
//
// Page hooks for the browser tests (tests/test_softphone_page.py, the real-Asterisk WebRTC test):
//   window.ccSoftphoneUaFactory  set before the page loads: a user agent to use instead of JsSIP
//   window.ccSoftphone           {phone, snapshot(), levels(), tab} once started
import { Phone } from "./phone.js";
import { jssipFactory } from "./jssip_ua.js";

const REG_TEXT = {
  unregistered: "未注册", checking_mic: "检查麦克风…", registering: "注册中…", registered: "已注册",
  reregistering: "重新注册中…", taken_over: "已在别处登录", failed: "未注册",
};
const PHASE_TEXT = {
  ringing: "振铃中", answering: "正在接听…", in_call: "通话中", on_hold: "保持中", consulting: "咨询转接中",
  conference: "三方通话中", ending: "正在结束…",
};
const LEG_TEXT = { dialing: "呼叫中…", talking: "已接通" };
const KIND_TEXT = { agent: "坐席", group: "技能组", number: "号码" };
const METER_GAIN = 4; // RMS of speech is about 0.05-0.25: scaled so a normal voice fills most of the bar

const $ = (id) => document.getElementById(id);

function say(root, level, text) {
  root.hidden = false;
  const el = $("sp-message");
  el.textContent = text;
  el.dataset.level = level;
  el.hidden = !text;
}

function loadScript(src) {
  return new Promise((resolve, reject) => {
    const el = document.createElement("script");
    el.src = src;
    el.onload = resolve;
    el.onerror = () => reject(new Error("cannot load " + src));
    document.head.appendChild(el);
  });
}

function newTabId() {
  if (window.crypto && crypto.randomUUID) return crypto.randomUUID().replace(/-/g, "");
  return Array.from({ length: 4 }, () => Math.random().toString(36).slice(2, 10)).join("").slice(0, 32);
}

// The page's audio: the microphone check and choice, the speaker, the level meters, the ringing sound.
class Media {
  constructor() {
    this.micId = localStorage.getItem("cc-softphone-mic") || "";
    this.speakerId = localStorage.getItem("cc-softphone-speaker") || "";
    this.context = null;
    this.meters = [];
    this.levelsNow = { out: 0, in: 0 };
    this.loop = null;
    this.ringer = null;
    this.streams = null;
  }

  audio() { return this.micId ? { deviceId: { exact: this.micId } } : true; }

  constraints() { return { audio: this.audio() }; }

  async checkMic() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      throw Object.assign(new Error("no mediaDevices"), { name: "页面不是 https,浏览器不提供麦克风" });
    }
    const stream = await navigator.mediaDevices.getUserMedia({ audio: this.audio() });
    stream.getTracks().forEach((t) => t.stop());
    await this.listDevices();
  }

  async listDevices() {
    const devices = await navigator.mediaDevices.enumerateDevices();
    const fill = (select, kind, chosen) => {
      select.textContent = "";
      select.appendChild(new Option("默认", ""));
      devices.filter((d) => d.kind === kind && d.deviceId !== "default").forEach((d, i) => {
        select.appendChild(new Option(d.label || (kind === "audioinput" ? "麦克风 " : "扬声器 ") + (i + 1), d.deviceId));
      });
      select.value = [...select.options].some((o) => o.value === chosen) ? chosen : "";
    };
    fill($("sp-mic"), "audioinput", this.micId);
    fill($("sp-speaker"), "audiooutput", this.speakerId);
    const canSink = "setSinkId" in HTMLMediaElement.prototype;
    $("sp-speaker").disabled = !canSink;
    $("sp-sink-note").hidden = canSink;
  }

  ctx() {
    if (!this.context) this.context = new AudioContext();
    if (this.context.state === "suspended") this.context.resume();
    return this.context;
  }

  meter(stream, which) {
    if (!stream || !stream.getAudioTracks().length) return;
    const analyser = this.ctx().createAnalyser();
    analyser.fftSize = 1024;
    const source = this.ctx().createMediaStreamSource(stream);
    source.connect(analyser);
    this.meters = this.meters.filter((m) => m.which !== which);
    this.meters.push({ which, analyser, source, data: new Float32Array(analyser.fftSize) });
  }

  start(streams) {
    this.stop();
    this.streams = streams;
    const audio = $("sp-remote");
    audio.srcObject = streams.remote;
    if (this.speakerId && audio.setSinkId) audio.setSinkId(this.speakerId).catch(() => {});
    audio.play().catch(() => {});
    this.meter(streams.local, "out");
    this.meter(streams.remote, "in");
    this.loop = setInterval(() => this.measure(), 100);
  }

  measure() {
    for (const m of this.meters) {
      m.analyser.getFloatTimeDomainData(m.data);
      let sum = 0;
      for (const v of m.data) sum += v * v;
      this.levelsNow[m.which] = Math.sqrt(sum / m.data.length);
    }
    $("sp-level-out").style.width = Math.min(100, this.levelsNow.out * METER_GAIN * 100) + "%";
    $("sp-level-in").style.width = Math.min(100, this.levelsNow.in * METER_GAIN * 100) + "%";
  }

  stop() {
    if (this.loop) clearInterval(this.loop);
    this.loop = null;
    this.meters.forEach((m) => m.source.disconnect());
    this.meters = [];
    this.levelsNow = { out: 0, in: 0 };
    this.streams = null;
    $("sp-remote").srcObject = null;
    $("sp-level-out").style.width = "0";
    $("sp-level-in").style.width = "0";
  }

  // A short double beep every 3 s while a call rings (the seat's own ringer; the caller hears ringback).
  alert(on) {
    if (this.ringer) clearInterval(this.ringer);
    this.ringer = null;
    if (!on) return;
    const beep = () => {
      try {
        const ctx = this.ctx();
        [0, 0.35].forEach((at) => {
          const osc = ctx.createOscillator();
          const gain = ctx.createGain();
          osc.frequency.value = 880;
          gain.gain.value = 0.08;
          osc.connect(gain).connect(ctx.destination);
          osc.start(ctx.currentTime + at);
          osc.stop(ctx.currentTime + at + 0.2);
        });
      } catch (e) { /* no audio output: the panel still shows the ring */ }
    };
    beep();
    this.ringer = setInterval(beep, 3000);
  }

  async chooseMic(id) {
    this.micId = id;
    localStorage.setItem("cc-softphone-mic", id);
    const pc = this.streams && this.streams.connection;
    if (!pc) return;
    // Mid-call: the new microphone replaces the old one on the same call.
    const stream = await navigator.mediaDevices.getUserMedia({ audio: this.audio() });
    const track = stream.getAudioTracks()[0];
    const sender = pc.getSenders().find((s) => s.track && s.track.kind === "audio");
    if (sender) {
      const old = sender.track;
      await sender.replaceTrack(track);
      if (old) old.stop();
    }
    this.meter(stream, "out");
  }

  chooseSpeaker(id) {
    this.speakerId = id;
    localStorage.setItem("cc-softphone-speaker", id);
    const audio = $("sp-remote");
    if (audio.setSinkId) audio.setSinkId(id).catch(() => {});
  }
}

function render(s) {
  const root = $("softphone");
  root.dataset.state = s.state;
  const reg = $("sp-reg");
  reg.textContent = REG_TEXT[s.registration] || s.registration;
  reg.dataset.registration = s.registration;
  const m = s.message;
  const msg = $("sp-message");
  msg.hidden = !m;
  msg.textContent = m ? m.text : "";
  msg.dataset.level = m ? m.level : "";
  msg.dataset.reason = m ? m.reason : "";
  $("sp-reconnect").hidden = !(s.registration === "failed" && !s.call);
  $("sp-reclaim").hidden = !(s.registration === "taken_over" && !s.call);

  const call = s.call;
  const ringing = Boolean(call && (call.phase === "ringing" || call.phase === "answering"));
  $("sp-ringing").hidden = !ringing;
  if (ringing) {
    $("sp-caller").textContent = call.caller || "未知号码";
    const rings = $("sp-rings");
    rings.textContent = call.ring ? "第 " + call.ring + " 声 / " + s.ringLimit : "振铃中";
    rings.classList.toggle("error", Boolean(call.late));
    $("sp-answer").disabled = !s.canAnswer;
    $("sp-answer").textContent = call.phase === "answering" ? "正在接听…" : "接听";
  }
  const up = Boolean(call && !ringing);
  $("sp-call").hidden = !up;
  if (up) {
    $("sp-phase").textContent = PHASE_TEXT[call.phase] || call.phase;
    $("sp-peer").textContent = call.caller || "";
    $("sp-muted").hidden = !call.muted;
    const allowed = new Set(s.allowed);
    document.querySelectorAll("#softphone [data-action]").forEach((b) => {
      b.disabled = !allowed.has(b.dataset.action);
    });
    // One of each pair shows: hold or resume, mute or unmute.
    const show = (action, on) => { document.querySelector('#sp-controls [data-action="' + action + '"]').hidden = !on; };
    show("hold", call.phase !== "on_hold");
    show("resume", call.phase === "on_hold");
    show("mute", !call.muted);
    show("unmute", call.muted);
    document.querySelectorAll("#sp-keypad button").forEach((b) => { b.disabled = !allowed.has("dtmf"); });
    const leg = call.consult;
    $("sp-leg").hidden = !leg;
    if (leg) {
      $("sp-leg-target").textContent = (KIND_TEXT[leg.kind] || leg.kind) + " " + leg.target;
      $("sp-leg-status").textContent = LEG_TEXT[leg.status] || leg.status;
    }
  }
  $("sp-last").textContent = s.lastCall && !call ? "上一通:" + s.lastCall.by + "结束" +
    (s.lastCall.cause ? "(" + s.lastCall.cause + ")" : "") : "";
}

function typing(target) {
  return target && (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName));
}

async function main() {
  const root = $("softphone");
  const live = window.ccLive;
  if (!root || !live) return;
  let creds;
  try {
    creds = await live.api("/api/agent/softphone");
  } catch (e) {
    say(root, "error", "软电话账号读取失败:" + e.message);
    return;
  }
  if (creds.seat !== "webrtc") return; // a desk phone: 「请在话机上接听」 as before
  document.body.dataset.seat = "webrtc";
  root.hidden = false;

  let uaFactory = window.ccSoftphoneUaFactory;
  if (!uaFactory) {
    const missing = "软电话组件未安装(服务器缺少 /static/vendor/jssip.min.js):请管理员运行 ./run 的安装步骤" +
      "(npm ci 并复制 JsSIP)后刷新本页。在此之前本坐席不注册,来电会转给其他坐席。";
    if (!creds.bundle) { root.dataset.state = "failed"; say(root, "error", missing); return; }
    try {
      await loadScript(creds.bundle);
    } catch (e) { root.dataset.state = "failed"; say(root, "error", missing); return; }
    uaFactory = jssipFactory(window.JsSIP);
  }

  const tab = newTabId();
  const channel = "BroadcastChannel" in window ? new BroadcastChannel("callcenter-softphone-" + creds.agent) : null;
  const media = new Media();
  const phone = new Phone({
    uaFactory,
    media,
    post: (action, body) => live.api("/api/agent/call/" + action, body),
    claim: () => {
      if (channel) channel.postMessage({ type: "claim", tab });
      live.api("/api/agent/softphone/claim", { tab }).catch(() => {});
    },
    onChange: render,
  });
  window.ccSoftphone = {
    phone, tab,
    snapshot: () => phone.snapshot(),
    levels: () => Object.assign({}, media.levelsNow),
  };
  if (channel) {
    channel.onmessage = (m) => {
      if (m.data && m.data.type === "claim" && m.data.tab !== tab) phone.emit({ type: "taken_over", by: "tab" });
    };
  }

  // The panel's state (agent.js dispatches each refresh): the call's id and phase, the ring limit, and which
  // tab the server last saw claim the seat.
  let checking = false;
  document.addEventListener("cc:panel", (e) => {
    const p = e.detail;
    if (p.ring_limit) phone.machine.ringLimit = p.ring_limit;
    if (p.call) phone.emit({ type: "panel_call", call: p.call });
    if (p.softphone_holder && p.softphone_holder !== tab && phone.machine.registered && !checking) {
      // A refresh computed before this tab's own claim landed may still name the previous holder: ask again.
      checking = true;
      live.api("/api/agent/softphone").then((fresh) => {
        if (fresh.holder && fresh.holder !== tab) phone.emit({ type: "taken_over", by: "elsewhere" });
      }).catch(() => {}).finally(() => { checking = false; });
    }
  });
  live.onEvent((event) => {
    if (!event) return;
    const d = event.data || {};
    const mine = phone.machine.call && phone.machine.call.callId === event.call_id;
    switch (event.type) {
      case "agent.ringing":
        if (d.agent === creds.agent) phone.emit({ type: "ring", callId: event.call_id, ring: d.ring });
        break;
      case "transfer.consult.answered":
        if (mine) phone.emit({ type: "consult_answered" });
        break;
      case "transfer.failed":
        if (mine) phone.emit({ type: "transfer_failed", reason: d.reason || "" });
        break;
      case "release.refused":
        // the session keeps the call; the panel goes back to it (never ends the leg itself).
        if (mine) phone.emit({ type: "release_refused", reason: d.reason || "" });
        break;
      case "transfer.consult.returned":
        if (mine) phone.emit({ type: "consult_returned" });
        break;
      case "conference.ended":
        if (mine) phone.emit({ type: "conference_ended" });
        break;
      default:
        break;
    }
  });

  $("sp-answer").addEventListener("click", () => phone.emit({ type: "answer" }));
  document.addEventListener("keydown", (e) => {
    if ((e.key === " " || e.key === "Enter") && phone.snapshot().canAnswer && !typing(e.target) &&
        !(e.target && e.target.tagName === "BUTTON" && e.target.id !== "sp-answer")) {
      e.preventDefault();
      phone.emit({ type: "answer" });
    }
  });
  document.querySelectorAll("#softphone [data-action]").forEach((b) => {
    b.addEventListener("click", () => {
      const action = b.dataset.action;
      const args = action === "transfer" || action === "consult"
        ? { kind: $("sp-kind").value, target: $("sp-target").value.trim() } : {};
      phone.emit({ type: "press", action, args });
    });
  });
  document.querySelectorAll("#sp-keypad button").forEach((b) => {
    b.addEventListener("click", () => phone.emit({ type: "press", action: "dtmf", args: { digits: b.dataset.digit } }));
  });
  $("sp-reconnect").addEventListener("click", () => phone.emit({ type: "reclaim" }));
  $("sp-reclaim").addEventListener("click", () => phone.emit({ type: "reclaim" }));
  $("sp-mic").addEventListener("change", (e) => media.chooseMic(e.target.value).catch((err) => {
    say(root, "error", "切换麦克风失败:" + (err.name || err.message));
  }));
  $("sp-speaker").addEventListener("change", (e) => media.chooseSpeaker(e.target.value));
  window.addEventListener("beforeunload", (e) => {
    // Leaving mid-call hands the caller back to the queue (hold music and phrase first): ask before.
    if (phone.snapshot().warnOnLeave) { e.preventDefault(); e.returnValue = ""; }
  });
  window.addEventListener("pagehide", () => phone.emit({ type: "page_closing" }));

  render(phone.snapshot());
  phone.emit({ type: "start", credentials: creds });
}

main();
