package differential_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/wardenhq/warden/enforce"
	"github.com/wardenhq/warden/internal/bundle"
	"github.com/wardenhq/warden/internal/differential"
	"github.com/wardenhq/warden/internal/jwk"
)

// enforceDecider drives the enforce middleware over HTTP on 127.0.0.1,
// built as a service builds it: the reference bundle signed in memory,
// the cases' key as static JWKS under every issuer, one Enforcer per
// deployment env, and the gateway's route table for tool routes (one route
// per action and resource type, the id and string attributes from headers).
//
// It skips what the gateway skips, and every model action (the middleware
// has no model routes). A high-risk allow (a permit with @risk("high")) is
// refused by the middleware because this test runs no Warden to confirm the
// token; its 403 says so, and is counted as the allow the policy gave: the
// decision compared is the policy's, the confirmation is the middleware's
// own layer (tested in enforce and examples/service).
func enforceDecider(t *testing.T, e *env, cat *differential.Catalogue) Decider {
	pub, err := e.key.Public()
	if err != nil {
		t.Fatal(err)
	}
	jwks, err := (&jwk.Set{Keys: []*jwk.Key{pub}}).MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	bk, err := jwk.Generate("EdDSA", "differential-bundle")
	if err != nil {
		t.Fatal(err)
	}
	bpub, _ := bk.Public()
	bkeys, _ := (&jwk.Set{Keys: []*jwk.Key{bpub}}).MarshalJSON()
	files, err := bundle.ReadDir(bundleDir)
	if err != nil {
		t.Fatal(err)
	}
	data, _, err := bundle.Build(files, bundle.BuildOptions{Revision: "differential", Created: time.Now(), Key: bk})
	if err != nil {
		t.Fatal(err)
	}
	var issuers []enforce.Issuer
	for _, iss := range e.issuers {
		issuers = append(issuers, enforce.Issuer{Issuer: iss, Audiences: []string{audience}, Algorithms: []string{"ES256"}, JWKS: jwks})
	}
	attrs := map[string]string{}
	for _, a := range gatewayAttrs {
		attrs[a] = "header:X-Attr-" + a
	}
	var routes []enforce.Route
	for _, a := range cat.Actions {
		if strings.HasPrefix(a, "model:") {
			continue
		}
		for _, typ := range cat.AllTypes {
			routes = append(routes, enforce.Route{
				Name: a + "/" + typ, Methods: []string{"GET"}, Pattern: "/d/" + a + "/" + typ, Action: a,
				Resource: enforce.ResourceTemplate{Type: typ, ID: "header:X-Resource-Id", Attributes: attrs},
			})
		}
	}
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	srvs := map[string]*httptest.Server{}
	for _, dep := range []string{"", "staging", "production"} {
		enf, err := enforce.New(context.Background(), enforce.Config{
			Issuers: issuers, Env: dep,
			Bundle: enforce.Bundle{Data: data, PublicKeys: bkeys},
			Audit:  enforce.Audit{InsecureNoAudit: true}, // see gatewayDecider
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { enf.Close() })
		if err := enf.Ready(); err != nil {
			t.Fatal(err)
		}
		mw, err := enf.Middleware(routes)
		if err != nil {
			t.Fatal(err)
		}
		srvs[dep] = httptest.NewServer(mw(ok))
		t.Cleanup(srvs[dep].Close)
	}
	gw := gatewayDecider(t, e, cat) // for its Skip: the same route shapes
	client := &http.Client{Timeout: 10 * time.Second}
	highRisk := 0
	t.Cleanup(func() {
		t.Logf("enforce: %d high-risk allows refused for want of a Warden to confirm them, compared as allows", highRisk)
	})
	return Decider{
		Name: "enforce",
		Skip: func(c differential.Case) string {
			if strings.HasPrefix(c.Action, "model:") {
				return "model actions have no middleware route"
			}
			return gw.Skip(c)
		},
		Decide: func(t *testing.T, c differential.Case) (bool, []string) {
			dep, _ := c.Context["env"].(string)
			req, _ := http.NewRequest("GET", srvs[dep].URL+"/d/"+c.Action+"/"+c.Resource.Type, nil)
			req.Header.Set("X-Resource-Id", c.Resource.ID)
			for k, v := range c.Resource.Attributes {
				req.Header.Set("X-Attr-"+k, v.(string))
			}
			req.Header.Set("Authorization", "Bearer "+e.token(t, e.claims(c)))
			res, err := client.Do(req)
			if err != nil {
				t.Fatalf("%s: enforce: %v", c.Name, err)
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			var body struct {
				Error struct{ Code, Message string } `json:"error"`
			}
			_ = json.Unmarshal(b, &body)
			switch {
			case res.StatusCode == http.StatusOK:
				return true, nil
			case res.StatusCode == http.StatusForbidden && strings.Contains(body.Error.Message, "confirmed by its issuer"):
				highRisk++ // a high-risk allow awaiting confirmation
				return true, nil
			case res.StatusCode == http.StatusForbidden && bytes.Contains(b, []byte(`"code":"forbidden"`)):
				return false, nil
			}
			t.Fatalf("%s: enforce answered %d %s", c.Name, res.StatusCode, b)
			return false, nil
		},
	}
}
