// QA review page: waveform from the recordings service's peaks, a player whose every start is a ledgered
// play, ±5 s jumps, speed, the timeline aligned to the audio, scoring and time-pinned comments.
"use strict";
(function () {
  const live = window.ccLive;
  const data = JSON.parse(document.getElementById("review-data").textContent);
  const audio = document.getElementById("audio");
  const canvas = document.getElementById("wave-canvas");
  const cursor = document.getElementById("wave-cursor");
  let authorised = false;
  function $(id) { return document.getElementById(id); }
  function showError(m) { $("qa-error").textContent = m; $("qa-error").hidden = !m; }
  function duration() { return audio.duration && isFinite(audio.duration) ? audio.duration : (data.duration || 0); }
  function fmt(s) { s = Math.max(0, s || 0); return Math.floor(s / 60) + ":" + String(Math.floor(s % 60)).padStart(2, "0"); }

  function drawWave() {
    const width = canvas.clientWidth || 600;
    canvas.width = width;
    const ctx = canvas.getContext("2d");
    const h = canvas.height;
    ctx.clearRect(0, 0, width, h);
    const total = data.duration || 1;
    ctx.fillStyle = "#fde68a";  // silence segments (R-15 shows up as long pale runs)
    (data.silences || []).forEach(function (s) {
      const a = s[0], b = s[1];  // seconds
      ctx.fillRect(width * a / total, 0, width * (b - a) / total, h);
    });
    const peaks = data.peaks || [];
    ctx.fillStyle = "#2563eb";
    const step = width / Math.max(peaks.length, 1);
    peaks.forEach(function (p, i) {
      const bar = Math.max(1, Math.abs(p) * (h - 4));  // peaks are 0..1
      ctx.fillRect(i * step, (h - bar) / 2, Math.max(1, step - 0.5), bar);
    });
    if (!peaks.length) { ctx.fillStyle = "#6b7280"; ctx.fillText("无波形数据", 8, h / 2); }
  }

  async function authorise() {
    if (authorised) return true;
    try {
      // An approval (申请调阅) travels with every play and is checked again on the server.
      const grant = await live.api("/api/recordings/" + data.id + "/play",
        { purpose: "质检复核", approval_id: data.approval });
      audio.src = grant.url;
      authorised = true;
      return true;
    } catch (e) { showError(e.message); return false; }
  }

  async function seek(t) {
    if (!(await authorise())) return;
    audio.currentTime = Math.max(0, Math.min(t, duration() || t));
  }

  $("play").addEventListener("click", async function () {
    if (!(await authorise())) return;
    if (audio.paused) { audio.play().catch(function (e) { showError(e.message); }); } else { audio.pause(); }
  });
  $("back5").addEventListener("click", function () { seek(audio.currentTime - 5); });
  $("fwd5").addEventListener("click", function () { seek(audio.currentTime + 5); });
  $("speed").addEventListener("change", function () { audio.playbackRate = Number(this.value); });
  audio.addEventListener("play", function () { $("play").textContent = "‖ 暂停"; audio.playbackRate = Number($("speed").value); });
  audio.addEventListener("pause", function () { $("play").textContent = "▶ 播放"; });
  audio.addEventListener("timeupdate", function () {
    const t = audio.currentTime, d = duration();
    $("clock").textContent = fmt(t) + " / " + fmt(d);
    $("comment-at").textContent = t.toFixed(1);
    cursor.style.left = (d ? 100 * t / d : 0) + "%";
    document.querySelectorAll("#timeline li").forEach(function (li) {
      li.classList.toggle("past", Number(li.dataset.t) <= t);
    });
  });
  canvas.addEventListener("click", function (e) {
    const rect = canvas.getBoundingClientRect();
    seek(duration() * (e.clientX - rect.left) / rect.width);
  });
  document.addEventListener("click", function (e) {
    const t = e.target.closest ? e.target.closest(".seek") : null;
    if (t) seek(Number(t.dataset.t));
  });

  $("score-form").addEventListener("submit", async function (e) {
    e.preventDefault();
    const items = {};
    document.querySelectorAll("#score-form fieldset.item").forEach(function (fs) {
      const checked = fs.querySelector("input:checked");
      items[fs.dataset.key] = checked ? JSON.parse(checked.value) : null;
    });
    try {
      const saved = await live.api("/api/recordings/" + data.id + "/review", { items: items, notes: $("notes").value });
      $("score-result").textContent = "已保存:" + saved.score + " 分" + (saved.corrected ? "(已更正预填)" : "");
      const list = $("reviews");
      list.textContent = "";
      list.appendChild(ccEl("li", {}, saved.reviewer + ":" + saved.score + " 分" + (saved.corrected ? "(已更正)" : "")));
    } catch (err) { $("score-result").textContent = "保存失败:" + err.message; }
  });
  $("comment-form").addEventListener("submit", async function (e) {
    e.preventDefault();
    try {
      const c = await live.api("/api/recordings/" + data.id + "/comments", { at: audio.currentTime || 0, text: $("comment-text").value });
      const li = ccEl("li", {});
      li.appendChild(ccEl("button", { type: "button", class: "seek", "data-t": c.at }, c.at.toFixed(1) + " s"));
      li.appendChild(document.createTextNode(" " + c.author + ":" + c.text));
      $("comments").appendChild(li);
      $("comment-text").value = "";
    } catch (err) { showError(err.message); }
  });
  window.addEventListener("resize", drawWave);
  drawWave();
})();
