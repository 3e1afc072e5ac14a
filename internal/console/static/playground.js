"use strict";

(function () {
  const W = window.Warden;

  function renderStatus(st) {
    const e = st.engine;
    const loaded = W.el("span", { class: "pill " + (e.loaded ? "allow" : "deny"), text: e.loaded ? "loaded" : "NOT LOADED: every request is denied" });
    const pairs = [
      ["status", loaded],
      ["revision", e.revision],
      ["digest", e.digest ? W.el("code", { text: e.digest }) : null],
      ["loaded", e.loaded_at ? W.fmtTime(e.loaded_at) + " (" + W.rel(new Date(e.loaded_at)) + ")" : null],
      ["policies", String(e.policies)],
      ["load failures", String(e.failures)],
    ];
    if (st.source) {
      pairs.push(["source", st.source.source]);
      if (st.source.last_check) pairs.push(["last check", W.fmtTime(st.source.last_check)]);
    }
    W.kv("bundle-status", pairs);
    const lastErr = e.last_error || (st.source && st.source.last_error);
    const at = e.last_error_at || (st.source && st.source.last_error_at);
    W.error("bundle-error", lastErr ? "Last load error" + (at ? " (" + W.fmtTime(at) + ")" : "") + ": " + lastErr : "");
  }

  async function loadStatus() {
    const r = await W.api("GET", "/console/api/policy/status");
    if (r.ok) renderStatus(r.data);
    else W.error("bundle-error", W.message(r));
  }

  const principal = () => document.querySelector('input[name="principal"]:checked').value;
  for (const r of document.querySelectorAll('input[name="principal"]')) {
    r.addEventListener("change", () => {
      W.show("eval-claims-box", principal() === "claims");
      W.show("eval-token-box", principal() === "token");
    });
  }

  function jsonObject(id, name) {
    const s = W.$(id).value.trim();
    if (!s) return undefined;
    let v;
    try { v = JSON.parse(s); } catch (e) { throw new Error(name + " is not valid JSON"); }
    if (v === null || typeof v !== "object" || Array.isArray(v)) throw new Error(name + " must be a JSON object");
    return v;
  }

  W.$("eval-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    W.error("eval-error", "");
    const body = { action: W.$("eval-action").value.trim(), resource: W.$("eval-resource").value.trim() };
    try {
      if (principal() === "token") body.token = W.bearer(W.$("eval-token").value);
      else body.claims = jsonObject("eval-claims", "Claims");
      body.attributes = jsonObject("eval-attrs", "Resource attributes");
      body.context = jsonObject("eval-context", "Context");
    } catch (e) {
      W.error("eval-error", e.message);
      return;
    }
    const r = await W.api("POST", "/console/api/policy/eval", body);
    if (!r.ok) {
      W.error("eval-error", W.message(r));
      W.show("eval-out", false);
      return;
    }
    const d = r.data.decision;
    const v = W.$("eval-verdict");
    v.textContent = d.allowed ? "ALLOW" : "DENY";
    v.className = "verdict " + (d.allowed ? "allow" : "deny");
    W.show("eval-unverified", !!r.data.unverified_token);
    const reasons = (d.reasons || []).map((x) => W.el("li", {},
      W.el("strong", { text: (x.effect === "forbid" ? "forbidden by " : "permitted by ") + x.policy }),
      x.reason ? ": " + x.reason : "", x.file ? " (" + x.file + ":" + x.line + ")" : ""));
    if (reasons.length === 0) reasons.push(W.el("li", { text: d.allowed ? "allowed" : "none: default deny (no policy permits it)" }));
    for (const e of d.errors || []) reasons.push(W.el("li", { class: "deny", text: "error: " + e }));
    W.$("eval-reasons").replaceChildren(...reasons);
    W.text("eval-explain", r.data.explain);
    W.text("eval-json", W.pretty(d));
    W.show("eval-empty", false);
    W.show("eval-out", true);
    renderStatus(r.data.status);
  });

  W.ready.then((s) => {
    if (!s) return;
    // Start the example claims at the signed-in issuer, so that its claim
    // mapping applies.
    const claims = W.$("eval-claims");
    if (claims.value === claims.defaultValue && s.issuer) {
      const c = JSON.parse(claims.defaultValue);
      c.iss = s.issuer;
      claims.value = JSON.stringify(c);
    }
    loadStatus();
  });
})();
