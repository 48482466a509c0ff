// A text field with a `maxlength` and `data-maxlength-note="ID"` shows the element ID once the field is full:
// the browser silently cuts a longer name (typed or pasted), so the page says so.
(function () {
  document.querySelectorAll("input[maxlength][data-maxlength-note]").forEach(function (input) {
    var note = document.getElementById(input.dataset.maxlengthNote);
    if (!note) return;
    var update = function () { note.hidden = input.value.length < input.maxLength; };
    input.addEventListener("input", update);
    update();
  });
})();
