package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/wardenhq/warden/internal/audit"
	"github.com/wardenhq/warden/internal/authn"
	"github.com/wardenhq/warden/internal/bundle"
	"github.com/wardenhq/warden/internal/console"
	"github.com/wardenhq/warden/internal/gateway"
	"github.com/wardenhq/warden/internal/issuer"
	"github.com/wardenhq/warden/internal/mcp"
	"github.com/wardenhq/warden/internal/policy"
)

// adminHandler serves /healthz, /readyz, /metrics and the console.
func (s *server) adminHandler() http.Handler {
	mux := http.NewServeMux()
	if s.console != nil {
		mux.Handle(console.Prefix, s.console)
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, _ *http.Request) {
		var buf bytes.Buffer
		writeMetrics(&buf, s.snapshot())
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write(buf.Bytes())
	})
	return mux
}

// readiness returns "" when the server can decide requests, else the reason
// it cannot.
func (s *server) readiness() string {
	switch st := s.engine.Status(); {
	case s.verifier == nil:
		return "token verifier not constructed"
	case !st.Loaded && st.LastError != "":
		return "no policy bundle loaded: " + st.LastError
	case !st.Loaded:
		if ls := s.loader.Status(); ls.LastError != "" {
			return "no policy bundle loaded: " + ls.LastError
		}
		return "no policy bundle loaded yet"
	}
	if a := s.audit; a != nil && a.Stats().Failed {
		return "audit log failed"
	}
	return ""
}

func (s *server) readyz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	body := map[string]any{"ready": true}
	status := http.StatusOK
	if reason := s.readiness(); reason != "" {
		status = http.StatusServiceUnavailable
		body = map[string]any{"ready": false, "reason": reason}
	} else {
		st := s.engine.Status()
		body["revision"], body["digest"] = st.Revision, st.Digest
	}
	b, _ := json.Marshal(body)
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// metricsSnapshot is what /metrics reports, gathered at once.
type metricsSnapshot struct {
	gateway gateway.Stats
	engine  policy.Status
	loader  bundle.Status
	audit   audit.Stats
	auditOK bool
	authn   authn.Stats
	issuer  *issuer.Stats // nil without token_issuer
	mcp     *mcp.Stats    // nil without mcp servers
}

func (s *server) snapshot() metricsSnapshot {
	m := metricsSnapshot{
		gateway: s.gateway.Stats(),
		engine:  s.engine.Status(),
		loader:  s.loader.Status(),
	}
	if a := s.audit; a != nil {
		m.audit, m.auditOK = a.Stats(), true
	}
	if v := s.verifier; v != nil {
		m.authn = v.Stats()
	}
	if s.issuer != nil {
		st := s.issuer.Stats()
		m.issuer = &st
	}
	if s.mcp != nil {
		st := s.mcp.Stats()
		m.mcp = &st
	}
	return m
}

// writeMetrics writes m in the Prometheus text exposition format (0.0.4).
func writeMetrics(w io.Writer, m metricsSnapshot) {
	mw := metricWriter{w: w}

	mw.header("warden_requests_total", "counter", "Finished data-plane requests by route and decision (allow, deny, or none when no decision was made).")
	reqs := slices.Clone(m.gateway.Requests)
	slices.SortFunc(reqs, func(a, b gateway.RequestCount) int {
		return strings.Compare(a.Route+"\x00"+a.Decision, b.Route+"\x00"+b.Decision)
	})
	for _, rc := range reqs {
		mw.sample("warden_requests_total", labels("route", rc.Route, "decision", rc.Decision), float64(rc.Count))
	}

	if m.mcp != nil {
		mw.header("warden_mcp_messages_total", "counter", "JSON-RPC messages to MCP servers by server and decision (allow: forwarded; deny: refused, with the requests refused before any message was judged).")
		for _, st := range m.mcp.Servers {
			mw.sample("warden_mcp_messages_total", labels("server", st.Server, "decision", "allow"), float64(st.Allowed))
			mw.sample("warden_mcp_messages_total", labels("server", st.Server, "decision", "deny"), float64(st.Denied))
		}
	}

	h := m.gateway.DecisionLatency
	mw.header("warden_decision_duration_seconds", "histogram", "Time to reach a policy decision.")
	for i, b := range h.Bounds {
		if i < len(h.Counts) {
			mw.sample("warden_decision_duration_seconds_bucket", labels("le", formatFloat(b)), float64(h.Counts[i]))
		}
	}
	mw.sample("warden_decision_duration_seconds_bucket", labels("le", "+Inf"), float64(h.Count))
	mw.sample("warden_decision_duration_seconds_sum", "", h.Sum)
	mw.sample("warden_decision_duration_seconds_count", "", float64(h.Count))

	mw.header("warden_guard_hits_total", "counter", "Guard detector matches in prompts and outputs.")
	dets := make([]string, 0, len(m.gateway.GuardHits))
	for d := range m.gateway.GuardHits {
		dets = append(dets, d)
	}
	slices.Sort(dets)
	for _, d := range dets {
		mw.sample("warden_guard_hits_total", labels("detector", d), float64(m.gateway.GuardHits[d]))
	}
	mw.counter("warden_upstream_errors_total", "Upstream failures (transport errors, timeouts).", float64(m.gateway.UpstreamErrors))
	mw.counter("warden_gateway_audit_failures_total", "Audit records the gateway could not hand to the audit log.", float64(m.gateway.AuditFailures))

	e := m.engine
	mw.gauge("warden_policy_bundle_loaded", "1 when a verified policy bundle is loaded, else 0 (every request is denied).", boolFloat(e.Loaded))
	mw.header("warden_policy_bundle_info", "gauge", "The loaded policy bundle's revision and digest (value always 1).")
	if e.Loaded {
		mw.sample("warden_policy_bundle_info", labels("revision", e.Revision, "digest", e.Digest), 1)
	}
	mw.gauge("warden_policy_bundle_loaded_timestamp_seconds", "When the loaded bundle was swapped in (Unix time; 0 if none).", unixSeconds(e.LoadedAt.IsZero(), e.LoadedAt.UnixNano()))
	mw.gauge("warden_policy_policies", "Policies in the loaded bundle.", float64(e.Policies))
	mw.counter("warden_policy_load_failures_total", "Bundles refused (signature, digests, parse, validation) since start.", float64(e.Failures))

	l := m.loader
	mw.counter("warden_bundle_source_attempts_total", "Checks of the bundle source since start.", float64(l.Attempts))
	mw.gauge("warden_bundle_source_failures", "Failed checks of the bundle source since the last applied bundle.", float64(l.Failures))
	mw.gauge("warden_bundle_source_last_success_timestamp_seconds", "When the source last yielded an applied bundle (Unix time; 0 if never).", unixSeconds(l.LastSuccess.IsZero(), l.LastSuccess.UnixNano()))

	mw.header("warden_jwks_refresh_failures_total", "counter", "Failed fetches of an issuer's key set (JWKS) since start.")
	for _, is := range m.authn.Issuers {
		mw.sample("warden_jwks_refresh_failures_total", labels("issuer", is.Issuer), float64(is.RefreshFailures))
	}
	mw.header("warden_jwks_keys_stale", "gauge", "1 when an issuer's key set is past its max-stale bound (its tokens are refused), else 0.")
	for _, is := range m.authn.Issuers {
		mw.sample("warden_jwks_keys_stale", labels("issuer", is.Issuer), boolFloat(is.Stale))
	}
	mw.header("warden_jwks_keys_last_refresh_timestamp_seconds", "gauge", "When an issuer's key set was last loaded or confirmed (Unix time; 0 if never).")
	for _, is := range m.authn.Issuers {
		mw.sample("warden_jwks_keys_last_refresh_timestamp_seconds", labels("issuer", is.Issuer), unixSeconds(is.LastRefresh.IsZero(), is.LastRefresh.UnixNano()))
	}

	if is := m.issuer; is != nil {
		writeCounts(mw, "warden_issuer_tokens_total", "Tokens issued by the token issuer, by grant.", "grant", is.Issued)
		writeCounts(mw, "warden_issuer_refusals_total", "Refused token, introspection and revocation requests, by OAuth error code.", "error", is.Refused)
		mw.gauge("warden_issuer_revocations", "Revoked token IDs and refresh families this node holds.", float64(is.Revocations))
		mw.gauge("warden_issuer_published_keys", "Signing keys in the JWKS (next, current, retired).", float64(is.PublishedKeys))
		mw.counter("warden_issuer_resync_failures_total", "Failed reloads of revocations or keys from the store.", float64(is.ResyncFailures))
		mw.gauge("warden_issuer_feed_waiters", "Revocation-feed long polls and event streams held now.", float64(is.FeedWaiters))
	}

	if m.auditOK {
		a := m.audit
		mw.gauge("warden_audit_queue_depth", "Audit records waiting for the writer.", float64(a.QueueDepth))
		mw.gauge("warden_audit_queue_capacity", "Capacity of the audit queue.", float64(a.QueueCapacity))
		mw.counter("warden_audit_records_committed_total", "Audit records committed since start.", float64(a.Committed))
		mw.counter("warden_audit_batches_total", "Audit commits since start.", float64(a.Batches))
		mw.counter("warden_audit_rejected_total", "Audit appends refused (queue full, failed, closed, invalid).", float64(a.Rejected))
		mw.counter("warden_audit_commit_failures_total", "Failed audit commit attempts.", float64(a.CommitFailures))
		mw.counter("warden_audit_lost_total", "Audit records accepted but never committed.", float64(a.Lost))
		mw.gauge("warden_audit_last_seq", "Last committed sequence number of this node's chain.", float64(a.LastSeq))
		mw.gauge("warden_audit_degraded", "1 while audit commits are failing and being retried.", boolFloat(a.Degraded))
		mw.gauge("warden_audit_failed", "1 when the audit log has stopped for good.", boolFloat(a.Failed))
	}
}

// writeCounts writes a counter family with one label, in label order.
func writeCounts(mw metricWriter, name, help, label string, counts map[string]uint64) {
	mw.header(name, "counter", help)
	keys := slices.Sorted(maps.Keys(counts))
	for _, k := range keys {
		mw.sample(name, labels(label, k), float64(counts[k]))
	}
}

type metricWriter struct{ w io.Writer }

func (m metricWriter) header(name, typ, help string) {
	fmt.Fprintf(m.w, "# HELP %s %s\n# TYPE %s %s\n", name, escapeHelp(help), name, typ)
}

func (m metricWriter) sample(name, labels string, v float64) {
	fmt.Fprintf(m.w, "%s%s %s\n", name, labels, formatFloat(v))
}

func (m metricWriter) counter(name, help string, v float64) {
	m.header(name, "counter", help)
	m.sample(name, "", v)
}

func (m metricWriter) gauge(name, help string, v float64) {
	m.header(name, "gauge", help)
	m.sample(name, "", v)
}

// labels renders {k1="v1",k2="v2"} from alternating names and values,
// escaping the values as the text format requires.
func labels(kv ...string) string {
	var b strings.Builder
	b.WriteByte('{')
	for i := 0; i+1 < len(kv); i += 2 {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(kv[i])
		b.WriteString(`="`)
		b.WriteString(escapeLabel(kv[i+1]))
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String()
}

func escapeLabel(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s)
}

func escapeHelp(s string) string {
	return strings.NewReplacer(`\`, `\\`, "\n", `\n`).Replace(s)
}

func formatFloat(v float64) string {
	return strconv.FormatFloat(v, 'g', -1, 64)
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func unixSeconds(zero bool, nanos int64) float64 {
	if zero {
		return 0
	}
	return float64(nanos) / 1e9
}
