#!/usr/bin/env bash
# MCP benchmark: one tools/call round trip by the official go-sdk client
# through Warden's MCP proxy (token verified, the call judged against the
# reference bundle plus a test policy, the guard questions, a redacted SSE
# result, the decision record committed before the call goes upstream, a
# result record queued) against the same call direct to the same go-sdk
# server, interleaved call by call in one run, for the stateless 2026-07-28
# generation and a 2025-11-25 session, with the audit log's batch (default)
# and async durability. The "warden/direct" column is the latency ratio.
#
#   bench/mcp/run.sh                 # 2000 calls per case
#   N=500 bench/mcp/run.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
N=${N:-2000}
cd "$root"
GOTOOLCHAIN=${GOTOOLCHAIN:-local} go test -run '^$' -bench 'BenchmarkToolsCall' -benchtime "${N}x" -count 1 ./internal/mcp/ |
	awk '/^BenchmarkToolsCall/ {
		for (i = 1; i <= NF; i++) { if ($(i+1) == "direct-µs/call") d = $i; if ($(i+1) == "warden-µs/call") w = $i; if ($(i+1) == "warden/direct") r = $i }
		name = $1; sub(/^BenchmarkToolsCall\//, "", name); sub(/-[0-9]+$/, "", name)
		printf "%-26s direct %6s µs   warden %6s µs   warden/direct %s\n", name, d, w, r
	}'
