// Health board: /api/health refetched every few seconds; the rows are rebuilt from the JSON.
"use strict";
(function () {
  const live = window.ccLive;
  const every = Number(document.currentScript.dataset.refresh || 5) * 1000;
  const timeZone = document.currentScript.dataset.tz;  // the centre's time, as the server renders it
  const labels = { green: "正常", amber: "注意", red: "故障" };

  function set(id, text) { const el = document.getElementById(id); if (el) el.textContent = text; }
  function localTime(iso) {
    if (!iso) return "—";
    const at = new Date(iso);
    const part = function (opts) { return at.toLocaleString("sv-SE", Object.assign({ timeZone: timeZone }, opts)); };
    return part({ dateStyle: "short" }) + " " + part({ timeStyle: "medium", hour12: false });
  }
  function dot(status) { return ccEl("span", { class: "dot", "data-status": status }); }

  function statusCell(status) {
    const td = ccEl("td");
    td.appendChild(dot(status));
    td.appendChild(document.createTextNode(" " + labels[status]));
    return td;
  }

  function render(h) {
    document.getElementById("summary").dataset.status = h.status;
    document.getElementById("overall-dot").dataset.status = h.status;
    set("overall", labels[h.status]);
    set("ready", h.ready ? "可接听来电" : "不能接听来电");
    set("checked-at", localTime(h.checked_at));
    const body = document.getElementById("components");
    body.textContent = "";
    h.components.forEach(function (c) {
      const row = ccEl("tr", { "data-status": c.status, "data-name": c.name });
      row.appendChild(statusCell(c.status));
      const name = ccEl("td", {}, c.name);
      if (c.blocks_calls) { name.appendChild(document.createTextNode(" ")); name.appendChild(ccEl("small", {}, "接听必需")); }
      row.appendChild(name);
      row.appendChild(ccEl("td", { class: "value" }, c.value));
      row.appendChild(ccEl("td", {}, c.reason));
      body.appendChild(row);
    });
    const reg = document.getElementById("register");
    reg.textContent = "";
    if (!h.register.length) {
      const row = ccEl("tr", { class: "empty" });
      row.appendChild(ccEl("td", { colspan: "4", class: "muted" }, "尚无登记"));
      reg.appendChild(row);
    }
    h.register.forEach(function (r) {
      const row = ccEl("tr", { "data-status": r.status });
      row.appendChild(ccEl("td", {}, r.day));
      row.appendChild(statusCell(r.status));
      row.appendChild(ccEl("td", {}, localTime(r.checked_at)));
      row.appendChild(ccEl("td", {}, r.summary));
      reg.appendChild(row);
    });
  }

  function refresh() {
    live.api("/api/health").then(render).catch(function (e) { set("checked-at", "出错:" + e.message); });
  }
  setInterval(refresh, every);
})();
