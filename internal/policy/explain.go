package policy

import (
	"fmt"
	"strings"
)

// Explain renders the decision for a person: the outcome, what was
// evaluated, which policies permitted or forbade (with their @reason and
// file:line), or that no policy permits the action for that principal on
// that resource, and every error. A delegated request shows both passes.
func (d *Decision) Explain() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n", verdict(d.Allowed))
	fmt.Fprintf(&b, "  principal: %s\n", orNone(d.Principal))
	if d.OnBehalfOf != "" {
		fmt.Fprintf(&b, "  on behalf of: %s\n", d.OnBehalfOf)
	}
	fmt.Fprintf(&b, "  action:    %s\n", orNone(d.Action))
	fmt.Fprintf(&b, "  resource:  %s\n", orNone(d.Resource))
	if d.Revision != "" || d.Digest != "" {
		fmt.Fprintf(&b, "  bundle:    %s\n", describe(Meta{Revision: d.Revision, Digest: d.Digest}))
	}
	switch len(d.Evaluations) {
	case 0:
		// Denied before any evaluation: the errors say why.
	case 1:
		d.explainPass(&b, &d.Evaluations[0], "  ")
	default:
		fmt.Fprintf(&b, "  delegated: allowed only if both the agent and the user are allowed\n")
		for i := range d.Evaluations {
			ev := &d.Evaluations[i]
			label := "as " + ev.Principal
			if i == 0 && d.OnBehalfOf != "" {
				label += " acting for " + d.OnBehalfOf
			}
			fmt.Fprintf(&b, "  %s: %s\n", label, verdict(ev.Allowed))
			d.explainPass(&b, ev, "    ")
		}
	}
	if len(d.Evaluations) == 0 {
		for _, e := range d.Errors {
			fmt.Fprintf(&b, "  error: %s\n", e)
		}
	}
	return b.String()
}

func (d *Decision) explainPass(b *strings.Builder, ev *Evaluation, indent string) {
	reasons := ev.decisive()
	for _, r := range reasons {
		verb := "permitted by"
		if r.Effect == "forbid" {
			verb = "forbidden by"
		}
		fmt.Fprintf(b, "%s%s %s (%s:%d)", indent, verb, r.PolicyID, r.File, r.Line)
		if r.Reason != "" {
			fmt.Fprintf(b, ": %s", r.Reason)
		}
		b.WriteByte('\n')
	}
	if len(reasons) == 0 && len(ev.Errors) == 0 {
		fmt.Fprintf(b, "%sno policy permits %s for %s on %s (default deny)\n", indent, d.Action, ev.Principal, d.Resource)
	}
	for _, e := range ev.Errors {
		fmt.Fprintf(b, "%serror: %s (any error is a deny)\n", indent, e)
	}
}

// Summary is a one-line account of why the decision came out as it did, as
// used in test failure lines: "permitted by p1, p2", "forbidden by p3",
// "no policy permits ...", or the first error.
func (d *Decision) Summary() string {
	if len(d.Errors) > 0 {
		s := "error: " + d.Errors[0]
		if n := len(d.Errors) - 1; n > 0 {
			s += fmt.Sprintf(" (and %d more)", n)
		}
		return s
	}
	if len(d.Reasons) > 0 {
		verb := "permitted by "
		if !d.Allowed {
			verb = "forbidden by "
		}
		return verb + strings.Join(d.PolicyIDs(), ", ")
	}
	if d.Allowed {
		return "allowed"
	}
	for _, ev := range d.Evaluations {
		if !ev.Allowed {
			return fmt.Sprintf("no policy permits %s for %s on %s", d.Action, ev.Principal, d.Resource)
		}
	}
	return "denied"
}

func verdict(allowed bool) string {
	if allowed {
		return "ALLOW"
	}
	return "DENY"
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}
