"use strict";

(function () {
  const W = window.Warden;

  // b64url decodes one unpadded base64url segment to bytes, strictly.
  function b64url(seg) {
    if (!/^[A-Za-z0-9_-]*$/.test(seg)) throw new Error("not base64url (padding, '+' or '/' or other characters)");
    if (seg.length % 4 === 1) throw new Error("not a valid base64url length");
    const s = seg.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((seg.length + 3) % 4);
    const bin = atob(s);
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }

  function jsonSegment(seg, what) {
    let text;
    try {
      text = new TextDecoder("utf-8", { fatal: true }).decode(b64url(seg));
    } catch (e) {
      throw new Error(what + ": " + e.message);
    }
    let v;
    try { v = JSON.parse(text); } catch (e) { throw new Error(what + " is not JSON"); }
    if (v === null || typeof v !== "object" || Array.isArray(v)) throw new Error(what + " is not a JSON object");
    return v;
  }

  // decode splits and decodes a compact JWS without verifying anything.
  function decode(token) {
    const parts = token.split(".");
    if (parts.length === 5) throw new Error("five segments: this is an encrypted token (JWE), which Warden does not accept");
    if (parts.length !== 3) throw new Error("a JWT has three dot-separated segments; this has " + parts.length);
    return { header: jsonSegment(parts[0], "header"), claims: jsonSegment(parts[1], "payload"), signed: parts[2].length > 0 };
  }

  function numericDate(c, name, warn) {
    if (!(name in c)) return null;
    const v = c[name];
    if (typeof v !== "number" || !isFinite(v)) {
      warn.push('"' + name + '" is not a number');
      return null;
    }
    return new Date(v * 1000);
  }

  const has = (o, k) => Object.prototype.hasOwnProperty.call(o, k);

  // warnings mirrors `warden token decode`: what makes the token dangerous
  // or unacceptable to Warden.
  function warnings(h, c, signed, now) {
    const w = [];
    const alg = h.alg;
    if (alg === undefined) w.push('no "alg" header: no verifier can check this token');
    else if (typeof alg !== "string") w.push('"alg" header is not a string');
    else if (alg.toLowerCase() === "none") w.push('alg "' + alg + '": the token is UNSIGNED; anyone can write it, and no verifier may accept it');
    else if (/^hs/i.test(alg)) w.push('alg "' + alg + '" is symmetric (HMAC): whoever can verify it can also mint it');
    if (!signed) w.push("the signature segment is empty: the token is unsigned");
    for (const k of ["jku", "x5u"]) {
      if (has(h, k)) w.push('header "' + k + '" names a URL to fetch keys from, chosen by whoever wrote the token; Warden never fetches it and rejects the token');
    }
    for (const k of ["jwk", "x5c"]) {
      if (has(h, k)) w.push('header "' + k + '" embeds a key in the token: a token that brings its own key proves nothing; Warden rejects it');
    }
    const others = { crit: "marks extensions the verifier must understand", b64: "asks for an unencoded payload (RFC 7797)",
      zip: "asks for a compressed payload", enc: "is a JWE (encryption) header", cty: "declares nested content" };
    for (const [k, why] of Object.entries(others)) {
      if (has(h, k)) w.push('header "' + k + '" ' + why + "; Warden rejects it");
    }
    if (!has(c, "aud")) w.push('no "aud": any service that trusts the issuer would accept this token');
    const exp = numericDate(c, "exp", w), nbf = numericDate(c, "nbf", w), iat = numericDate(c, "iat", w);
    if (!has(c, "exp")) w.push('no "exp": the token never expires; Warden rejects it');
    if (exp && exp <= now) w.push("expired " + W.rel(exp, now));
    if (nbf && nbf > now) w.push("not valid yet: nbf is " + W.rel(nbf, now));
    if (iat && iat > now) w.push("issued in the future: iat is " + W.rel(iat, now));
    if (exp && iat && exp - iat > 24 * 3600 * 1000) w.push("long-lived: valid for more than a day after issue");
    return { w, exp, nbf, iat };
  }

  function when(d, now) {
    return d ? d.toISOString() + " (" + W.rel(d, now) + ")" : null;
  }

  function showDecode() {
    const token = W.bearer(W.$("token").value);
    W.error("decode-error", "");
    W.show("decode-out", false);
    W.show("decode-empty", !token);
    if (!token) return;
    let d;
    try {
      d = decode(token);
    } catch (e) {
      W.error("decode-error", "Cannot decode: " + e.message);
      return;
    }
    const now = new Date();
    const { w, exp, nbf, iat } = warnings(d.header, d.claims, d.signed, now);
    const ul = W.$("decode-warnings");
    ul.replaceChildren(...w.map((s) => W.el("li", { text: s })));
    W.show("decode-nowarn", w.length === 0);
    const c = d.claims;
    const list = (v) => Array.isArray(v) ? v.join(", ") : (typeof v === "string" ? v : null);
    W.kv("decode-summary", [
      ["alg", typeof d.header.alg === "string" ? d.header.alg : null],
      ["kid", typeof d.header.kid === "string" ? d.header.kid : null],
      ["typ", typeof d.header.typ === "string" ? d.header.typ : null],
      ["issuer", typeof c.iss === "string" ? c.iss : null],
      ["subject", typeof c.sub === "string" ? c.sub : null],
      ["audience", list(c.aud)],
      ["roles", list(c.roles)],
      ["scopes", typeof c.scope === "string" ? c.scope : list(c.scp)],
      ["tenant", typeof c.tenant === "string" ? c.tenant : null],
      ["issued", when(iat, now)],
      ["not before", when(nbf, now)],
      ["expires", when(exp, now)],
    ]);
    W.text("decode-header", W.pretty(d.header));
    W.text("decode-claims", W.pretty(d.claims));
    W.show("decode-out", true);
  }

  W.$("token").addEventListener("input", showDecode);
  W.$("decode-btn").addEventListener("click", showDecode);
  W.$("token-form").addEventListener("submit", (ev) => { ev.preventDefault(); showDecode(); });

  const source = () => document.querySelector('input[name="source"]:checked').value;
  for (const r of document.querySelectorAll('input[name="source"]')) {
    r.addEventListener("change", () => W.show("verify-keys", source() === "keys"));
  }

  W.$("verify-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    W.error("verify-error", "");
    W.show("verify-out", false);
    const token = W.bearer(W.$("token").value);
    if (!token) {
      W.error("verify-error", "Paste a token in the Token box first.");
      W.$("token").focus();
      return;
    }
    const body = { token, source: source() };
    if (body.source === "keys") {
      body.keys = W.$("verify-keytext").value;
      body.iss = W.$("verify-iss").value.trim();
      body.aud = W.$("verify-aud").value.trim() ? [W.$("verify-aud").value.trim()] : [];
      if (W.$("verify-alg").value) body.alg = [W.$("verify-alg").value];
    }
    const r = await W.api("POST", "/console/api/token/verify", body);
    if (!r.ok) {
      W.error("verify-error", W.message(r));
      return;
    }
    const v = W.$("verify-verdict");
    v.textContent = r.data.valid ? "VALID" : "INVALID";
    v.className = "verdict " + (r.data.valid ? "allow" : "deny");
    if (r.data.valid) {
      W.kv("verify-detail", [["subject", r.data.subject], ["expires", when(new Date(r.data.expires), new Date())],
        ["claims", W.el("pre", { text: W.pretty(r.data.claims) })]]);
    } else {
      W.kv("verify-detail", [["failed check", r.data.reason], ["detail", r.data.error]]);
    }
    W.show("verify-out", true);
  });

  // Generation, only when the server has a development signing key.
  W.ready.then(async (s) => {
    if (!s || !s.can_generate) return;
    const r = await W.api("GET", "/console/api/token/presets");
    if (!r.ok || !r.data.enabled) return;
    const presets = r.data.presets;
    const sel = W.$("gen-preset");
    sel.replaceChildren(...presets.map((p) => W.el("option", { value: p.name, text: p.name + " (" + p.roles.join(", ") + ")" })));
    const fill = () => {
      const p = presets.find((x) => x.name === sel.value);
      if (!p) return;
      W.$("gen-subject").value = p.subject;
      W.$("gen-scopes").value = (p.scopes || []).join(" ");
    };
    sel.addEventListener("change", fill);
    fill();
    W.show("generate", true);
  });

  W.$("generate-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    W.error("gen-error", "");
    W.show("gen-out", false);
    const minutes = Number(W.$("gen-ttl").value);
    if (!Number.isInteger(minutes) || minutes < 1 || minutes > 60) {
      W.error("gen-error", "The TTL must be a whole number of minutes from 1 to 60.");
      W.$("gen-ttl").focus();
      return;
    }
    const scopes = W.$("gen-scopes").value.split(/\s+/).filter((s) => s);
    const r = await W.api("POST", "/console/api/token/generate", {
      preset: W.$("gen-preset").value, subject: W.$("gen-subject").value.trim(), scopes,
      tenant: W.$("gen-tenant").value.trim(), env: W.$("gen-env").value, ttl_seconds: minutes * 60,
    });
    if (!r.ok) {
      W.error("gen-error", W.message(r));
      return;
    }
    W.$("gen-token").value = r.data.token;
    W.text("gen-expires", "expires " + W.rel(new Date(r.data.expires)));
    W.show("gen-out", true);
  });

  W.$("gen-use").addEventListener("click", () => {
    W.$("token").value = W.$("gen-token").value;
    showDecode();
    W.$("token").focus();
  });
})();
