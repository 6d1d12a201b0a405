// The console's only script; every page works without it (plain HTML forms).
document.addEventListener("submit", function (event) {
  // A second click while the first submit is on its way would resend the form; the form's
  // idempotency key makes that harmless, and this keeps it from happening at all.
  var form = event.target;
  if (form.method !== "post" || form.classList.contains("exports")) { return; }
  if (form.dataset.sent) { event.preventDefault(); return; }
  form.dataset.sent = "1";
  form.querySelectorAll("button[type=submit]").forEach(function (b) { b.disabled = true; });
});
document.addEventListener("click", function (event) {
  var button = event.target.closest("button.copy");
  if (!button || !navigator.clipboard) { return; }
  var source = document.getElementById(button.dataset.copy);
  if (source) { navigator.clipboard.writeText(source.textContent.trim()); }
});
