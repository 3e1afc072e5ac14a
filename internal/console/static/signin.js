"use strict";

(function () {
  const W = window.Warden;
  W.$("signin-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    W.error("signin-error", "");
    const field = W.$("signin-token");
    const token = W.bearer(field.value);
    if (!token) {
      W.error("signin-error", "Paste a token first.");
      field.focus();
      return;
    }
    const r = await W.api("POST", "/console/api/session", { token });
    if (!r.ok) {
      W.error("signin-error", W.message(r));
      field.focus();
      return;
    }
    field.value = "";
    window.location.assign("/console/tokens");
  });
})();
