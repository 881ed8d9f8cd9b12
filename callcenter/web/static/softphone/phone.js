// The softphone's driver: feeds events into the state machine (machine.js) and carries out the commands it
// returns, against four things it is handed — a user agent factory (jssip_ua.js in the page, a fake in the
// tests), the call-control API (POST /api/agent/call/{action}), the page's media (microphone check, meters,
// ringing sound) and the seat's claim (which tab is the phone). Timers are the only clock, and injectable.
// No DOM here either: the page (panel.js) renders `onChange`'s snapshots.

import { Machine } from "./machine.js";

const REAL_TIMERS = {
  set(fn, ms) { return setTimeout(fn, ms); },
  clear(handle) { clearTimeout(handle); },
};

export class Phone {
  constructor(deps) {
    this.machine = deps.machine || new Machine({ ringLimit: deps.ringLimit });
    this.uaFactory = deps.uaFactory;
    this.post = deps.post;
    this.media = deps.media || {};
    this.claim = deps.claim || function () {};
    this.timers = deps.timers || REAL_TIMERS;
    this.onChange = deps.onChange || function () {};
    this.ua = null;
    this.pending = new Map(); // timer name -> handle
    this.generation = 0;      // events of a replaced user agent are ignored
    this.log = [];            // the last events and commands, for a person reading the page's state
  }

  get state() { return this.machine.state; }

  snapshot() { return this.machine.snapshot(); }

  emit(event) {
    this.note("event", event);
    const commands = this.machine.handle(event);
    for (const command of commands) this.run(command);
    this.onChange(this.machine.snapshot(), event);
    return commands;
  }

  note(kind, what) {
    this.log.push([kind, what.type]);
    if (this.log.length > 200) this.log.shift();
  }

  newUa(credentials) {
    this.generation += 1;
    const generation = this.generation;
    // Events from a user agent this phone has replaced or stopped would confuse the machine: drop them.
    const emit = (event) => { if (generation === this.generation) this.emit(event); };
    this.ua = this.uaFactory(credentials, emit);
    this.ua.start();
  }

  stopUa() {
    if (!this.ua) return;
    const ua = this.ua;
    this.ua = null;
    this.generation += 1;
    ua.stop();
  }

  run(command) {
    this.note("command", command);
    const ua = this.ua;
    switch (command.type) {
      case "check_mic":
        Promise.resolve(this.media.checkMic ? this.media.checkMic() : true).then(
          () => this.emit({ type: "mic_ok" }),
          (err) => this.emit({ type: "mic_refused", detail: (err && (err.name || err.message)) || "" }));
        break;
      case "claim":
        this.claim();
        break;
      case "register":
        if (ua) ua.register(); else this.newUa(command.credentials);
        break;
      case "restart_ua":
        this.stopUa();
        this.newUa(command.credentials);
        break;
      case "stop_ua":
        this.stopUa();
        break;
      case "unregister":
        if (ua) ua.unregister();
        break;
      case "answer":
        if (ua) ua.answer(command.id, this.media.constraints ? this.media.constraints() : { audio: true });
        break;
      case "reject":
        if (ua) ua.reject(command.id, command.status);
        break;
      case "terminate":
        if (ua) ua.terminate(command.id);
        break;
      case "alert":
        if (this.media.alert) this.media.alert(command.on);
        break;
      case "start_media":
        if (this.media.start && ua && this.machine.call) this.media.start(ua.streams(this.machine.call.id));
        break;
      case "stop_media":
        if (this.media.stop) this.media.stop();
        break;
      case "local_mute":
        if (ua && this.machine.call) ua.mute(this.machine.call.id, command.on);
        break;
      case "post":
        Promise.resolve().then(() => this.post(command.action, command.body)).then(
          (answer) => this.emit({ type: "control_ok", action: command.action, body: command.body,
                                  state: (answer && answer.state) || {} }),
          (err) => this.emit({ type: "control_failed", action: command.action, status: (err && err.status) || 0,
                               error: (err && err.message) || String(err) }));
        break;
      case "start_timer":
        this.cancel(command.name);
        this.pending.set(command.name, this.timers.set(() => {
          this.pending.delete(command.name);
          this.emit({ type: "timer", name: command.name });
        }, command.ms));
        break;
      case "cancel_timer":
        this.cancel(command.name);
        break;
      default:
        break;
    }
  }

  cancel(name) {
    if (this.pending.has(name)) {
      this.timers.clear(this.pending.get(name));
      this.pending.delete(name);
    }
  }
}

export function createPhone(deps) {
  return new Phone(deps);
}
