"use strict";

(function () {
  const W = window.Warden;
  const TAIL_MS = 2000;
  let filter = "";      // the query string of the applied filter
  let last = "";        // cursor of the last record shown
  let next = "";        // cursor of the next page, if the last page was full
  let count = 0;
  let timer = null;
  let selected = null;
  const records = new Map();

  function iso(id) {
    const v = W.$(id).value;
    if (!v) return "";
    const d = new Date(v);
    return isNaN(d) ? "" : d.toISOString();
  }

  function buildFilter() {
    const q = new URLSearchParams();
    const add = (k, v) => { if (v) q.set(k, v); };
    add("since", iso("f-since"));
    add("until", iso("f-until"));
    add("decision", W.$("f-decision").value);
    add("subject", W.$("f-subject").value.trim());
    add("action", W.$("f-action").value.trim());
    add("route", W.$("f-route").value.trim());
    return q;
  }

  function row(rec) {
    records.set(rec.cursor, rec);
    const open = W.el("button", { class: "link", type: "button", text: rec.node + " #" + rec.seq,
      "aria-label": "open record " + rec.node + " seq " + rec.seq, onclick: () => openRecord(rec.cursor) });
    // data-label names each cell for the narrow, card layout.
    const td = (label, content) => W.el("td", { "data-label": label }, content);
    return W.el("tr", { "data-cursor": rec.cursor },
      td("Record", open),
      td("Time", W.fmtTime(rec.time)),
      td("Decision", W.el("span", { class: "pill " + rec.decision, text: rec.decision })),
      td("Phase", rec.phase === "result" ? "result" + (rec.upstream_status ? " " + rec.upstream_status : "") : "decision"),
      td("Subject", rec.subject || "—"),
      td("Action", rec.action || "—"),
      td("Resource", rec.resource || "—"),
      td("Route", rec.route || "—"));
  }

  function openRecord(cursor) {
    const rec = records.get(cursor);
    if (!rec) return;
    for (const tr of W.$("records-body").children) tr.classList.toggle("selected", tr.dataset.cursor === cursor);
    selected = cursor;
    const list = (a) => (a && a.length ? a.join(", ") : null);
    W.text("record-title", "Record " + rec.node + " #" + rec.seq);
    W.kv("record-detail", [
      ["time", W.fmtTime(rec.time) + " (" + rec.time + ")"],
      ["decision", W.el("span", { class: "pill " + rec.decision, text: rec.decision })],
      ["phase", rec.phase],
      ["subject", rec.subject], ["issuer", rec.iss], ["actors", list(rec.actors)], ["client", rec.client_id],
      ["token id (jti)", rec.jti], ["client ip", rec.client_ip],
      ["request", (rec.method || "") + " " + (rec.path || "")], ["route", rec.route],
      ["action", rec.action], ["resource", rec.resource],
      ["policies", list(rec.policies)], ["reasons", list(rec.reasons)], ["errors", list(rec.errors)],
      ["error code", rec.error_code], ["upstream status", rec.upstream_status ? String(rec.upstream_status) : null],
      ["latency", rec.latency_ms ? rec.latency_ms.toFixed(2) + " ms" : null],
      ["guards", rec.guards ? W.el("pre", { text: W.pretty(rec.guards) }) : null],
      ["bundle", (rec.bundle_revision || "") + (rec.bundle_digest ? " " + rec.bundle_digest : "")],
      ["request id", rec.request_id], ["decision id", rec.decision_id],
      ["prev hash", W.el("code", { text: rec.prev_hash })], ["hash", W.el("code", { text: rec.hash })],
    ]);
    W.show("record", true);
    W.$("record").focus();
  }

  function setCount() {
    W.text("records-count", "(" + count + (next ? "+" : "") + ")");
    W.show("records-empty", count === 0);
  }

  async function fetchPage(after) {
    const q = new URLSearchParams(filter);
    if (after) q.set("after", after);
    const r = await W.api("GET", "/console/api/audit/records?" + q.toString());
    if (!r.ok) {
      W.error("records-error", W.message(r));
      return null;
    }
    W.error("records-error", "");
    return r.data;
  }

  function append(data) {
    const body = W.$("records-body");
    for (const rec of data.records) {
      body.append(row(rec));
      last = rec.cursor;
      count++;
    }
  }

  async function apply() {
    stopTail();
    filter = buildFilter().toString();
    last = ""; next = ""; count = 0; selected = null;
    records.clear();
    W.$("records-body").replaceChildren();
    W.show("record", false);
    const data = await fetchPage("");
    if (data) {
      append(data);
      next = data.next || "";
      W.show("records-more", !!next);
    }
    setCount();
    startTail();
  }

  async function more() {
    if (!next) return;
    const data = await fetchPage(next);
    if (!data) return;
    append(data);
    next = data.next || "";
    W.show("records-more", !!next);
    setCount();
  }

  // The live tail asks for records after the last one shown, with the same
  // filter, while the list is complete (no further page) and no "until" is set.
  async function tail() {
    timer = null;
    if (!W.$("f-tail").checked || next || W.$("f-until").value) return;
    const data = await fetchPage(last);
    if (data && data.records.length) {
      append(data);
      next = data.next || "";
      W.show("records-more", !!next);
      setCount();
    }
    startTail();
  }

  function startTail() {
    if (timer === null && W.$("f-tail").checked) timer = window.setTimeout(tail, TAIL_MS);
  }

  function stopTail() {
    if (timer !== null) window.clearTimeout(timer);
    timer = null;
  }

  async function verifyChain() {
    W.text("chain-status", "Verifying…");
    const r = await W.api("GET", "/console/api/audit/verify");
    const list = W.$("chain-list");
    list.replaceChildren();
    if (!r.ok) {
      W.text("chain-status", "Verification failed: " + W.message(r));
      return;
    }
    const st = W.$("chain-status");
    st.replaceChildren(W.el("span", { class: "pill " + (r.data.ok ? "allow" : "deny"), text: r.data.ok ? "intact" : "BROKEN" }),
      " " + r.data.chains.length + " chain(s) checked at " + W.fmtTime(r.data.checked));
    for (const c of r.data.chains) {
      const s = c.ok ? c.node + ": " + c.records + " records, intact up to seq " + c.last_seq
        : c.node + ": " + c.fault + " at seq " + c.bad_seq + ": " + c.detail;
      list.append(W.el("li", { text: s }));
    }
  }

  W.$("filter-form").addEventListener("submit", (ev) => { ev.preventDefault(); apply(); });
  W.$("f-clear").addEventListener("click", () => {
    for (const id of ["f-since", "f-until", "f-subject", "f-action", "f-route"]) W.$(id).value = "";
    W.$("f-decision").value = "";
    apply();
  });
  W.$("f-tail").addEventListener("change", () => { if (W.$("f-tail").checked) startTail(); else stopTail(); });
  W.$("records-more").addEventListener("click", more);
  W.$("chain-verify").addEventListener("click", verifyChain);
  W.$("record-close").addEventListener("click", () => {
    W.show("record", false);
    const btn = selected && document.querySelector('tr[data-cursor="' + CSS.escape(selected) + '"] button');
    if (btn) btn.focus();
  });

  // localValue formats a date for a datetime-local input, in local time.
  function localValue(d) {
    const p = (n) => String(n).padStart(2, "0");
    return d.getFullYear() + "-" + p(d.getMonth() + 1) + "-" + p(d.getDate()) + "T" +
      p(d.getHours()) + ":" + p(d.getMinutes()) + ":" + p(d.getSeconds());
  }

  W.ready.then((s) => {
    if (!s) return;
    // The list starts an hour back, so that the live tail reaches the
    // present at once; clear "From" for the whole log.
    if (!W.$("f-since").value) W.$("f-since").value = localValue(new Date(Date.now() - 3600 * 1000));
    verifyChain();
    apply();
  });
})();
