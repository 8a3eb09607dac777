// Upload progress: poll the job endpoint and move the bar; reload when the job ends so the
// server renders the final results. Without JavaScript a <noscript> meta refresh does the same.
(function () {
  "use strict";
  var box = document.getElementById("job");
  if (!box || !window.fetch) return;
  var id = box.getAttribute("data-job");
  var bar = document.getElementById("job-bar");
  var status = document.getElementById("job-status");
  var count = document.getElementById("job-count");
  var progress = bar ? bar.parentNode : null;

  function label(job) {
    if (job.phase === "indexing") return "Đang cập nhật chỉ mục tìm kiếm…";
    if (job.phase === "reading") return "Đang đọc tệp " + job.done + "/" + job.total + "…";
    return "Đang chờ xử lý…";
  }

  function tick() {
    fetch("/api/jobs/" + encodeURIComponent(id), { headers: { Accept: "application/json" } })
      .then(function (r) { return r.json(); })
      .then(function (job) {
        if (!job || job.error && !job.status) { window.location.reload(); return; }
        var pct = Math.round((job.progress || 0) * 100);
        if (bar) bar.style.width = pct + "%";
        if (progress) progress.setAttribute("aria-valuenow", String(pct));
        if (count) count.textContent = job.done + "/" + job.total + " tệp đã xử lý";
        if (job.status === "done" || job.status === "failed") { window.location.reload(); return; }
        if (status) status.textContent = label(job);
        window.setTimeout(tick, 800);
      })
      .catch(function () { window.setTimeout(tick, 2000); });
  }
  window.setTimeout(tick, 400);
})();
