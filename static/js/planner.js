/* Campaign planner: recomputes the estimates as the slider moves, from the segment's probabilities
   (in the segment's own order, as its list shows them) embedded in the page as [[probability, spend_12m], ...]. No network calls. */
(function () {
  "use strict";
  var root = document.getElementById("planner");
  var dataEl = document.getElementById("planner-data");
  if (!root || !dataEl) return;
  var rows = JSON.parse(dataEl.textContent);
  var currency = root.getAttribute("data-currency") || "";
  var size = parseInt(root.getAttribute("data-size"), 10) || rows.length;
  // Prefix sums so that any N is answered at once.
  var sumP = [0], sumPV = [0];
  for (var i = 0; i < rows.length; i++) {
    sumP.push(sumP[i] + rows[i][0]);
    sumPV.push(sumPV[i] + rows[i][0] * rows[i][1]);
  }
  var n = document.getElementById("pl-n");
  var cost = document.getElementById("pl-cost");
  var save = document.getElementById("pl-save");
  // The page's language, so the figures read like the server-rendered ones ("1,234").
  var fmt = new Intl.NumberFormat(document.documentElement.lang || "en", { maximumFractionDigits: 0 });
  function num(el) { var v = parseFloat(el.value); return isFinite(v) ? v : 0; }
  // A value outside the field's own min / max (a cost of -5, a keep rate of 150 %) is read at the bound, and the
  // field is marked invalid by the browser: a negative cost once raised the revenue saved.
  function bounded(el) {
    var v = num(el), lo = parseFloat(el.min), hi = parseFloat(el.max);
    if (isFinite(lo) && v < lo) v = lo;
    if (isFinite(hi) && v > hi) v = hi;
    return v;
  }
  function update() {
    var k = Math.max(1, Math.min(rows.length, Math.round(num(n))));
    var reached = sumP[k];
    var wasted = k - reached;
    var net = (bounded(save) / 100) * sumPV[k] - bounded(cost) * k;
    document.getElementById("pl-n-out").textContent = fmt.format(k);
    document.getElementById("pl-reached").textContent = fmt.format(reached);
    document.getElementById("pl-wasted").textContent = fmt.format(wasted);
    document.getElementById("pl-net").textContent = fmt.format(net) + " " + currency;
    // The "list these customers" link follows the slider, so the next step takes exactly the planned ones.
    var link = document.getElementById("pl-link");
    var next = document.getElementById("pl-next");
    if (next) next.hidden = k >= size;  // targeting the whole segment needs no new one
    if (link) {
      link.setAttribute("href", link.getAttribute("data-base") + "&limit=" + k);
      document.getElementById("pl-link-n").textContent = fmt.format(k);
    }
  }
  [n, cost, save].forEach(function (el) { el.addEventListener("input", update); });
  update();
})();
