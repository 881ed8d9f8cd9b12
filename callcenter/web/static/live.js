// The page's link to the call timeline: a websocket that resumes from the last event id it saw, and a
// fetch helper that sends the CSRF token. No framework: a page registers onEvent and gets each event once.
"use strict";
(function () {
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const listeners = [];
  const state = { last: 0, socket: null, received: [], retry: 500, stopped: false };

  async function api(path, body) {
    const init = body === undefined ? {} : {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(body),
    };
    const response = await fetch(path, Object.assign({ credentials: "same-origin" }, init));
    let data = null;
    try { data = await response.json(); } catch (e) { data = null; }
    if (!response.ok) {
      const message = (data && data.error) || ("HTTP " + response.status);
      throw new Error(message);
    }
    return data;
  }

  function setLink(ok) {
    const el = document.getElementById("link");
    if (el) { el.className = ok ? "link up" : "link down"; el.title = ok ? "实时连接正常" : "正在重连…"; }
  }

  function connect() {
    if (state.stopped) return;
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(scheme + "://" + location.host + "/ws?after=" + state.last);
    state.socket = socket;
    socket.onopen = function () { state.retry = 500; setLink(true); };
    socket.onmessage = function (msg) {
      const data = JSON.parse(msg.data);
      if (data.kind !== "event") { listeners.forEach(function (fn) { fn(null, data); }); return; }
      if (data.id <= state.last) return;  // never twice, even if the server replayed it
      state.last = data.id;
      state.received.push(data.id);
      listeners.forEach(function (fn) { fn(data, null); });
    };
    socket.onclose = function () {
      setLink(false);
      if (state.socket === socket && !state.stopped) {
        setTimeout(connect, state.retry);
        state.retry = Math.min(state.retry * 2, 8000);
      }
    };
  }

  window.ccLive = {
    api: api,
    csrf: csrf,
    state: state,
    onEvent: function (fn) { listeners.push(fn); },
    start: function (after) { state.last = after || 0; connect(); },
    // Drop the connection as a network failure would (the page reconnects by itself and resumes).
    drop: function () { if (state.socket) state.socket.close(); },
  };
})();

function ccEl(tag, attrs, text) {
  const el = document.createElement(tag);
  Object.keys(attrs || {}).forEach(function (k) { el.setAttribute(k, attrs[k]); });
  if (text !== undefined && text !== null) el.textContent = String(text);
  return el;
}
