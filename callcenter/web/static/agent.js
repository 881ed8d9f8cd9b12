// Agent panel: everything shown comes from /api/agent/panel, refreshed whenever a timeline event of this
// seat's calls arrives; ring counts update straight from agent.ringing events.
"use strict";
(function () {
  const live = window.ccLive;
  const PHASES = { ivr: "语音导航中", queued: "排队中", ringing: "振铃中", talking: "通话中", hold: "保持中", ended: "已结束" };
  const BY = { caller: "客户", agent: "坐席", system: "系统" };
  let panel = null;
  let refreshing = null;

  function $(id) { return document.getElementById(id); }
  function showError(message) { const el = $("panel-error"); el.textContent = message; el.hidden = !message; }

  function render(p) {
    panel = p;
    $("agent-state").textContent = p.agent.state_label + (p.agent.reason_label ? "·" + p.agent.reason_label : "");
    $("agent-state").dataset.state = p.agent.state;
    const call = p.call;
    const box = $("call-box");
    box.className = "call-box " + (call ? call.phase : "idle");
    $("call-phase").textContent = call ? PHASES[call.phase] || call.phase : "暂无来电";
    $("caller-number").textContent = call ? (call.caller || "未知号码") : "—";
    const addr = p.address || {};
    $("caller-name").textContent = addr.surname ? addr.surname + (addr.honorific || "") : "";
    renderRings(call, p.ring_limit);
    $("answer-hint").hidden = !(call && call.phase === "ringing");
    const card = p.card;
    $("script-card").textContent = card ? card.text : "—";
    $("card-hint").textContent = card ? card.hint : "";
    $("script-where").textContent = call && call.script ? (p.script_label || call.script) + (call.script_state ? " · " + call.script_state : "") : "—";
    $("silence-windows").textContent = call && call.silence_windows ? "静默窗口 " + call.silence_windows + "/3" : "";
    const talking = call && (call.phase === "talking" || call.phase === "hold");
    renderButtons(p.buttons, talking);
    $("release").disabled = !talking;
    const refused = $("release-refused");
    refused.hidden = !(talking && call.release_refused);
    refused.textContent = call && call.release_refused ? "不能挂机:" + call.release_refused : "";
    const ended = $("call-ended");
    ended.hidden = !(call && call.phase === "ended");
    if (call && call.phase === "ended") {
      ended.textContent = "通话已结束:" + (BY[call.ended_by] || call.ended_by) + "挂机 · " + (call.disposition || "—");
    }
    renderPastOrders(p.past_orders);
    $("order-submit").disabled = !call;
    $("unresolved").disabled = !call || !call.answered_at;
    // The softphone (softphone/panel.js) follows the same state: the call's id and phase, the ring limit.
    document.dispatchEvent(new CustomEvent("cc:panel", { detail: p }));
  }

  function renderRings(call, limit) {
    const ring = call && (call.phase === "ringing") ? call.ring : (call && call.answer_rings) || 0;
    document.querySelectorAll(".ring-dot").forEach(function (dot) {
      const n = Number(dot.dataset.ring);
      dot.classList.toggle("on", n <= ring);
      dot.classList.toggle("late", ring > limit);
    });
    let text = "—";
    if (call && call.phase === "ringing") text = "第 " + ring + " 声 / " + limit;
    else if (call && call.answer_rings) text = "响 " + call.answer_rings + " 声接听";
    $("ring-count").textContent = text;
  }

  function renderButtons(buttons, talking) {
    const box = $("situations");
    box.textContent = "";
    buttons.forEach(function (b) {
      const btn = ccEl("button", { type: "button", "data-script": b.script, title: b.rule }, b.label);
      btn.disabled = !talking || !b.enabled;
      if (panel.call && panel.call.script === b.script && panel.call.phase !== "ended") btn.classList.add("running");
      btn.addEventListener("click", function () { act("/api/agent/script", { script: b.script }); });
      box.appendChild(btn);
    });
  }

  function renderPastOrders(orders) {
    const list = $("past-orders");
    list.textContent = "";
    if (!orders.length) { list.appendChild(ccEl("li", { class: "muted" }, "无")); return; }
    orders.forEach(function (o) {
      list.appendChild(ccEl("li", {}, o.number + " · " + o.summary + " · " + o.status));
    });
  }

  async function act(path, body) {
    if (!panel || !panel.call) return;
    showError("");
    try {
      await live.api(path, Object.assign({ call_id: panel.call.call_id }, body || {}));
    } catch (e) { showError(e.message); }
    refresh();
  }

  async function refresh() {
    if (refreshing) return refreshing;
    refreshing = live.api("/api/agent/panel").then(render).catch(function (e) { showError(e.message); })
      .finally(function () { refreshing = null; });
    return refreshing;
  }

  document.querySelectorAll("#state-buttons button").forEach(function (btn) {
    btn.addEventListener("click", async function () {
      showError("");
      const body = { state: btn.dataset.state };
      if (body.state === "not_ready") body.reason = $("not-ready-reason").value;  // 小休, 用餐, 培训, 会议, …
      try { await live.api("/api/agent/state", body); } catch (e) { showError(e.message); }
      refresh().then(refreshCallbacks);
    });
  });
  $("release").addEventListener("click", function () { act("/api/agent/release"); });
  $("unresolved").addEventListener("click", async function () {
    if (!panel || !panel.call) return;
    showError("");
    try {
      const noted = await live.api("/api/agent/unresolved", { call_id: panel.call.call_id });
      $("unresolved-done").textContent = "已安排回访 #" + noted.task + (noted.calls > 1 ? "(今日第 " + noted.calls + " 次)" : "");
    } catch (e) { showError(e.message); }
  });
  $("address-form").addEventListener("submit", function (e) {
    e.preventDefault();
    act("/api/agent/address", { surname: $("surname").value, honorific: $("honorific").value });
  });
  $("order-form").addEventListener("submit", async function (e) {
    e.preventDefault();
    if (!panel || !panel.call) return;
    showError("");
    try {
      const order = await live.api("/api/workorders", {
        call_id: panel.call.call_id, category: $("order-category").value, major: $("order-major").checked,
        confidential: $("order-confidential").checked, summary: $("order-summary").value,
      });
      $("order-number").textContent = order.number;
      const body = $("order-deadlines");
      body.textContent = "";
      order.deadlines.forEach(function (d) {
        const row = ccEl("tr", { class: "deadline" });
        row.appendChild(ccEl("td", {}, d.title));
        row.appendChild(ccEl("td", {}, d.limit));
        row.appendChild(ccEl("td", {}, d.due_at ? d.due_at.replace("T", " ") : "结案后起算"));
        body.appendChild(row);
      });
      $("order-result").hidden = false;
      $("order-summary").value = "";
    } catch (err) { showError(err.message); }
  });

  // The callback queue (回访): due preview callbacks of this seat; "呼叫" rings the agent's phone, then the
  // customer's, and the call then shows above like an inbound one.
  const KINDS = { closing: "结案回访", complaint: "投诉回访", missed: "未接来电", unresolved: "未解决来电",
                  periodic: "定期回访", questionnaire: "问卷回访" };
  let callbacksLoading = null;

  function callbackItem(c, canDial) {
    const li = ccEl("li", { class: "callback", "data-task": String(c.id) });
    const head = ccEl("p", { class: "callback-head" });
    head.appendChild(ccEl("strong", {}, (KINDS[c.kind] || c.kind) + (c.level ? " L" + c.level : "")));
    head.appendChild(ccEl("span", {}, " " + (c.order || c.campaign) + " · " + c.number +
                          (c.customer ? " · " + c.customer : "")));
    li.appendChild(head);
    if (c.summary) li.appendChild(ccEl("p", { class: "callback-summary" }, c.summary));
    li.appendChild(ccEl("blockquote", { class: "script-card callback-opening" }, c.opening));
    const facts = ["第 " + (c.attempts + 1) + " 次 / 最多 " + c.max_attempts];
    if (c.calls > 1) facts.push("来电 " + c.calls + " 次");
    if (c.recordings.length) facts.push("录音 " + c.recordings.length + " 条");
    if (c.booked_at) facts.push("约定 " + c.booked_at.replace("T", " ").slice(0, 16));
    li.appendChild(ccEl("p", { class: "hint" }, facts.join(" · ")));
    c.history.forEach(function (h) {
      li.appendChild(ccEl("p", { class: "hint" }, h.at.replace("T", " ").slice(0, 16) + " " + h.actor + " " + h.action));
    });
    const btn = ccEl("button", { type: "button", class: "primary" }, "呼叫");
    btn.disabled = !canDial;
    btn.addEventListener("click", async function () {
      btn.disabled = true;
      showCallbackError("");
      try { await live.api("/api/agent/callbacks/" + c.id + "/call", {}); }
      catch (e) { showCallbackError(e.message); btn.disabled = false; return; }
      li.classList.add("dialling");
      btn.textContent = "正在呼叫…";
    });
    li.appendChild(btn);
    return li;
  }

  function showCallbackError(message) { const el = $("callback-error"); el.textContent = message; el.hidden = !message; }

  async function refreshCallbacks() {
    if (callbacksLoading) return callbacksLoading;
    callbacksLoading = live.api("/api/agent/callbacks").then(function (q) {
      const list = $("callbacks");
      list.textContent = "";
      if (!q.callbacks.length) { list.appendChild(ccEl("li", { class: "muted" }, "暂无待回访")); return; }
      const ready = panel && panel.agent.state === "ready" && !panel.call;
      q.callbacks.forEach(function (c) { list.appendChild(callbackItem(c, q.dialer && ready)); });
    }).catch(function (e) { showCallbackError(e.message); }).finally(function () { callbacksLoading = null; });
    return callbacksLoading;
  }
  setInterval(refreshCallbacks, 15000);

  live.onEvent(function (event) {
    if (event && (event.type === "call.hangup" || event.type === "call.offered")) refreshCallbacks();
  });
  live.onEvent(function (event) {
    if (!event) return;
    if (event.type === "agent.ringing" && panel && panel.call && panel.call.call_id === event.call_id) {
      panel.call.ring = event.data.ring;  // immediate, before the refresh lands
      renderRings(panel.call, panel.ring_limit);
    }
    refresh();
  });
  refresh().then(function () { live.start(panel ? panel.last_id : 0); refreshCallbacks(); });
})();
