// A service in another language asking Warden's AuthZEN decision API
// (docs/authzen.md) with nothing but Node's built-in fetch (Node 18+).
//
//   WARDEN_URL=http://127.0.0.1:8080 WARDEN_TOKEN=$EVE WARDEN_PEP_TOKEN=$PEP node client.mjs
//
// WARDEN_TOKEN is the user's token (the subject of her own questions);
// WARDEN_PEP_TOKEN, if set, is a service token with the pdp:query scope that
// asks about an explicit subject. Prints one JSON line per check and exits
// non-zero if any answer is not the expected one.
const base = process.env.WARDEN_URL ?? "http://127.0.0.1:8080";
const user = process.env.WARDEN_TOKEN;
const pep = process.env.WARDEN_PEP_TOKEN;
if (!user) throw new Error("set WARDEN_TOKEN");

async function post(path, token, body) {
  const res = await fetch(base + path, {
    method: "POST",
    headers: { "Content-Type": "application/json", ...(token ? { Authorization: `Bearer ${token}` } : {}) },
    body: typeof body === "string" ? body : JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  return { status: res.status, body: await res.json() };
}

let failed = 0;
function check(name, ok, detail) {
  console.log(JSON.stringify({ check: name, ok, ...detail }));
  if (!ok) failed++;
}

const trace = (id, tenant) => ({ type: "Trace", id, properties: { tenant } });

// Discovery: where the endpoints are.
const md = await (await fetch(base + "/.well-known/authzen-configuration", { signal: AbortSignal.timeout(10_000) })).json();
check("metadata", md.access_evaluation_endpoint === base + "/access/v1/evaluation", { md });

// One question: may the caller read trace t-1 of her tenant?
let r = await post("/access/v1/evaluation", user, { action: { name: "trace:read" }, resource: trace("t-1", "acme") });
check("single", r.status === 200 && r.body.decision === true && r.body.context.decision_id !== "", r);

// A batch with defaults, stopping at the first deny: t-1 is allowed, t-2
// (another tenant) denied, t-3 never evaluated.
r = await post("/access/v1/evaluations", user, {
  action: { name: "trace:read" },
  options: { evaluations_semantic: "deny_on_first_deny" },
  evaluations: [{ resource: trace("t-1", "acme") }, { resource: trace("t-2", "globex") }, { resource: trace("t-3", "acme") }],
});
check("batch", r.status === 200 && r.body.evaluations.map((e) => e.decision).join() === "true,false", r);

// A service with pdp:query asks about another subject.
if (pep) {
  r = await post("/access/v1/evaluation", pep, {
    subject: { type: "user", id: "sam", properties: { roles: ["support-lead"], team: "support", tenant: "acme" } },
    action: { name: "trace:read" }, resource: trace("t-1", "acme"),
  });
  check("explicit subject", r.status === 200 && r.body.decision === false, r);
}

// Bad input is refused with a JSON error: status, stable code, request id.
const refused = async (name, token, path, body, status) => {
  const r = await post(path, token, body);
  const e = r.body.error ?? {};
  check(name, r.status === status && typeof e.code === "string" && Boolean(e.message && e.request_id), { status: r.status, error: e });
};
if (pep) {
  await refused("missing subject", pep, "/access/v1/evaluation", { action: { name: "trace:read" }, resource: trace("t-1", "acme") }, 400);
}
await refused("no token", undefined, "/access/v1/evaluation", { action: { name: "trace:read" }, resource: trace("t-1", "acme") }, 401);
await refused("wrong types", user, "/access/v1/evaluation", { action: { name: ["trace:read"] }, resource: { type: "Trace", id: 7 } }, 400);
await refused("10000 items", user, "/access/v1/evaluations", {
  action: { name: "trace:read" },
  evaluations: Array.from({ length: 10_000 }, (_, i) => ({ resource: trace(`t-${i}`, "acme") })),
}, 400);
await refused("unknown semantics", user, "/access/v1/evaluations", {
  action: { name: "trace:read" }, options: { evaluations_semantic: "majority_vote" }, evaluations: [{ resource: trace("t-1", "acme") }],
}, 400);
await refused("not JSON", user, "/access/v1/evaluation", "{", 400);

process.exit(failed === 0 ? 0 : 1);
