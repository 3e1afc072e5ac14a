package cli

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/wardenhq/warden/internal/authn"
)

// FuzzTokenDecode feeds arbitrary header and payload JSON through the parts
// of "token decode" that read untrusted token content: the summary, the
// warnings and both output formats must never panic, and the JSON output
// must stay valid JSON with verified:false.
func FuzzTokenDecode(f *testing.F) {
	f.Add(`{"alg":"ES256","typ":"at+jwt","kid":"k"}`, `{"iss":"i","sub":"s","aud":["a"],"exp":1795515300,"act":{"sub":"b","act":{"sub":"c"}}}`)
	f.Add(`{"alg":"NoNe","jku":"x","x5c":[1],"crit":["b64"]}`, `{"exp":"soon","nbf":-1,"iat":1e300,"roles":[1,null],"scope":7}`)
	f.Add(`{"alg":"ES256\u001b[2J","kid":"a\nb"}`, `{"sub":"x\u202ey","iss":"\t","aud":["\u0000"],"roles":["\r"]}`)
	f.Add(`{"alg":1,"kid":{}}`, `{"aud":{},"act":[],"scp":"x","exp":1.5}`)
	enc := base64.RawURLEncoding
	now := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, header, payload string) {
		tok := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(payload)) + ".c2ln"
		p, err := authn.Parse(tok, 1<<16)
		if err != nil {
			return
		}
		s, warns := summarize(p, now)
		out := decodeOutput{Header: p.Header, Claims: p.Claims, Summary: s, Warnings: warns}
		var text strings.Builder
		if err := writeDecodeText(&text, out, now); err != nil {
			t.Fatalf("text output: %v", err)
		}
		for _, r := range text.String() {
			if r != '\n' && !unicode.IsPrint(r) {
				t.Fatalf("text output carries the unprintable %U from the token:\n%s", r, text.String())
			}
		}
		b, err := prettyJSON(out)
		if err != nil {
			t.Fatalf("JSON output: %v", err)
		}
		var back map[string]any
		if err := json.Unmarshal(b, &back); err != nil || back["verified"] != false {
			t.Fatalf("JSON output does not round-trip with verified:false: %v\n%s", err, b)
		}
		for _, w := range warns {
			if strings.Contains(w, "\n") {
				t.Fatalf("warning spans lines: %q", w)
			}
		}
	})
}
