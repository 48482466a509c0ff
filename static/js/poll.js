/* Keeps a page up to date while background work runs, without reloading it every few seconds.

   <div data-poll-url="/imports/7/status.json"> … <span data-field="rows">…</span>
     <div class="progress"><div class="progress-bar" data-bar="import"></div></div>

   Every 2 s it fetches the JSON {done, fields: {name: text}, bars: {name: percent}} and updates the
   elements named by data-field / data-bar. When the work is done it reloads the page once, so the final
   figures, links and messages come from the server. No network access beyond this site. */
(function () {
  "use strict";
  var root = document.querySelector("[data-poll-url]");
  if (!root || !window.fetch) return;
  var url = root.getAttribute("data-poll-url");
  var delay = 2000;
  var failures = 0;

  function apply(data) {
    var fields = data.fields || {};
    Object.keys(fields).forEach(function (name) {
      document.querySelectorAll('[data-field="' + name + '"]').forEach(function (el) {
        el.textContent = fields[name];
      });
    });
    var bars = data.bars || {};
    Object.keys(bars).forEach(function (name) {
      document.querySelectorAll('[data-bar="' + name + '"]').forEach(function (el) {
        el.style.width = Math.max(0, Math.min(100, bars[name])) + "%";
        el.setAttribute("aria-valuenow", String(bars[name]));
      });
    });
  }

  function tick() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { if (!r.ok) throw new Error(String(r.status)); return r.json(); })
      .then(function (data) {
        failures = 0;
        apply(data);
        if (data.done) { window.location.reload(); return; }
        window.setTimeout(tick, delay);
      })
      .catch(function () {
        // A restarting server or a dropped connection: back off, then keep trying.
        failures += 1;
        window.setTimeout(tick, Math.min(30000, delay * Math.pow(2, failures)));
      });
  }
  window.setTimeout(tick, delay);
})();
