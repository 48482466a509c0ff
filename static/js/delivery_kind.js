// The delivery form shows only the fields of what "Send to" says (webhook or bucket). Without JS every field
// stays shown and the server reads those of the chosen kind; hidden fields are disabled, so not sent either.
(function () {
  "use strict";
  document.querySelectorAll("select[data-kind-fields]").forEach(function (select) {
    var fieldsets = select.form ? select.form.querySelectorAll("fieldset[data-kind]") : [];
    function update() {
      fieldsets.forEach(function (fieldset) {
        var chosen = fieldset.getAttribute("data-kind") === select.value;
        fieldset.hidden = !chosen;
        fieldset.disabled = !chosen;
      });
    }
    select.addEventListener("change", update);
    update();
  });
})();
