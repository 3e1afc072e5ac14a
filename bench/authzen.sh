#!/usr/bin/env bash
# AuthZEN decision throughput: Warden's /access/v1/evaluation(s) against
# OPA's and Cerbos's decision endpoints doing the same check, on loopback,
# in one run. The check, in every target: verify the caller's ES256 JWT
# (issuer, audience, signature), require the role "evaluator", and require
# the resource's tenant to equal the token's; answer allow.
#
#   warden         POST /access/v1/evaluation, one trace (the full reference
#                  bundle, and one audit record per decision committed to
#                  SQLite before the answer: batch durability)
#   warden-async   the same with audit durability async (queued, not awaited)
#   warden-b10     POST /access/v1/evaluations, 10 traces (one token check,
#                  10 decisions, 10 audit records, one commit wait)
#   opa            POST /v1/data/warden/allow (io.jwt.decode_verify + Rego)
#   opa-b10        the same over 10 resources in one input
#   cerbos         POST /api/check/resources, one resource (auxData.jwt)
#   cerbos-b10     the same with 10 resources
#
# OPA v1.22.2 and Cerbos v0.55.0 (pinned; built with the Go module proxy
# into $PEERS_BIN, as /work/shared/peerbench does; v0.56+ needs Go 1.27).
# Rounds are interleaved so machine noise hits every target alike; the table
# gives medians: requests/s, decisions/s, p50/p99 latency, CPU per decision
# (the target process's utime+stime over the run). Not run by CI.
#
#   bench/authzen.sh                      # 3 rounds x 10 s
#   ROUNDS=1 DUR=5s ONLY="warden opa" bench/authzen.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
ROUNDS=${ROUNDS:-3}; DUR=${DUR:-10s}; CONNS=${CONNS:-50}; THREADS=${THREADS:-2}; BATCH=${BATCH:-10}
PEERS_BIN=${PEERS_BIN:-$HOME/.cache/peerbench/bin}
OPA_VERSION=v1.22.2
CERBOS_VERSION=v0.55.0
W=$(mktemp -d /tmp/warden-azbench.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
export GOTOOLCHAIN=${GOTOOLCHAIN:-local}

# Tools, idempotently.
if ! command -v wrk >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
fi
mkdir -p "$PEERS_BIN"
want() { [[ " ${ONLY:-$1} " == *" $1 "* ]]; }
if { want opa || want opa-b10; } && [ ! -x "$PEERS_BIN/opa" ]; then GOBIN="$PEERS_BIN" go install "github.com/open-policy-agent/opa@$OPA_VERSION"; fi
if { want cerbos || want cerbos-b10; } && [ ! -x "$PEERS_BIN/cerbos" ]; then
  # Cerbos's go.mod has a replace directive, so `go install pkg@version`
  # refuses it: build it from a throwaway module that repeats the replace,
  # checked against Cerbos's own go.sum.
  m=$(mktemp -d); (cd "$m" && go mod init cerbosbuild >/dev/null 2>&1 \
    && go mod edit -require="github.com/cerbos/cerbos@$CERBOS_VERSION" \
       -replace=buf.build/go/protovalidate=github.com/cerbos/protovalidate-go@v0.0.0-20260615200145-16b6d024eb17 \
    && go mod download "github.com/cerbos/cerbos@$CERBOS_VERSION" \
    && cp "$(go env GOMODCACHE)/github.com/cerbos/cerbos@$CERBOS_VERSION/go.sum" go.sum && chmod u+w go.sum \
    && GOFLAGS=-mod=mod go build -o "$PEERS_BIN/cerbos" github.com/cerbos/cerbos/cmd/cerbos); rm -rf "$m"
fi
(cd "$root" && go build -o "$W/warden" ./cmd/warden)

# One IdP key and token for every target; the signed reference bundle.
"$W/warden" keys generate --alg ES256 --out "$W/idp" --force >/dev/null
"$W/warden" keys generate --alg EdDSA --out "$W/bundle-key" --force >/dev/null
"$W/warden" token mint --key "$W/idp/private.jwk" --iss https://idp.bench.test --aud warden \
  --sub eve --role evaluator --tenant acme --ttl 2h >"$W/token.txt"
TOKEN=$(cat "$W/token.txt")
"$W/warden" policy build "$root/examples/policy" --signing-key "$W/bundle-key/private.jwk" -o "$W/bundle.tar.gz" >/dev/null

write_config() { # name data-port admin-port durability
  cat >"$W/$1.yaml" <<YAML
listen: {data: 127.0.0.1:$2, admin: 127.0.0.1:$3}
issuers:
  - issuer: https://idp.bench.test
    audiences: [warden]
    algorithms: [ES256]
    keys_file: $W/idp/jwks.json
policy:
  bundle: $W/bundle.tar.gz
  keys: [$W/bundle-key/jwks.json]
store: sqlite://$W/$1.db
audit: {durability: $4}
# The configuration requires a route; this one is never called.
upstreams:
  - name: unused
    url: http://127.0.0.1:9
routes:
  - name: unused
    kind: tool
    methods: [GET]
    path: /unused/{id}
    action: trace:read
    resource: {type: Trace, id: "{id}"}
    upstream: unused
YAML
}

declare -A PID URL BODY WANT PER
targets=()
start() { local name=$1; shift; "$@" >"$W/$name.log" 2>&1 & pids+=($!); LAST=$!; }
ready() { for _ in $(seq 300); do curl -s -o /dev/null "$1" && return 0; sleep 0.1; done; echo "not ready: $1 (see $W)" >&2; return 1; }
add() { targets+=("$1"); URL[$1]=$2; BODY[$1]=$3; WANT[$1]=$4; PID[$1]=$5; PER[$1]=$6; }

trace() { printf '{"type":"Trace","id":"t-%s","properties":{"tenant":"acme"}}' "$1"; }
printf '{"action":{"name":"trace:read"},"resource":%s}' "$(trace 1)" >"$W/az1.json"
items=$(for i in $(seq "$BATCH"); do printf '{"resource":%s}' "$(trace "$i")"; done | paste -sd, | sed 's/}{/},{/g')
printf '{"action":{"name":"trace:read"},"evaluations":[%s]}' "$items" >"$W/azN.json"

if want warden || want warden-b10; then
  write_config warden 18202 18203 batch
  start warden "$W/warden" serve --config "$W/warden.yaml"; ready http://127.0.0.1:18203/readyz
  want warden && add warden http://127.0.0.1:18202/access/v1/evaluation "$W/az1.json" '"decision":true' "$LAST" 1
  want warden-b10 && add warden-b10 http://127.0.0.1:18202/access/v1/evaluations "$W/azN.json" '"decision":true' "$LAST" "$BATCH"
fi
if want warden-async; then
  write_config warden-async 18204 18205 async
  start warden-async "$W/warden" serve --config "$W/warden-async.yaml"; ready http://127.0.0.1:18205/readyz
  add warden-async http://127.0.0.1:18204/access/v1/evaluation "$W/az1.json" '"decision":true' "$LAST" 1
fi

if { want opa || want opa-b10; } && [ -x "$PEERS_BIN/opa" ]; then
  python3 -c 'import json,sys; print(json.dumps({"bench":{"jwks":open(sys.argv[1]).read()}}))' "$W/idp/jwks.json" >"$W/data.json"
  cat >"$W/policy.rego" <<'REGO'
package warden
import rego.v1
default allow := false
claims := c if {
	[valid, _, c] := io.jwt.decode_verify(input.token, {"cert": data.bench.jwks, "iss": "https://idp.bench.test", "aud": "warden"})
	valid
}
allowed(r) if {
	"evaluator" in claims.roles
	r.tenant == claims.tenant
}
allow if allowed(input.resource)
# the batch: one verification, one decision per resource
decisions := [allowed(r) | some r in input.resources] if input.resources
REGO
  start opa "$PEERS_BIN/opa" run --server --addr 127.0.0.1:18206 --log-level error "$W/policy.rego" "$W/data.json"
  ready http://127.0.0.1:18206/health
  printf '{"input":{"token":"%s","resource":{"kind":"trace","id":"t-1","tenant":"acme"}}}' "$TOKEN" >"$W/opa1.json"
  res=$(for i in $(seq "$BATCH"); do printf '{"kind":"trace","id":"t-%s","tenant":"acme"}' "$i"; done | paste -sd, | sed 's/}{/},{/g')
  printf '{"input":{"token":"%s","resources":[%s]}}' "$TOKEN" "$res" >"$W/opaN.json"
  want opa && add opa http://127.0.0.1:18206/v1/data/warden/allow "$W/opa1.json" '"result":true' "$LAST" 1
  want opa-b10 && add opa-b10 http://127.0.0.1:18206/v1/data/warden/decisions "$W/opaN.json" '"result":[true' "$LAST" "$BATCH"
fi

if { want cerbos || want cerbos-b10; } && [ -x "$PEERS_BIN/cerbos" ]; then
  mkdir -p "$W/cerbos-policies"
  cat >"$W/cerbos-policies/trace.yaml" <<'CRB'
apiVersion: api.cerbos.dev/v1
resourcePolicy:
  version: default
  resource: trace
  rules:
    - actions: ["read"]
      effect: EFFECT_ALLOW
      roles: ["*"]
      condition:
        match:
          all:
            of:
              - expr: '"evaluator" in request.auxData.jwt.roles'
              - expr: request.auxData.jwt.iss == "https://idp.bench.test"
              - expr: request.resource.attr.tenant == request.auxData.jwt.tenant
CRB
  cat >"$W/cerbos.yaml" <<CRB
server: { httpListenAddr: "127.0.0.1:18207", grpcListenAddr: "127.0.0.1:18217" }
storage: { driver: disk, disk: { directory: "$W/cerbos-policies", watchForChanges: false } }
auxData: { jwt: { keySets: [ { id: bench, local: { file: "$W/idp/jwks.json" } } ] } }
audit: { enabled: false }
telemetry: { disabled: true }
CRB
  CERBOS_NO_TELEMETRY=1 start cerbos "$PEERS_BIN/cerbos" server --config="$W/cerbos.yaml" --log-level=error
  ready http://127.0.0.1:18207/_cerbos/health
  entry() { printf '{"actions":["read"],"resource":{"kind":"trace","id":"t-%s","attr":{"tenant":"acme"}}}' "$1"; }
  printf '{"requestId":"b","principal":{"id":"eve","roles":["user"]},"resources":[%s],"auxData":{"jwt":{"token":"%s","keySetId":"bench"}}}' "$(entry 1)" "$TOKEN" >"$W/cerbos1.json"
  ents=$(for i in $(seq "$BATCH"); do entry "$i"; done | paste -sd, | sed 's/}{/},{/g')
  printf '{"requestId":"b","principal":{"id":"eve","roles":["user"]},"resources":[%s],"auxData":{"jwt":{"token":"%s","keySetId":"bench"}}}' "$ents" "$TOKEN" >"$W/cerbosN.json"
  want cerbos && add cerbos http://127.0.0.1:18207/api/check/resources "$W/cerbos1.json" EFFECT_ALLOW "$LAST" 1
  want cerbos-b10 && add cerbos-b10 http://127.0.0.1:18207/api/check/resources "$W/cerbosN.json" EFFECT_ALLOW "$LAST" "$BATCH"
fi

# Every target must answer its check correctly once (allow, and for the
# batches as many allows as items) before it is loaded.
ok=()
for t in "${targets[@]}"; do
  out=$(curl -s -X POST -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' --data-binary @"${BODY[$t]}" "${URL[$t]}")
  n=$(grep -oF -- "${WANT[$t]}" <<<"$out" | wc -l)
  [[ $t == opa-b10 ]] && n=$(grep -o true <<<"$out" | wc -l)
  if [ "$n" -ge "${PER[$t]}" ]; then ok+=("$t"); else echo "skip $t: smoke answer: ${out:0:300}" >&2; fi
done

cat >"$W/post.lua" <<'LUA'
wrk.method = "POST"
local f = assert(io.open(os.getenv("WRK_BODY_FILE"), "rb")); wrk.body = f:read("*a"); f:close()
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("WRK_TOKEN")
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT rps=%.1f p50_us=%d p99_us=%d requests=%d errors=%d non2xx=%d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50), latency:percentile(99),
    summary.requests, e.connect + e.read + e.write + e.timeout, e.status))
end
LUA
ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
for r in $(seq "$ROUNDS"); do
  for t in "${ok[@]}"; do
    c0=$(ticks "${PID[$t]}")
    res=$(WRK_BODY_FILE="${BODY[$t]}" WRK_TOKEN="$TOKEN" wrk -t"$THREADS" -c"$CONNS" -d"$DUR" -s "$W/post.lua" "${URL[$t]}" | grep '^RESULT')
    c1=$(ticks "${PID[$t]}")
    req=$(sed 's/.*requests=\([0-9]*\).*/\1/' <<<"$res")
    cpu=$(awk -v d=$((c1 - c0)) -v hz="$hz" -v n="$req" -v k="${PER[$t]}" 'BEGIN{ if (n>0) printf "%.1f", d/hz*1e6/(n*k); else print 0 }')
    echo "$t $res cpu_us=$cpu round=$r" | tee -a "$W/raw.txt" >&2
  done
done

echo
echo "$(date -u +%F), $(nproc) cores, wrk -t$THREADS -c$CONNS, $ROUNDS x $DUR interleaved, medians (work dir $W):"
echo
echo "| target | requests/s | decisions/s | p50 ms | p99 ms | CPU µs/decision | errors+non-2xx |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
for t in "${ok[@]}"; do
  grep "^$t RESULT" "$W/raw.txt" | python3 -c '
import sys, statistics as st, re
rows=[dict(re.findall(r"(\w+)=([\d.]+)", l)) for l in sys.stdin]
m=lambda k: st.median(float(r[k]) for r in rows)
k=int(sys.argv[2])
print("| %s | %.0f | %.0f | %.2f | %.2f | %.1f | %d |" % (sys.argv[1], m("rps"), m("rps")*k, m("p50_us")/1000, m("p99_us")/1000, m("cpu_us"), sum(int(r["errors"])+int(r["non2xx"]) for r in rows)))' "$t" "${PER[$t]}"
done
