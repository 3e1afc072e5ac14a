package cli

import (
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/spf13/cobra"
	"github.com/wardenhq/warden/internal/authn"
	"github.com/wardenhq/warden/internal/jwk"
)

// notVerifiedWarning is printed by every decode, on stderr and in the text
// output: decoding shows claims, it does not establish them.
const notVerifiedWarning = "WARNING: signature NOT verified — this shows what the token claims, not whether it is true. Use 'warden token verify'."

type tokenDecodeFlags struct {
	json     bool
	maxBytes int
}

func newTokenDecodeCmd(stdio IO) *cobra.Command {
	var f tokenDecodeFlags
	cmd := &cobra.Command{
		Use:   "decode [TOKEN|-]",
		Short: "Show a token's header and claims WITHOUT verifying it",
		Long: `Show the header and claims of a JWT as pretty JSON, with a summary (alg, typ,
kid, issuer, subject, audience, client_id, roles, scopes, actor chain, when it
was issued and when it expires, relative to now) and warnings about anything
dangerous in it.

The token is read from the argument, or from stdin when the argument is "-" or
missing. Surrounding white space and a leading "Bearer " are ignored.

The token must be well formed by the same strict rules "warden token verify"
applies (three segments of canonical unpadded base64url, JSON objects in
valid UTF-8 without duplicate names, at most --max-bytes long); anything else
is reported on one line with exit code 2. A well-formed token exits 0, even if
it is expired or unsigned: judging it is verify's job.

--json prints one JSON object for scripts:
  {"header":{...}, "claims":{...}, "summary":{...}, "warnings":[...], "verified":false}

SECURITY CONSIDERATIONS
  decode does NOT check the signature, the issuer, the audience or the expiry.
  Anyone can write a token with any claims in it; what decode prints is only
  what the token says about itself. Never base a decision on decoded claims:
  use "warden token verify" with the issuer's keys. The not-verified warning is
  printed on stderr and at the top of the text output every time.
  decode warns about headers and algorithms that attackers use to make a
  verifier trust the wrong key: alg "none" in any letter case, HMAC algorithms
  (anyone who can verify can mint), jku and x5u (fetch keys from a URL the
  token chooses), jwk and x5c (a key embedded in the token), crit, b64, zip,
  enc and cty. Warden's verifier rejects all of those headers and never
  fetches anything a token names; decode never fetches anything either.
  Decoded tokens are bearer credentials: do not paste a live token into
  shared logs or tickets.`,
		Example: `  # Decode a token given as an argument
  warden token decode "$TOKEN"

  # Decode from stdin, for example a copied Authorization header
  echo "Bearer $TOKEN" | warden token decode -

  # Machine-readable, e.g. to pick a claim with jq
  warden token decode --json "$TOKEN"`,
		Args: usageArgs(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runTokenDecode(stdio, f, args)
		},
	}
	cmd.Flags().BoolVar(&f.json, "json", false, "print one JSON object {header, claims, summary, warnings, verified:false}")
	cmd.Flags().IntVar(&f.maxBytes, "max-bytes", defaultMaxTokenBytes, "largest token accepted, in bytes")
	return cmd
}

// decodeSummary is the human-relevant digest of a decoded token. It is part
// of decode's --json output.
type decodeSummary struct {
	Alg         string     `json:"alg"`
	Typ         string     `json:"typ,omitempty"`
	KeyID       string     `json:"kid,omitempty"`
	Issuer      string     `json:"iss,omitempty"`
	Subject     string     `json:"sub,omitempty"`
	Audience    []string   `json:"aud,omitempty"`
	ClientID    string     `json:"client_id,omitempty"`
	Roles       []string   `json:"roles,omitempty"`
	Scopes      []string   `json:"scopes,omitempty"`
	Actors      []string   `json:"act,omitempty"`
	IssuedAt    *time.Time `json:"issued_at,omitempty"`
	NotBefore   *time.Time `json:"not_before,omitempty"`
	ExpiresAt   *time.Time `json:"expires_at,omitempty"`
	Expired     bool       `json:"expired"`
	NotYetValid bool       `json:"not_yet_valid"`
}

type decodeOutput struct {
	Header   map[string]any `json:"header"`
	Claims   map[string]any `json:"claims"`
	Summary  decodeSummary  `json:"summary"`
	Warnings []string       `json:"warnings"`
	Verified bool           `json:"verified"`
}

func runTokenDecode(stdio IO, f tokenDecodeFlags, args []string) error {
	if f.maxBytes <= 0 {
		return usageErrorf("token decode: --max-bytes must be positive")
	}
	tok, err := readToken(stdio, args, f.maxBytes)
	if err != nil {
		return err
	}
	p, err := authn.Parse(tok, f.maxBytes)
	if err != nil {
		return usageErrorf("token decode: %s", describeParseError(err))
	}
	fmt.Fprintln(stdio.Stderr, notVerifiedWarning)
	now := stdio.Now()
	out := decodeOutput{
		Header:   p.Header,
		Claims:   p.Claims,
		Warnings: []string{},
	}
	out.Summary, out.Warnings = summarize(p, now)
	if len(out.Warnings) == 0 {
		out.Warnings = []string{}
	}
	if f.json {
		b, err := prettyJSON(out)
		if err != nil {
			return usageErrorf("token decode: %w", err)
		}
		_, err = stdio.Stdout.Write(b)
		return err
	}
	return writeDecodeText(stdio.Stdout, out, now)
}

// describeParseError names the kind of parse failure and the problem.
func describeParseError(err error) string {
	switch {
	case errors.Is(err, authn.ErrTooLarge):
		return fmt.Sprintf("%v: %v", authn.ErrTooLarge, err)
	case errors.Is(err, authn.ErrMalformed):
		return fmt.Sprintf("%v: %v", authn.ErrMalformed, err)
	}
	return err.Error()
}

func summarize(p *authn.Parsed, now time.Time) (decodeSummary, []string) {
	var s decodeSummary
	var warn []string
	h, c := p.Header, p.Claims

	alg, algIsString := h["alg"].(string)
	s.Alg = alg
	switch {
	case h["alg"] == nil:
		warn = append(warn, `no "alg" header: no verifier can check this token`)
	case !algIsString:
		warn = append(warn, fmt.Sprintf(`"alg" header is a %s, not a string`, jsonKind(h["alg"])))
	case strings.EqualFold(alg, "none"):
		warn = append(warn, fmt.Sprintf(`alg %q: the token is UNSIGNED; anyone can write it, and no verifier may accept it`, alg))
	case strings.HasPrefix(strings.ToUpper(alg), "HS"):
		warn = append(warn, fmt.Sprintf(`alg %q is symmetric (HMAC): whoever can verify it can also mint it; it is safe only when the verifier is the issuer`, alg))
	}
	if algIsString && !strings.EqualFold(alg, "none") && !slices.Contains(jwk.Algorithms(), alg) {
		warn = append(warn, fmt.Sprintf(`alg %q is not an algorithm Warden accepts (%s)`, alg, strings.Join(jwk.Algorithms(), ", ")))
	}
	if len(p.Signature) == 0 {
		warn = append(warn, "the signature segment is empty: the token is unsigned")
	}
	for _, name := range []string{"jku", "x5u"} {
		if _, ok := h[name]; ok {
			warn = append(warn, fmt.Sprintf(`header %q names a URL to fetch keys from, chosen by whoever wrote the token; Warden never fetches it and rejects the token`, name))
		}
	}
	for _, name := range []string{"jwk", "x5c"} {
		if _, ok := h[name]; ok {
			warn = append(warn, fmt.Sprintf(`header %q embeds a key in the token: a token that brings its own key proves nothing; Warden rejects it`, name))
		}
	}
	for _, hw := range []struct{ name, why string }{
		{"crit", "marks extensions the verifier must understand"},
		{"b64", "asks for an unencoded payload (RFC 7797)"},
		{"zip", "asks for a compressed payload"},
		{"enc", "is a JWE (encryption) header"},
		{"cty", "declares nested content"},
	} {
		if _, ok := h[hw.name]; ok {
			warn = append(warn, fmt.Sprintf("header %q %s; Warden rejects it", hw.name, hw.why))
		}
	}
	s.Typ, _ = h["typ"].(string)
	s.KeyID, _ = h["kid"].(string)
	if v, ok := h["kid"]; ok && s.KeyID == "" {
		warn = append(warn, fmt.Sprintf(`"kid" header is a %s, not a non-empty string`, jsonKind(v)))
	}

	s.Issuer, _ = c["iss"].(string)
	s.Subject, _ = c["sub"].(string)
	s.Audience = stringList(c["aud"])
	if len(s.Audience) == 0 {
		warn = append(warn, `no "aud": any service that trusts the issuer would accept this token`)
	}
	s.ClientID, _ = c["client_id"].(string)
	if s.ClientID == "" {
		s.ClientID, _ = c["azp"].(string)
	}
	s.Roles = stringList(c["roles"])
	if sc, ok := c["scope"].(string); ok {
		s.Scopes = strings.Fields(sc)
	} else {
		s.Scopes = stringList(c["scp"])
	}
	act := c["act"]
	for depth := 0; act != nil && depth < 32; depth++ {
		m, ok := act.(map[string]any)
		if !ok {
			warn = append(warn, fmt.Sprintf(`"act" is a %s, not an object`, jsonKind(act)))
			break
		}
		sub, _ := m["sub"].(string)
		s.Actors = append(s.Actors, sub)
		act = m["act"]
	}

	var tw []string
	s.IssuedAt, tw = numericDate(c, "iat")
	warn = append(warn, tw...)
	s.NotBefore, tw = numericDate(c, "nbf")
	warn = append(warn, tw...)
	s.ExpiresAt, tw = numericDate(c, "exp")
	warn = append(warn, tw...)
	if _, ok := c["exp"]; !ok {
		warn = append(warn, `no "exp": the token never expires; Warden rejects it`)
	}
	if s.ExpiresAt != nil && !now.Before(*s.ExpiresAt) {
		s.Expired = true
		warn = append(warn, "expired "+ago(now.Sub(*s.ExpiresAt)))
	}
	if s.NotBefore != nil && now.Before(*s.NotBefore) {
		s.NotYetValid = true
		warn = append(warn, "not valid yet: nbf is in "+humanDuration(s.NotBefore.Sub(now)))
	}
	if s.IssuedAt != nil && now.Before(*s.IssuedAt) {
		warn = append(warn, "issued in the future: iat is in "+humanDuration(s.IssuedAt.Sub(now)))
	}
	if s.ExpiresAt != nil && s.IssuedAt != nil && s.ExpiresAt.Sub(*s.IssuedAt) > 24*time.Hour {
		warn = append(warn, "long-lived: valid for "+humanDuration(s.ExpiresAt.Sub(*s.IssuedAt))+" after issue")
	}
	return s, warn
}

// numericDate reads an RFC 7519 NumericDate claim. An absent claim gives
// nil and no warning.
func numericDate(c map[string]any, name string) (*time.Time, []string) {
	v, ok := c[name]
	if !ok {
		return nil, nil
	}
	f, ok := v.(float64)
	if !ok {
		return nil, []string{fmt.Sprintf("%q is a %s, not a number", name, jsonKind(v))}
	}
	if math.IsNaN(f) || f < 0 || f > 1e11 { // 1e11 s is year 5138
		return nil, []string{fmt.Sprintf("%q is %v, not a plausible time", name, v)}
	}
	sec, frac := math.Modf(f)
	t := time.Unix(int64(sec), int64(frac*1e9)).UTC()
	return &t, nil
}

// stringList reads a claim that is a string or an array of strings.
func stringList(v any) []string {
	switch v := v.(type) {
	case string:
		if v == "" {
			return nil
		}
		return []string{v}
	case []any:
		out := make([]string, 0, len(v))
		for _, x := range v {
			if s, ok := x.(string); ok {
				out = append(out, s)
			} else {
				out = append(out, fmt.Sprintf("<%s>", jsonKind(x)))
			}
		}
		return out
	}
	return nil
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case float64:
		return "number"
	case bool:
		return "boolean"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

func writeDecodeText(w io.Writer, out decodeOutput, now time.Time) error {
	hb, err := prettyJSON(out.Header)
	if err != nil {
		return usageErrorf("token decode: %w", err)
	}
	cb, err := prettyJSON(out.Claims)
	if err != nil {
		return usageErrorf("token decode: %w", err)
	}
	var b strings.Builder
	b.WriteString(notVerifiedWarning + "\n\nHeader:\n")
	b.Write(hb)
	b.WriteString("\nClaims:\n")
	b.Write(cb)
	b.WriteString("\nSummary:\n")
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	s := out.Summary
	row := func(k, v string) {
		if v == "" {
			v = "-"
		}
		fmt.Fprintf(tw, "  %s\t%s\n", k, v)
	}
	// Values come from the token: escape anything that could move the
	// cursor or fake a line (newlines, ANSI escapes, bidi overrides).
	p := printable
	list := func(xs []string, sep string) string {
		out := make([]string, len(xs))
		for i, x := range xs {
			out[i] = p(x)
		}
		return strings.Join(out, sep)
	}
	row("alg", p(s.Alg))
	row("typ", p(s.Typ))
	row("kid", p(s.KeyID))
	row("issuer", p(s.Issuer))
	row("subject", p(s.Subject))
	row("audience", list(s.Audience, ", "))
	row("client_id", p(s.ClientID))
	row("roles", list(s.Roles, ", "))
	row("scopes", list(s.Scopes, " "))
	if len(s.Actors) > 0 {
		row("actor", list(s.Actors, " <- ")+" (acting for "+orDash(p(s.Subject))+")")
	}
	row("issued", timeLine(s.IssuedAt, now, "issued"))
	row("not before", timeLine(s.NotBefore, now, "nbf"))
	row("expires", timeLine(s.ExpiresAt, now, "exp"))
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(out.Warnings) > 0 {
		b.WriteString("\nWarnings:\n")
		for _, x := range out.Warnings {
			b.WriteString("  ! " + x + "\n")
		}
	}
	_, err = io.WriteString(w, b.String())
	return err
}

// printable returns s unchanged when every rune is printable, else s as a
// quoted Go string with escapes, so that a token cannot write control
// sequences to the terminal.
func printable(s string) string {
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return strconv.Quote(s)
		}
	}
	return s
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// timeLine renders a time claim with its distance from now.
func timeLine(t *time.Time, now time.Time, kind string) string {
	if t == nil {
		return ""
	}
	d := t.Sub(now)
	var rel string
	switch kind {
	case "exp":
		if d <= 0 {
			rel = "EXPIRED " + ago(-d)
		} else {
			rel = "expires in " + humanDuration(d)
		}
	case "nbf":
		if d > 0 {
			rel = "NOT YET VALID, valid in " + humanDuration(d)
		} else {
			rel = "valid since " + ago(-d)
		}
	default:
		if d > 0 {
			rel = "in the future, in " + humanDuration(d)
		} else {
			rel = ago(-d)
		}
	}
	return t.UTC().Format(time.RFC3339) + " (" + rel + ")"
}

func ago(d time.Duration) string {
	if d < time.Second {
		return "just now"
	}
	return humanDuration(d) + " ago"
}

// humanDuration renders d with at most its two largest units, truncated:
// "42s", "14m5s", "3h20m", "2d4h".
func humanDuration(d time.Duration) string {
	if d < 0 {
		d = -d
	}
	d = d.Round(time.Second)
	units := []struct {
		name string
		size time.Duration
	}{{"d", 24 * time.Hour}, {"h", time.Hour}, {"m", time.Minute}, {"s", time.Second}}
	for i, u := range units {
		n := d / u.size
		if n == 0 {
			continue
		}
		out := fmt.Sprintf("%d%s", n, u.name)
		if i+1 < len(units) {
			next := units[i+1]
			if m := (d % u.size) / next.size; m > 0 {
				out += fmt.Sprintf("%d%s", m, next.name)
			}
		}
		return out
	}
	return "0s"
}
