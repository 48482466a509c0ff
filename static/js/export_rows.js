// The export button says how many rows the file will hold: the control group chosen changes it.
(function () {
  "use strict";
  document.querySelectorAll("select[data-rows-target]").forEach(function (select) {
    var target = document.getElementById(select.getAttribute("data-rows-target"));
    if (!target) return;
    function update() {
      var rows = Number(select.options[select.selectedIndex].getAttribute("data-rows") || 0);
      target.textContent = rows.toLocaleString("en") + (rows === 1 ? " customer" : " customers");
      var button = target.closest("button");
      if (button && button.textContent.indexOf("Download") === 0) button.disabled = rows === 0;
    }
    select.addEventListener("change", update);
  });
})();
