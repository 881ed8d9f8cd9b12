// Wallboard: figures from /api/wallboard, refetched (throttled) whenever a timeline event arrives.
"use strict";
(function () {
  const live = window.ccLive;
  let pending = null;
  let last = null;
  let events = 0;

  function pct(v) { return v === null || v === undefined ? "—" : v.toFixed(1) + "%"; }
  function set(id, text) { const el = document.getElementById(id); if (el) el.textContent = text; }

  function render(w) {
    last = w;
    set("calls_waiting", w.calls_waiting);
    set("longest_wait", "最长等待 " + (w.longest_wait_seconds === null ? "—" : Math.round(w.longest_wait_seconds) + " 秒"));
    set("calls_in_progress", w.calls_in_progress);
    set("calls_ringing", w.calls_ringing);
    set("answer_rate", pct(w.answer_rate));
    set("calls_offered", w.calls_offered);
    set("answered_by_agents", w.answered_by_agents);
    set("service_level", pct(w.service_level));
    set("service_level_met", w.service_level_met === null ? "暂无数据" : (w.service_level_met ? "达标" : "未达标"));
    document.getElementById("tile-sl").classList.toggle("bad", w.service_level_met === false);
    set("within_three_rings", pct(w.within_three_rings));
    set("abandon_rate", pct(w.abandon_rate));
    set("silent_call_rate", pct(w.silent_call_rate));
    set("silent_calls", w.silent_calls);
    set("open_orders", w.open_orders);
    set("overdue_orders", w.overdue_orders);
    showHealthAlert(w.health_alert);
    document.getElementById("tile-waiting").classList.toggle("bad", w.calls_waiting > 0 && w.longest_wait_seconds > 15);
    const body = document.getElementById("agents");
    body.textContent = "";
    w.agents.forEach(function (a) {
      const row = ccEl("tr", { "data-state": a.state });
      row.appendChild(ccEl("td", {}, a.label));
      row.appendChild(ccEl("td", { class: "num" }, a.count));
      body.appendChild(row);
    });
    if (w.unreachable_seats && w.unreachable_seats.length) {  // no call is offered to these seats
      const row = ccEl("tr", { class: "warn", "data-state": "unreachable" });
      row.appendChild(ccEl("td", {}, "话机未注册/不可达"));
      row.appendChild(ccEl("td", { class: "num" }, w.unreachable_seats.join(", ")));
      body.appendChild(row);
    }
    // Inline SVG built and escaped by the server's chart functions (callcenter.metrics.charts).
    document.getElementById("chart").innerHTML = w.chart_svg;
    document.getElementById("rings-chart").innerHTML = w.rings_svg;
    if (window.ccMonitor) window.ccMonitor.render(w);  // the live calls and their monitoring controls
    set("updated", new Date().toLocaleTimeString("zh-CN"));
  }

  // today's daily self-check was red; the banner names the red components and links the health board.
  function showHealthAlert(alert) {
    const box = document.getElementById("health-alert");
    if (!box) return;
    box.hidden = !alert;
    box.textContent = "";
    if (!alert) return;
    box.appendChild(ccEl("b", {}, "运行检查告警 " + alert.day + ":"));
    const names = alert.red.map(function (c) { return c.name + "(" + c.reason + ")"; }).join(";");
    box.appendChild(document.createTextNode(" " + names + " "));
    box.appendChild(ccEl("a", { href: "/health", style: "color:#fff" }, "查看运行检查"));
  }

  function refresh() {
    if (pending) return pending;
    pending = new Promise(function (resolve) { setTimeout(resolve, 250); })
      .then(function () { return live.api("/api/wallboard"); })
      .then(render)
      .catch(function (e) { set("updated", "出错:" + e.message); })
      .finally(function () { pending = null; });
    return pending;
  }

  live.onEvent(function (event) {
    if (!event) return;
    events += 1;
    set("event-count", events);
    refresh();
  });
  // Agents change state without a timeline event: a slow poll keeps that row honest.
  setInterval(refresh, 5000);
  live.api("/api/wallboard").then(function (w) { render(w); live.start(w.last_id); });
})();
