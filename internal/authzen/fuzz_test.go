package authzen_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/wardenhq/warden/internal/authzen"
)

// FuzzParseEvaluations feeds arbitrary bodies to both parsers: they must
// never panic, every error must be a *RequestError, and an accepted
// request must be complete (every item with an action name and a resource
// type and id, at most MaxEvaluations items).
func FuzzParseEvaluations(f *testing.F) {
	for _, s := range []string{
		`{"subject":{"type":"user","id":"eve"},"action":{"name":"trace:read"},"resource":{"type":"Trace","id":"t1","properties":{"tenant":"acme"}},"context":{"ip":"10.0.0.1"}}`,
		`{"action":{"name":"a"},"options":{"evaluations_semantic":"deny_on_first_deny"},"evaluations":[{"resource":{"type":"T","id":"1"}},{"action":{"name":"b"},"resource":{"type":"T","id":"2"}}]}`,
		`{"evaluations":[]}`, `{"a":1,"a":2}`, `[` + strings.Repeat("[", 40), `{"action":{"name":"x"},"resource":{"type":"T","id":"1"}} x`,
		`{"action":{"name":1}}`, `{"context":{"n":12345678901234567890}}`, "{\"action\":{\"name\":\"\xff\"}}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		check := func(err error) {
			var re *authzen.RequestError
			if err != nil && !errors.As(err, &re) {
				t.Fatalf("error %v (%T) is not a *RequestError", err, err)
			}
		}
		ev, err := authzen.ParseEvaluation(b)
		check(err)
		if err == nil && (ev.Action == nil || ev.Action.Name == "" || ev.Resource == nil || ev.Resource.Type == "" || ev.Resource.ID == "") {
			t.Fatalf("accepted an incomplete evaluation: %+v", ev)
		}
		evs, _, err := authzen.ParseEvaluations(b, 0)
		check(err)
		if err != nil {
			return
		}
		if n := len(evs.Evaluations); n == 0 || n > authzen.MaxEvaluations {
			t.Fatalf("accepted %d items", n)
		}
		for i, it := range evs.Evaluations {
			if it.Action == nil || it.Action.Name == "" || it.Resource == nil || it.Resource.Type == "" || it.Resource.ID == "" {
				t.Fatalf("item %d incomplete after defaults: %+v", i, it)
			}
		}
		switch evs.Semantic() {
		case authzen.ExecuteAll, authzen.DenyOnFirstDeny, authzen.PermitOnFirstPermit:
		default:
			t.Fatalf("accepted semantic %q", evs.Semantic())
		}
	})
}
