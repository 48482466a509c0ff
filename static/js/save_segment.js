// "Save as segment & export CSV" is a <details> whose summary looks like a button: a click on it opens the name
// form and puts the cursor in the name field; a click while the form is already open (the list of a "top N" opens
// it by itself) never hides it, it focuses the field again.
(function () {
  document.querySelectorAll("details.save-segment").forEach(function (details) {
    var summary = details.querySelector("summary");
    var name = details.querySelector("input[name=name]");
    if (!summary || !name) return;
    summary.addEventListener("click", function (event) {
      if (details.open) {
        event.preventDefault();
        name.focus();
        name.scrollIntoView({block: "nearest"});
      }
    });
    details.addEventListener("toggle", function () {
      if (details.open) name.focus();
    });
  });
})();
