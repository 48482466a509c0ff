// A button with `data-copy="ID"` copies the value of the field ID (a new API token, shown once) to the clipboard
// and says "Copied"; without the clipboard API (an http:// address) it selects the text for Ctrl+C. The button
// is hidden until this script runs, so a browser without scripts shows no button that does nothing.
(function () {
  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    var field = document.getElementById(button.dataset.copy);
    if (!field) return;
    var label = button.textContent;
    button.hidden = false;
    button.addEventListener("click", function () {
      var done = function (text) {
        button.textContent = text;
        setTimeout(function () { button.textContent = label; }, 2000);
      };
      field.select();
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(field.value).then(function () { done("Copied"); },
                                                         function () { done("Press Ctrl+C"); });
      } else {
        done(document.execCommand && document.execCommand("copy") ? "Copied" : "Press Ctrl+C");
      }
    });
  });
})();
