#!/usr/bin/env bash
# Gateway load benchmark: an allowed chat completion through `warden serve`
# (ES256 JWT verification, the signed reference policy bundle, request and
# response guards with a real redaction, a hash-chained SQLite audit trail:
# a decision and a result record per request) against a bare
# httputil.ReverseProxy to the same upstream, on loopback, in one run.
# Warden runs three ways: "warden" (the defaults: batch durability on
# SQLite with synchronous=full, so each request waits for the fsync of its
# decision record's group commit), "warden-normal" (batch durability,
# synchronous=normal: safe against kill -9, not power loss) and
# "warden-async" (the record is queued, not awaited). Rounds are interleaved so machine noise hits every
# target alike; the table gives medians over rounds.
#
#   bench/gateway.sh                       # 5 rounds x 10 s per target
#   ROUNDS=3 DUR=5s CONNS=50 bench/gateway.sh
#
# The CPU profile of the same path comes from the in-process benchmark:
#   go test -run '^$' -bench 'Gateway/warden-audit-batch' -cpuprofile /tmp/gw.pprof ./internal/gateway/
# Needs wrk (installed from Debian's packages if missing) and curl. Writes
# the table to stdout and keeps its work directory (logs, config, profile).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
ROUNDS=${ROUNDS:-5}; DUR=${DUR:-10s}; CONNS=${CONNS:-50}; THREADS=${THREADS:-2}
W=$(mktemp -d /tmp/warden-gwbench.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

if ! command -v wrk >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
fi

export GOTOOLCHAIN=${GOTOOLCHAIN:-local}
(cd "$root" && go build -o "$W/warden" ./cmd/warden && go build -o "$W/upstream" ./bench/upstream && go build -o "$W/bareproxy" ./bench/bareproxy)

# Keys, a token for an evaluator on the platform team, the signed bundle.
"$W/warden" keys generate --alg ES256 --out "$W/idp" --force >/dev/null
"$W/warden" keys generate --alg EdDSA --out "$W/bundle-key" --force >/dev/null
"$W/warden" token mint --key "$W/idp/private.jwk" --iss https://idp.bench.test --aud warden \
  --sub rita --role evaluator --team platform --tenant acme --ttl 2h >"$W/token.txt"
"$W/warden" policy build "$root/examples/policy" --signing-key "$W/bundle-key/private.jwk" -o "$W/bundle.tar.gz" >/dev/null

write_config() { # name data-port admin-port durability [store-query]
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
store: sqlite://$W/$1.db${5:-}
audit: {durability: $4}
guards:
  actions: {pii: redact, secret: block}
upstreams:
  - name: model
    url: http://127.0.0.1:18100
models:
  upstream: model
YAML
}
write_config warden 18102 18103 batch
write_config warden-async 18104 18105 async
write_config warden-normal 18106 18107 batch '?synchronous=normal'

start() { local name=$1; shift; "$@" >"$W/$name.log" 2>&1 & pids+=($!); PID[$name]=$!; }
ready() { for _ in $(seq 200); do curl -sf -o /dev/null "$1" && return 0; sleep 0.1; done; echo "not ready: $1 (see $W)" >&2; return 1; }
declare -A PID URL
start upstream "$W/upstream" -addr 127.0.0.1:18100; ready http://127.0.0.1:18100/
start bare "$W/bareproxy" -addr 127.0.0.1:18101 -upstream http://127.0.0.1:18100; ready http://127.0.0.1:18101/
start warden "$W/warden" serve --config "$W/warden.yaml"; ready http://127.0.0.1:18103/readyz
start warden-async "$W/warden" serve --config "$W/warden-async.yaml"; ready http://127.0.0.1:18105/readyz
start warden-normal "$W/warden" serve --config "$W/warden-normal.yaml"; ready http://127.0.0.1:18107/readyz
URL[bare]=http://127.0.0.1:18101/v1/chat/completions
URL[warden]=http://127.0.0.1:18102/v1/chat/completions
URL[warden-async]=http://127.0.0.1:18104/v1/chat/completions
URL[warden-normal]=http://127.0.0.1:18106/v1/chat/completions
targets=(bare warden warden-normal warden-async)

TOKEN=$(cat "$W/token.txt")
BODY='{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Summarize trace 42 for the on-call team"}],"max_tokens":64}'
cat >"$W/post.lua" <<LUA
wrk.method = "POST"
wrk.body = '$BODY'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $TOKEN"
LUA

# Smoke: every target answers the completion; Warden redacts the e-mail.
for t in "${targets[@]}"; do
  out=$(curl -sf -X POST -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -d "$BODY" "${URL[$t]}") \
    || { echo "smoke failed for $t (see $W/$t.log)" >&2; exit 1; }
  case $t in
    warden*) [[ $out == *'[REDACTED:email]'* ]] || { echo "smoke: $t did not redact: $out" >&2; exit 1; } ;;
    *) [[ $out == *chat.completion* ]] || { echo "smoke: $t answered $out" >&2; exit 1; } ;;
  esac
done

cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
to_ms() { # wrk latency ("812.00us", "1.20ms", "1.01s") -> ms
  awk -v v="$1" 'BEGIN{ if (v ~ /us$/) {sub(/us$/,"",v); print v/1000} else if (v ~ /ms$/) {sub(/ms$/,"",v); print v+0} else if (v ~ /m$/) {sub(/m$/,"",v); print v*60000} else {sub(/s$/,"",v); print v*1000} }'; }
hz=$(getconf CLK_TCK)
for r in $(seq "$ROUNDS"); do
  for t in "${targets[@]}"; do
    c0=$(cpu_ticks "${PID[$t]}")
    wrk -t"$THREADS" -c"$CONNS" -d"$DUR" --latency -s "$W/post.lua" "${URL[$t]}" >"$W/wrk-$t-$r.txt"
    c1=$(cpu_ticks "${PID[$t]}")
    rps=$(awk '/^Requests\/sec:/{print $2}' "$W/wrk-$t-$r.txt")
    reqs=$(awk '/requests in/{print $1}' "$W/wrk-$t-$r.txt")
    p50=$(to_ms "$(awk '$1=="50%"{print $2}' "$W/wrk-$t-$r.txt")")
    p99=$(to_ms "$(awk '$1=="99%"{print $2}' "$W/wrk-$t-$r.txt")")
    errs=$(awk '/Non-2xx|Socket errors/{print}' "$W/wrk-$t-$r.txt" | tr '\n' ' ')
    cpu=$(awk -v a="$c0" -v b="$c1" -v n="$reqs" -v hz="$hz" 'BEGIN{printf "%.0f", (b-a)/hz*1e6/n}')
    echo "$t $r $rps $p50 $p99 $cpu" >>"$W/results.txt"
    echo "round $r $t: $rps rps, p50 ${p50} ms, p99 ${p99} ms, ${cpu} µs CPU/req ${errs}" >&2
  done
done

# Latency without queueing: one connection, one request at a time.
if [ "${LAT_ROUNDS:=3}" -gt 0 ]; then
  for r in $(seq "$LAT_ROUNDS"); do
    for t in "${targets[@]}"; do
      wrk -t1 -c1 -d"${LAT_DUR:-5s}" --latency -s "$W/post.lua" "${URL[$t]}" >"$W/lat-$t-$r.txt"
      p50=$(to_ms "$(awk '$1=="50%"{print $2}' "$W/lat-$t-$r.txt")")
      p99=$(to_ms "$(awk '$1=="99%"{print $2}' "$W/lat-$t-$r.txt")")
      echo "$t $r $p50 $p99" >>"$W/latency.txt"
      echo "latency round $r $t: p50 ${p50} ms, p99 ${p99} ms" >&2
    done
  done
fi

median() { sort -g | awk '{a[NR]=$1} END{ if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2 }'; }
col() { awk -v t="$1" -v c="$2" '$1==t{print $c}' "$W/results.txt" | median; }
bare_rps=$(col bare 3); bare_p99=$(col bare 5)
echo
echo "$(date -u +%F), $(nproc) cores, wrk -t$THREADS -c$CONNS, $ROUNDS x $DUR interleaved, medians:"
echo
# "paired": the median over rounds of this target's rps over bare's in the
# same round, which cancels noise that moves whole rounds.
paired() { awk -v t="$1" '$1=="bare"{b[$2]=$3} $1==t{r[$2]=$3} END{for (k in r) if (b[k]>0) print r[k]/b[k]}' "$W/results.txt" | median; }
echo "| target | rps | vs bare | vs bare, paired | p50 ms | p99 ms | p99 vs bare | CPU µs/req | bare CPU / CPU |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
bare_cpu=$(col bare 6)
for t in "${targets[@]}"; do
  rps=$(col "$t" 3); p50=$(col "$t" 4); p99=$(col "$t" 5); cpu=$(col "$t" 6)
  awk -v t="$t" -v rps="$rps" -v br="$bare_rps" -v pr="$(paired "$t")" -v p50="$p50" -v p99="$p99" -v bp="$bare_p99" -v cpu="$cpu" -v bc="$bare_cpu" \
    'BEGIN{printf "| %s | %.0f | %.2f× | %.2f× | %.2f | %.2f | %+.2f ms | %.0f | %.2f× |\n", t, rps, rps/br, pr, p50, p99, p99-bp, cpu, bc/cpu}'
done
if [ -s "$W/latency.txt" ]; then
  lcol() { awk -v t="$1" -v c="$2" '$1==t{print $c}' "$W/latency.txt" | median; }
  lb50=$(lcol bare 3); lb99=$(lcol bare 4)
  echo
  echo "One connection (wrk -t1 -c1), $LAT_ROUNDS x ${LAT_DUR:-5s} interleaved, medians:"
  echo
  echo "| target | p50 ms | p50 vs bare | p99 ms | p99 vs bare |"
  echo "| --- | ---: | ---: | ---: | ---: |"
  for t in "${targets[@]}"; do
    awk -v t="$t" -v a="$(lcol "$t" 3)" -v b="$(lcol "$t" 4)" -v ba="$lb50" -v bb="$lb99" \
      'BEGIN{printf "| %s | %.3f | %+.3f ms | %.3f | %+.3f ms |\n", t, a, a-ba, b, b-bb}'
  done
fi
echo
for t in warden:18103 warden-normal:18107 warden-async:18105; do
  curl -sf "http://127.0.0.1:${t#*:}/metrics" | awk -v t="${t%%:*}" '
    /^warden_audit_records_committed_total /{r=$2} /^warden_audit_batches_total /{b=$2}
    END{ if (b>0) printf "%s: %d audit records in %d commits, %.1f records per commit\n", t, r, b, r/b }' >&2
done
echo "work directory: $W" >&2
