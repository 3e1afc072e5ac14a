package authzen_test

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/wardenhq/warden/internal/audit"
	"github.com/wardenhq/warden/internal/authzen"
)

var (
	eve    = map[string]any{"sub": "eve", "roles": []string{"evaluator"}, "tenant": "acme"}
	erin   = map[string]any{"sub": "erin", "roles": []string{"engineer"}, "team": "platform", "tenant": "acme"}
	pep    = map[string]any{"sub": "svc-traces", "client_id": "svc-traces", "scope": "pdp:query"}
	nopdp  = map[string]any{"sub": "svc-other", "client_id": "svc-other"}
	trace1 = `{"type":"Trace","id":"tr-1","properties":{"tenant":"acme"}}`
)

func decision(t *testing.T, r response) (bool, []string) {
	t.Helper()
	if r.Status != http.StatusOK {
		t.Fatalf("status %d, want 200: %s", r.Status, r.Raw)
	}
	d, ok := r.Body["decision"].(bool)
	if !ok {
		t.Fatalf("no boolean decision: %s", r.Raw)
	}
	ctx, _ := r.Body["context"].(map[string]any)
	if id, _ := ctx["decision_id"].(string); id == "" {
		t.Fatalf("no context.decision_id: %s", r.Raw)
	}
	var ids []string
	for _, x := range ctx["reason_ids"].([]any) {
		ids = append(ids, x.(string))
	}
	return d, ids
}

func TestEvaluation(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	tests := []struct {
		name    string
		claims  map[string]any
		body    string
		want    bool
		reasons []string
	}{
		{"the caller's token is the subject", eve, `{"action":{"name":"trace:read"},"resource":` + trace1 + `}`, true, []string{"evaluator-read-traces"}},
		{"a subject naming the caller itself", eve, `{"subject":{"type":"user","id":"eve"},"action":{"name":"trace:read"},"resource":` + trace1 + `}`, true, []string{"evaluator-read-traces"}},
		{"denied by default", erin, `{"action":{"name":"trace:read"},"resource":` + trace1 + `}`, false, nil},
		{"denied by a forbid", eve, `{"action":{"name":"prompt:write"},"resource":{"type":"Prompt","id":"triage","properties":{"tenant":"acme","team":"platform"}}}`, false, []string{"evaluator-no-prompt-changes"}},
		{"pdp:query: an explicit subject with properties", pep, `{"subject":{"type":"user","id":"eve","properties":{"roles":["evaluator"],"tenant":"acme"}},"action":{"name":"trace:read"},"resource":` + trace1 + `}`, true, []string{"evaluator-read-traces"}},
		{"pdp:query: an explicit subject of another tenant", pep, `{"subject":{"type":"user","id":"eve","properties":{"roles":["evaluator"],"tenant":"globex"}},"action":{"name":"trace:read"},"resource":` + trace1 + `}`, false, nil},
		{"pdp:query: an agent from the catalogue", pep, `{"subject":{"type":"agent","id":"eval-runner"},"action":{"name":"evaluation:run"},"resource":{"type":"Evaluation","id":"nightly","properties":{"tenant":"acme"}}}`, true, []string{"evaluator-run-evaluations"}},
		{"an unknown action is a deny, not an error", eve, `{"action":{"name":"trace:burn"},"resource":` + trace1 + `}`, false, nil},
		{"a resource type the action does not apply to", eve, `{"action":{"name":"trace:read"},"resource":{"type":"Prompt","id":"x"}}`, false, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, reasons := decision(t, f.post(t, authzen.EvaluationPath, f.token(t, tc.claims), tc.body))
			if got != tc.want {
				t.Errorf("decision = %v, want %v", got, tc.want)
			}
			if tc.reasons != nil && !slices.Equal(reasons, tc.reasons) {
				t.Errorf("reason_ids = %v, want %v", reasons, tc.reasons)
			}
		})
	}
}

func TestEvaluationErrors(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	tok := f.token(t, eve)
	tests := []struct {
		name, path, tok, ctype, body string
		status                       int
		code, msg                    string
	}{
		{"no token", authzen.EvaluationPath, "", "", `{}`, 401, "unauthorized", "bearer token is required"},
		{"bad token", authzen.EvaluationPath, tok + "x", "", `{}`, 401, "unauthorized", "invalid bearer token"},
		{"not json content type", authzen.EvaluationPath, tok, "text/plain", `{}`, 415, "unsupported_media_type", "application/json"},
		{"missing action", authzen.EvaluationPath, tok, "", `{"resource":` + trace1 + `}`, 400, "invalid_request", "action is required"},
		{"missing resource", authzen.EvaluationPath, tok, "", `{"action":{"name":"trace:read"}}`, 400, "invalid_request", "resource is required"},
		{"missing subject after defaults", authzen.EvaluationsPath, f.token(t, pep), "", `{"evaluations":[{"subject":{"type":"user"},"action":{"name":"trace:read"},"resource":` + trace1 + `}]}`, 400, "invalid_request", "evaluations[0].subject.id is required"},
		{"resource id of the wrong type", authzen.EvaluationPath, tok, "", `{"action":{"name":"trace:read"},"resource":{"type":"Trace","id":7}}`, 400, "invalid_request", "resource.id must be a string"},
		{"action of the wrong type", authzen.EvaluationPath, tok, "", `{"action":"trace:read","resource":` + trace1 + `}`, 400, "invalid_request", "action must be an object"},
		{"unknown member", authzen.EvaluationPath, tok, "", `{"action":{"name":"trace:read"},"resource":` + trace1 + `,"extra":1}`, 400, "invalid_request", `unknown member "extra"`},
		{"member in another case", authzen.EvaluationPath, tok, "", `{"action":{"name":"trace:read"},"ACTION":{"name":"record:delete"},"resource":` + trace1 + `}`, 400, "invalid_request", `unknown member "ACTION"`},
		{"member in another case alone", authzen.EvaluationPath, tok, "", `{"Action":{"name":"trace:read"},"resource":` + trace1 + `}`, 400, "invalid_request", `unknown member "Action"`},
		{"nested member with the Kelvin sign", authzen.EvaluationPath, tok, "", `{"action":{"name":"trace:read"},"resource":{"type":"Trace","id":"t-1","\u212aind":1}}`, 400, "invalid_request", "unknown member \"\u212aind\""},
		{"batch item member in another case", authzen.EvaluationsPath, tok, "", `{"action":{"name":"trace:read"},"evaluations":[{"Resource":` + trace1 + `}]}`, 400, "invalid_request", `unknown member "Resource"`},
		{"duplicate member", authzen.EvaluationPath, tok, "", `{"action":{"name":"trace:read"},"action":{"name":"x"},"resource":` + trace1 + `}`, 400, "invalid_request", `duplicate member "action"`},
		{"not an object", authzen.EvaluationPath, tok, "", `[1]`, 400, "invalid_request", "must be a JSON object"},
		{"trailing data", authzen.EvaluationPath, tok, "", `{"action":{"name":"trace:read"},"resource":` + trace1 + `} {}`, 400, "invalid_request", "data after"},
		{"too deep", authzen.EvaluationPath, tok, "", `{"action":{"name":"a"},"resource":` + trace1 + `,"context":{"a":` + strings.Repeat("[", 20) + strings.Repeat("]", 20) + `}}`, 400, "invalid_request", "nested deeper"},
		{"reserved context", authzen.EvaluationPath, tok, "", `{"action":{"name":"trace:read"},"resource":` + trace1 + `,"context":{"time":"2020-01-01"}}`, 400, "invalid_request", "context.time is set by Warden"},
		{"bad context ip", authzen.EvaluationPath, tok, "", `{"action":{"name":"trace:read"},"resource":` + trace1 + `,"context":{"ip":"nope"}}`, 400, "invalid_request", "context.ip"},
		{"another subject without pdp:query", authzen.EvaluationPath, f.token(t, nopdp), "", `{"subject":{"type":"user","id":"eve"},"action":{"name":"trace:read"},"resource":` + trace1 + `}`, 403, "forbidden", "pdp:query"},
		{"the caller with properties without pdp:query", authzen.EvaluationPath, tok, "", `{"subject":{"type":"user","id":"eve","properties":{"roles":["admin"]}},"action":{"name":"trace:read"},"resource":` + trace1 + `}`, 403, "forbidden", "pdp:query"},
		{"missing subject with pdp:query", authzen.EvaluationPath, f.token(t, pep), "", `{"action":{"name":"trace:read"},"resource":` + trace1 + `}`, 400, "invalid_request", "subject is required"},
		{"unknown subject type", authzen.EvaluationPath, f.token(t, pep), "", `{"subject":{"type":"group","id":"x"},"action":{"name":"trace:read"},"resource":` + trace1 + `}`, 400, "invalid_request", "subject.type must be"},
		{"roles of the wrong type", authzen.EvaluationPath, f.token(t, pep), "", `{"subject":{"type":"user","id":"x","properties":{"roles":"admin"}},"action":{"name":"trace:read"},"resource":` + trace1 + `}`, 400, "invalid_request", "roles must be an array"},
		{"unknown semantic", authzen.EvaluationsPath, tok, "", `{"action":{"name":"trace:read"},"options":{"evaluations_semantic":"first_wins"},"evaluations":[{"resource":` + trace1 + `}]}`, 400, "invalid_request", "unknown options.evaluations_semantic"},
		{"too many items", authzen.EvaluationsPath, tok, "", `{"action":{"name":"trace:read"},"evaluations":[` + strings.TrimSuffix(strings.Repeat(`{"resource":`+trace1+`},`, 10000), ",") + `]}`, 400, "invalid_request", "10000 evaluations in one request; at most 1000"},
		{"body over 1 MiB", authzen.EvaluationPath, tok, "", `{"action":{"name":"trace:read"},"resource":` + trace1 + `,"context":{"pad":"` + strings.Repeat("x", 1<<20) + `"}}`, 413, "request_too_large", "over 1048576 bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("POST", f.srv.URL+tc.path, strings.NewReader(tc.body))
			ct := tc.ctype
			if ct == "" {
				ct = "application/json"
			}
			req.Header.Set("Content-Type", ct)
			if tc.tok != "" {
				req.Header.Set("Authorization", "Bearer "+tc.tok)
			}
			r := do(t, req)
			if r.Status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.Status, tc.status, r.Raw)
			}
			e, _ := r.Body["error"].(map[string]any)
			if e["code"] != tc.code || !strings.Contains(fmt.Sprint(e["message"]), tc.msg) {
				t.Errorf("error = %v, want code %q and a message with %q", e, tc.code, tc.msg)
			}
			if e["request_id"] == "" || e["request_id"] == nil {
				t.Errorf("no request_id: %s", r.Raw)
			}
			if tc.status == 401 && r.Header.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
		})
	}
	// Every refusal was audited as a deny with its code.
	recs := f.records(t)
	if len(recs) != len(tests) {
		t.Fatalf("%d audit records, want %d", len(recs), len(tests))
	}
	for _, rec := range recs {
		if rec.Decision != audit.Deny || rec.ErrorCode == "" || rec.Route != authzen.Route {
			t.Errorf("record %+v: want a deny with an error code on route authzen", rec)
		}
	}
}

func TestEvaluations(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	tok := f.token(t, eve)
	// Item 0 allowed, item 1 denied (another tenant), item 2 allowed
	// (action overridden), item 3 denied (forbid).
	items := `[{"resource":` + trace1 + `},
		{"resource":{"type":"Trace","id":"tr-2","properties":{"tenant":"globex"}}},
		{"action":{"name":"trace:replay"}},
		{"action":{"name":"prompt:write"},"resource":{"type":"Prompt","id":"triage","properties":{"tenant":"acme","team":"platform"}}}]`
	tests := []struct {
		semantic string
		want     []bool
	}{
		{"", []bool{true, false, true, false}},
		{authzen.ExecuteAll, []bool{true, false, true, false}},
		{authzen.DenyOnFirstDeny, []bool{true, false}},
		{authzen.PermitOnFirstPermit, []bool{true}},
	}
	before := 0
	for _, tc := range tests {
		t.Run("semantic="+tc.semantic, func(t *testing.T) {
			opts := ""
			if tc.semantic != "" {
				opts = `,"options":{"evaluations_semantic":"` + tc.semantic + `"}`
			}
			r := f.post(t, authzen.EvaluationsPath, tok, `{"action":{"name":"trace:read"},"resource":`+trace1+opts+`,"evaluations":`+items+`}`)
			if r.Status != 200 {
				t.Fatalf("status %d: %s", r.Status, r.Raw)
			}
			evs, _ := r.Body["evaluations"].([]any)
			var got []bool
			ids := map[string]bool{}
			for _, e := range evs {
				m := e.(map[string]any)
				got = append(got, m["decision"].(bool))
				ids[m["context"].(map[string]any)["decision_id"].(string)] = true
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("decisions = %v, want %v", got, tc.want)
			}
			if len(ids) != len(got) {
				t.Errorf("decision ids not distinct: %v", ids)
			}
			// One audit record per evaluation made, with its decision id.
			recs := f.records(t)[before:]
			before += len(recs)
			if len(recs) != len(tc.want) {
				t.Fatalf("%d audit records, want %d", len(recs), len(tc.want))
			}
			for i, rec := range recs {
				if !ids[rec.DecisionID] || (rec.Decision == audit.Allow) != tc.want[i] || rec.Subject != "eve" {
					t.Errorf("record %d: %+v", i, rec)
				}
			}
		})
	}

	t.Run("no items is one evaluation", func(t *testing.T) {
		got, _ := decision(t, f.post(t, authzen.EvaluationsPath, tok, `{"action":{"name":"trace:read"},"resource":`+trace1+`}`))
		if !got {
			t.Error("want allow")
		}
	})
	t.Run("per-item subjects with pdp:query", func(t *testing.T) {
		r := f.post(t, authzen.EvaluationsPath, f.token(t, pep), `{"action":{"name":"trace:read"},"resource":`+trace1+`,"evaluations":[
			{"subject":{"type":"user","id":"eve","properties":{"roles":["evaluator"],"tenant":"acme"}}},
			{"subject":{"type":"user","id":"erin","properties":{"roles":["engineer"],"tenant":"acme"}}}]}`)
		evs, _ := r.Body["evaluations"].([]any)
		if len(evs) != 2 || evs[0].(map[string]any)["decision"] != true || evs[1].(map[string]any)["decision"] != false {
			t.Fatalf("got %s", r.Raw)
		}
		recs := f.records(t)
		last := recs[len(recs)-2:]
		if last[0].Subject != "eve" || last[1].Subject != "erin" || !slices.Equal(last[0].Actors, []string{"svc-traces"}) {
			t.Errorf("records name the evaluated subject and the asking caller: %+v", last)
		}
	})
}

func TestEnvFromConfig(t *testing.T) {
	// The reference bundle keeps staging models out of production: the
	// node's env decides, whatever the caller says it is.
	paul := map[string]any{"sub": "paul", "team": "platform", "tenant": "acme"}
	body := `{"action":{"name":"model:invoke"},"resource":{"type":"Model","id":"llama-3-8b-dev"},"context":{"env":"staging"}}`
	for _, tc := range []struct {
		env  string
		want bool
	}{{"", true}, {"staging", true}, {"production", false}} {
		f := newFixture(t, fixtureOpts{env: tc.env, noAudit: true})
		got, _ := decision(t, f.post(t, authzen.EvaluationPath, f.token(t, paul), body))
		if got != tc.want {
			t.Errorf("node env %q: decision %v, want %v", tc.env, got, tc.want)
		}
	}
}

func TestAuditFailClosed(t *testing.T) {
	f := newFixture(t, fixtureOpts{closedAudit: true})
	r := f.post(t, authzen.EvaluationsPath, f.token(t, eve), `{"action":{"name":"trace:read"},"evaluations":[{"resource":`+trace1+`},{"resource":`+trace1+`}]}`)
	if r.Status != http.StatusServiceUnavailable || !strings.Contains(r.Raw, "audit_unavailable") {
		t.Fatalf("got %d %s, want 503 audit_unavailable", r.Status, r.Raw)
	}
}

func TestMetadata(t *testing.T) {
	f := newFixture(t, fixtureOpts{noAudit: true})
	req, _ := http.NewRequest("GET", f.srv.URL+authzen.MetadataPath, nil)
	r := do(t, req)
	if r.Status != 200 {
		t.Fatalf("status %d", r.Status)
	}
	want := map[string]any{
		"policy_decision_point":       f.srv.URL,
		"access_evaluation_endpoint":  f.srv.URL + authzen.EvaluationPath,
		"access_evaluations_endpoint": f.srv.URL + authzen.EvaluationsPath,
	}
	for k, v := range want {
		if r.Body[k] != v {
			t.Errorf("%s = %v, want %v", k, r.Body[k], v)
		}
	}
	req, _ = http.NewRequest("POST", f.srv.URL+authzen.MetadataPath, nil)
	if r := do(t, req); r.Status != 405 {
		t.Errorf("POST metadata: %d, want 405", r.Status)
	}
	req, _ = http.NewRequest("GET", f.srv.URL+authzen.EvaluationPath, nil)
	if r := do(t, req); r.Status != 405 {
		t.Errorf("GET evaluation: %d, want 405", r.Status)
	}
}

func TestRequestIDEcho(t *testing.T) {
	f := newFixture(t, fixtureOpts{noAudit: true})
	req, _ := http.NewRequest("POST", f.srv.URL+authzen.EvaluationPath, strings.NewReader(`{"action":{"name":"trace:read"},"resource":`+trace1+`}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+f.token(t, eve))
	req.Header.Set("X-Request-ID", "pep-123")
	if r := do(t, req); r.Header.Get("X-Request-Id") != "pep-123" {
		t.Errorf("X-Request-Id = %q, want the caller's", r.Header.Get("X-Request-Id"))
	}
}
