package policy

import (
	"strings"
	"testing"
)

const riskPolicies = `
@id("read-readers")
permit (principal in Role::"reader", action == Action::"doc:read", resource);

@id("writers-high")
@risk("high")
permit (principal in Role::"writer", action == Action::"doc:write", resource);

@id("writers-read-low")
@risk("low")
permit (principal in Role::"writer", action == Action::"doc:read", resource);

@id("no-secret")
forbid (principal, action, resource is Doc) when { resource.level >= 3 };

@id("agent-writes-high")
@risk("high")
permit (principal is Agent, action == Action::"doc:write", resource)
when { context has on_behalf_of && context.on_behalf_of in Role::"writer" };
`

func TestDecideHighRisk(t *testing.T) {
	c := mustCompile(t, testBundle(map[string]string{"policies/main.cedar": riskPolicies}))
	tests := []struct {
		name     string
		req      Request
		allow    bool
		highRisk bool
	}{
		{"unannotated permit", Request{Principal: user("r", "reader"), Action: "doc:read", Resource: doc("d", 1)}, true, false},
		{"high-risk permit", Request{Principal: user("w", "writer"), Action: "doc:write", Resource: doc("d", 1)}, true, true},
		{"low-risk permit", Request{Principal: user("w", "writer"), Action: "doc:read", Resource: doc("d", 1)}, true, false},
		{"forbid beats a high-risk permit: a deny is never high risk", Request{Principal: user("w", "writer"), Action: "doc:write", Resource: doc("d", 3)}, false, false},
		{"default deny", Request{Principal: user("r", "reader"), Action: "doc:write", Resource: doc("d", 1)}, false, false},
		{"delegated: high risk from either pass", Request{Principal: delegated("w", "bot", "writer"), Action: "doc:write", Resource: doc("d", 1)}, true, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := c.decide(tc.req, testClock())
			if d.Allowed != tc.allow || d.HighRisk != tc.highRisk {
				t.Fatalf("Allowed, HighRisk = %v, %v; want %v, %v (errors %v)", d.Allowed, d.HighRisk, tc.allow, tc.highRisk, d.Errors)
			}
		})
	}
}

func TestCompileRiskAnnotation(t *testing.T) {
	tests := []struct {
		name   string
		policy string
		want   string // "" = compiles
	}{
		{"high", `@risk("high") permit (principal, action, resource);`, ""},
		{"low", `@risk("low") permit (principal, action, resource);`, ""},
		{"unknown value", `@id("p") @risk("HIGH") permit (principal, action, resource);`, `policy "p": @risk("HIGH"): want "high" or "low"`},
		{"on a forbid", `@id("f") @risk("high") forbid (principal, action, resource);`, `policy "f": @risk applies to permit policies only`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Compile(testBundle(map[string]string{"policies/main.cedar": tc.policy}), Meta{})
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("Compile: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("Compile error = %v; want it to contain %q", err, tc.want)
			}
		})
	}
	c := mustCompile(t, testBundle(map[string]string{"policies/main.cedar": riskPolicies}))
	for _, p := range c.Policies() {
		if p.ID == "writers-high" && p.Risk != RiskHigh {
			t.Errorf("PolicyInfo(writers-high).Risk = %q, want %q", p.Risk, RiskHigh)
		}
	}
}
