// Wallboard live monitoring: the live calls, and per call 监听 / 耳语 / 强插 / 结束 with a required purpose
// . The server rings the supervisor's own desk phone; the answer comes back once it is picked up.
"use strict";
(function () {
  const live = window.ccLive;
  const order = window.ccModes || [];  // [[mode, label], …] in the order the buttons show
  const modes = {};
  order.forEach(function (pair) { modes[pair[0]] = pair[1]; });
  let busy = false;

  function showError(text) {
    const box = document.getElementById("monitor-error");
    box.hidden = !text;
    box.textContent = text || "";
  }

  function send(path, body) {
    if (busy) return;
    busy = true;
    showError("");
    live.api(path, body)
      .then(function () { return live.api("/api/wallboard"); })
      .then(render)
      .catch(function (e) { showError(e.message); })
      .finally(function () { busy = false; });
  }

  function purpose() { return document.getElementById("monitor-purpose").value.trim(); }

  function controls(call) {
    const cell = ccEl("td", { class: "monitor-actions" });
    const mine = call.monitor && call.monitor.supervisor === window.ccMe;
    if (call.monitor && !mine) {
      cell.appendChild(ccEl("span", { class: "hint" }, "由 " + call.monitor.supervisor + " 监听中"));
      return cell;
    }
    if (!call.monitorable && !mine) return cell;
    order.forEach(function (pair) {
      const mode = pair[0];
      const on = mine && call.monitor.mode === mode;
      const button = ccEl("button", { type: "button", class: on ? "mode on" : "mode", "data-mode": mode,
                                      "data-call": call.call_id }, modes[mode]);
      button.disabled = on;
      button.addEventListener("click", function () {
        if (mine) {
          send("/api/wallboard/monitor/switch", { call_id: call.call_id, mode: mode, purpose: purpose() });
        } else {
          send("/api/wallboard/monitor", { call_id: call.call_id, mode: mode, purpose: purpose() });
        }
      });
      cell.appendChild(button);
    });
    if (mine) {
      const stop = ccEl("button", { type: "button", class: "stop", "data-call": call.call_id }, "结束监听");
      stop.addEventListener("click", function () { send("/api/wallboard/monitor/stop", { call_id: call.call_id }); });
      cell.appendChild(stop);
    }
    return cell;
  }

  function render(w) {
    const body = document.getElementById("live-calls");
    if (!body || !w.live_calls) return;
    body.textContent = "";
    if (!w.monitoring) showError("本服务未连接 ARI,无法实时监听 (start serve with --ari)");
    if (!w.live_calls.length) {
      const row = ccEl("tr", {});
      row.appendChild(ccEl("td", { colspan: "5", class: "hint" }, "暂无通话"));
      body.appendChild(row);
      return;
    }
    w.live_calls.forEach(function (call) {
      const row = ccEl("tr", { "data-call": call.call_id, class: call.monitor ? "monitored" : "" });
      row.appendChild(ccEl("td", {}, call.caller || "—"));
      row.appendChild(ccEl("td", {}, call.agent || "—"));
      row.appendChild(ccEl("td", {}, call.phase_label));
      const who = call.monitor ? call.monitor.supervisor + " · " + (modes[call.monitor.mode] || call.monitor.mode) : "—";
      row.appendChild(ccEl("td", { class: "monitor-state" }, who));
      row.appendChild(controls(call));
      body.appendChild(row);
    });
  }

  window.ccMonitor = { render: render };
})();
