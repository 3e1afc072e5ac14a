// Warden console: shared helpers. No framework, no build step. Everything
// the server or a token says is rendered with textContent, never as HTML.
"use strict";

(function () {
  const W = {};
  let session = null;

  W.$ = (id) => document.getElementById(id);

  W.show = (node, on) => {
    if (typeof node === "string") node = W.$(node);
    if (node) node.classList.toggle("hidden", !on);
  };

  W.text = (id, s) => { W.$(id).textContent = s; };

  W.el = (tag, props, ...kids) => {
    const n = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (k === "class") n.className = v;
      else if (k === "text") n.textContent = v;
      else if (k.startsWith("on")) n.addEventListener(k.slice(2), v);
      else n.setAttribute(k, v);
    }
    for (const kid of kids) if (kid != null) n.append(kid);
    return n;
  };

  // kv fills a <dl> with [term, value] pairs; values may be nodes.
  W.kv = (id, pairs) => {
    const dl = W.$(id);
    dl.replaceChildren();
    for (const [k, v] of pairs) {
      if (v === undefined || v === null || v === "") continue;
      dl.append(W.el("dt", { text: k }), W.el("dd", {}, v instanceof Node ? v : String(v)));
    }
  };

  W.error = (id, msg) => {
    const n = W.$(id);
    n.textContent = msg || "";
    W.show(n, !!msg);
  };

  // rel describes a time relative to now: "in 14 minutes", "3 hours ago".
  W.rel = (date, now) => {
    now = now || new Date();
    let s = Math.round((date.getTime() - now.getTime()) / 1000);
    const future = s >= 0;
    s = Math.abs(s);
    const units = [["day", 86400], ["hour", 3600], ["minute", 60], ["second", 1]];
    let out = "now";
    for (const [name, size] of units) {
      if (s >= size) {
        const n = Math.floor(s / size);
        out = n + " " + name + (n === 1 ? "" : "s");
        break;
      }
    }
    if (out === "now") return "just now";
    return future ? "in " + out : out + " ago";
  };

  W.fmtTime = (iso) => {
    const d = new Date(iso);
    return isNaN(d) ? String(iso) : d.toLocaleString();
  };

  W.pretty = (v) => JSON.stringify(v, null, 2);

  // api calls the console API. State-changing calls carry the session's
  // CSRF token. It resolves to {ok, status, data}; data.error.message is the
  // server's public message.
  W.api = async (method, path, body) => {
    const headers = { "Accept": "application/json" };
    const init = { method, headers, credentials: "same-origin", cache: "no-store", redirect: "error" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    if (method !== "GET" && session) headers["X-CSRF-Token"] = session.csrf;
    let res;
    try {
      res = await fetch(path, init);
    } catch (e) {
      return { ok: false, status: 0, data: { error: { message: "the server did not answer" } } };
    }
    let data = {};
    try { data = await res.json(); } catch (e) { data = {}; }
    if (res.status === 401 && data.error && data.error.code === "no_session") {
      window.location.assign("/console/");
    }
    return { ok: res.ok, status: res.status, data };
  };

  W.message = (r) => {
    const e = r.data && r.data.error;
    if (!e) return "request failed (HTTP " + r.status + ")";
    return e.message + (e.request_id ? " (request " + e.request_id + ")" : "");
  };

  // ready resolves with the session once the page knows who is signed in.
  W.ready = (async () => {
    if (!W.$("who")) return null;
    const r = await W.api("GET", "/console/api/session");
    if (!r.ok) {
      W.text("who", W.message(r));
      return null;
    }
    session = r.data;
    W.text("who", "signed in as " + session.subject + " · session ends " + W.rel(new Date(session.expires)));
    W.show("nav-audit", session.can_audit);
    W.$("signout").addEventListener("click", async () => {
      await W.api("POST", "/console/api/logout", {});
      window.location.assign("/console/");
    });
    return session;
  })();

  // bearer strips white space and a leading "Bearer ".
  W.bearer = (s) => s.trim().replace(/^Bearer\s+/i, "").trim();

  window.Warden = W;
})();
