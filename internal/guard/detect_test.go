package guard

import (
	"strings"
	"testing"
)

func mustGuard(tb testing.TB, cfg Config) *Guard {
	tb.Helper()
	g, err := New(cfg)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	return g
}

// allOn redacts every detector (private keys too), so that detector tests
// see every match as a placeholder.
func allOn(tb testing.TB) *Scanner {
	tb.Helper()
	g := mustGuard(tb, Config{Actions: map[string]Action{"secret": Redact, "pii": Redact}})
	return g.Scanner(Apply{PII: true, Secret: true})
}

const (
	testJWT     = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
	testGHP     = "ghp_aB3dE6gH9jK2mN5pQ8sT1vW4yZ7bC0eF3hJ6"
	testOpenAI  = "sk-proj-4fT9xQ2LmN8vR1sK7pW3yZ6bC0dE5gH9jA2uV4"
	testAnth    = "sk-ant-api03-Zx9Qw2Er5Ty8Ui1Op4As7Df0Gh3Jk6Lz9Xc2Vb5Nm8"
	testAWSID   = "AKIAIOSFODNN7EXAMPLE"
	testAWSSec  = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	testPEMBody = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj\nMzEfYyjiWA4R4/M2bS1GB4t7NXp98C3SC6dVMvDuictGeurT8jNbvJZHtCSuYEvu\n"
	testPEM     = "-----BEGIN PRIVATE KEY-----\n" + testPEMBody + "-----END PRIVATE KEY-----"
)

func TestDetectors(t *testing.T) {
	s := allOn(t)
	tests := []struct {
		name string
		in   string
		want string
	}{
		// email
		{"email", "write to john.doe+tag@example.co.uk today", "write to [REDACTED:email] today"},
		{"email trailing dot", "mail a@b.com.", "mail [REDACTED:email]."},
		{"email mailto", "<mailto:x_y@mail.example.org>", "<mailto:[REDACTED:email]>"},
		{"email no tld", "user@localhost is local", "user@localhost is local"},
		{"email numeric tld", "pkg@1.2.3 pinned", "pkg@1.2.3 pinned"},
		{"email mention", "thanks @alice and @bob", "thanks @alice and @bob"},
		{"email decorator", "@property\ndef x(self):", "@property\ndef x(self):"},
		// phone
		{"phone e164", "call +14155550100 now", "call [REDACTED:phone] now"},
		{"phone e164 spaced", "call +1 (415) 555-0100.", "call [REDACTED:phone]."},
		{"phone uk intl", "+44 20 7946 0958", "[REDACTED:phone]"},
		{"phone nanp paren", "tel (415) 555-0100", "tel [REDACTED:phone]"},
		{"phone nanp dash", "tel 415-555-0100", "tel [REDACTED:phone]"},
		{"phone nanp dots", "tel 415.555.0100", "tel [REDACTED:phone]"},
		{"phone nanp 1", "tel 1 415 555 0100", "tel [REDACTED:phone]"},
		{"phone uk national", "ring 020 7946 0958", "ring [REDACTED:phone]"},
		{"phone fr national", "06 12 34 56 78", "[REDACTED:phone]"},
		{"phone plain digits", "order 4155550100 shipped", "order 4155550100 shipped"},
		{"phone order id", "order #20240115123456", "order #20240115123456"},
		{"phone unix ts", "ts=1700000000123", "ts=1700000000123"},
		{"phone date", "on 2024-01-15 10:30:00", "on 2024-01-15 10:30:00"},
		{"phone eu date", "on 01.02.2024 12 people", "on 01.02.2024 12 people"},
		{"phone bad area", "123-456-7890", "123-456-7890"},
		{"phone longer run", "415-555-0100-22", "415-555-0100-22"},
		{"phone short plus", "+12 points", "+12 points"},
		{"phone arithmetic", "2+2 = 4", "2+2 = 4"},
		// card
		{"card visa", "card 4111111111111111 exp", "card [REDACTED:card] exp"},
		{"card spaced", "4111 1111 1111 1111", "[REDACTED:card]"},
		{"card dashed", "5555-5555-5555-4444", "[REDACTED:card]"},
		{"card amex", "378282246310005", "[REDACTED:card]"},
		{"card amex grouped", "3782 822463 10005", "[REDACTED:card]"},
		{"card discover", "6011111111111117", "[REDACTED:card]"},
		{"card jcb", "3530111333300000", "[REDACTED:card]"},
		{"card diners", "30569309025904", "[REDACTED:card]"},
		{"card visa13", "4222222222222", "[REDACTED:card]"},
		{"card then year", "4111 1111 1111 1111 2027", "[REDACTED:card] 2027"},
		{"card bad luhn", "4111111111111112", "4111111111111112"},
		{"card bad iin", "1234567812345670", "1234567812345670"},
		{"card too long", "41111111111111110000", "41111111111111110000"},
		{"card mixed sep", "4111 1111-1111 1111", "4111 1111-1111 1111"},
		{"card in word", "id4111111111111111", "id4111111111111111"},
		{"card bad groups", "41 1111 1111 1111 11", "41 1111 1111 1111 11"},
		// iban
		{"iban de", "IBAN DE89370400440532013000.", "IBAN [REDACTED:iban]."},
		{"iban de grouped", "DE89 3704 0044 0532 0130 00 is mine", "[REDACTED:iban] is mine"},
		{"iban gb", "GB82WEST12345698765432", "[REDACTED:iban]"},
		{"iban fr", "FR1420041010050500013M02606", "[REDACTED:iban]"},
		{"iban nl", "NL91ABNA0417164300", "[REDACTED:iban]"},
		{"iban bad check", "DE89370400440532013001", "DE89370400440532013001"},
		{"iban bad length", "DE8937040044053201300", "DE8937040044053201300"},
		{"iban unknown country", "ZZ89370400440532013000", "ZZ89370400440532013000"},
		// ssn
		{"ssn", "SSN 123-45-6789.", "SSN [REDACTED:ssn]."},
		{"ssn spaces", "ssn 078 05 1120", "ssn [REDACTED:ssn]"},
		{"ssn area 000", "000-12-3456", "000-12-3456"},
		{"ssn area 666", "666-12-3456", "666-12-3456"},
		{"ssn area 9xx", "912-12-3456", "912-12-3456"},
		{"ssn group 00", "123-00-4567", "123-00-4567"},
		{"ssn serial 0000", "123-45-0000", "123-45-0000"},
		{"ssn no separators", "123456789", "123456789"},
		{"ssn longer", "123-45-67890", "123-45-67890"},
		// ip
		{"ipv4", "from 203.0.113.7:443", "from [REDACTED:ip]:443"},
		{"ipv4 cidr", "net 10.1.2.0/24", "net [REDACTED:ip]/24"},
		{"ipv4 loopback", "bind 127.0.0.1", "bind 127.0.0.1"},
		{"ipv4 unspecified", "bind 0.0.0.0", "bind 0.0.0.0"},
		{"ipv4 version v", "release v1.2.3.4", "release v1.2.3.4"},
		{"ipv4 version word", "version 1.2.3.4", "version 1.2.3.4"},
		{"ipv4 bare quad", "host 1.2.3.4", "host [REDACTED:ip]"},
		{"ipv4 five parts", "1.2.3.4.5", "1.2.3.4.5"},
		{"ipv4 octet range", "256.1.1.1", "256.1.1.1"},
		{"ipv4 leading zero", "01.2.3.4", "01.2.3.4"},
		{"ipv4 three parts", "1.2.3", "1.2.3"},
		{"ipv6", "addr 2001:db8::8a2e:370:7334 up", "addr [REDACTED:ip] up"},
		{"ipv6 full", "2001:0db8:85a3:0000:0000:8a2e:0370:7334", "[REDACTED:ip]"},
		{"ipv6 brackets", "[fe80::1]:8080", "[[REDACTED:ip]]:8080"},
		{"ipv6 mapped", "::ffff:192.0.2.1", "[REDACTED:ip]"},
		{"ipv6 loopback", "::1", "::1"},
		{"time", "at 10:30:00", "at 10:30:00"},
		{"mac", "00:1A:2B:3C:4D:5E", "00:1A:2B:3C:4D:5E"},
		{"cpp scope", "std::vector<int>", "std::vector<int>"},
		// aws
		{"aws id", "key AKIAIOSFODNN7EXAMPLE ok", "key [REDACTED:aws_key] ok"},
		{"aws secret", "aws_secret_access_key = " + testAWSSec, "aws_secret_access_key = [REDACTED:aws_key]"},
		{"aws secret json", `{"SecretAccessKey": "` + testAWSSec + `"}`, `{"SecretAccessKey": "[REDACTED:aws_key]"}`},
		{"aws secret no context", "value " + testAWSSec, "value " + testAWSSec},
		{"aws id too short", "AKIAIOSFODNN7EXAMP", "AKIAIOSFODNN7EXAMP"},
		// private key
		{"pem", "key:\n" + testPEM + "\nend", "key:\n[REDACTED:private_key]\nend"},
		{"pem rsa truncated", "-----BEGIN RSA PRIVATE KEY-----\n" + testPEMBody, "[REDACTED:private_key]\n"},
		{"pem header only", "a PEM starts with -----BEGIN PRIVATE KEY----- and", "a PEM starts with -----BEGIN PRIVATE KEY----- and"},
		{"pem certificate", "-----BEGIN CERTIFICATE-----\n" + testPEMBody + "-----END CERTIFICATE-----", "-----BEGIN CERTIFICATE-----\n" + testPEMBody + "-----END CERTIFICATE-----"},
		// jwt
		{"jwt", "token " + testJWT + " end", "token [REDACTED:jwt] end"},
		{"jwt no sig", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.", "[REDACTED:jwt]"},
		{"jwt two segments", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0"},
		// bearer
		{"bearer", "Authorization: Bearer abcDEF1234567890xyz", "Authorization: Bearer [REDACTED:bearer]"},
		{"bearer jwt", "Authorization: Bearer " + testJWT, "Authorization: Bearer [REDACTED:jwt]"},
		{"bearer prose", "Bearer authentication is common", "Bearer authentication is common"},
		{"bearer placeholder", "Bearer $TOKEN or Bearer <token> or Bearer YOUR_API_KEY_HERE", "Bearer $TOKEN or Bearer <token> or Bearer YOUR_API_KEY_HERE"},
		// api keys
		{"openai", "OPENAI_API_KEY is " + testOpenAI, "OPENAI_API_KEY is [REDACTED:api_key]"},
		{"anthropic", "key " + testAnth, "key [REDACTED:api_key]"},
		{"github", "token " + testGHP, "token [REDACTED:api_key]"},
		{"github pat", "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz012345", "[REDACTED:api_key]"},
		{"slack", "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx", "[REDACTED:api_key]"},
		{"stripe", "sk_live_4eC39HqLyjWDarjtT1zdp7dc", "[REDACTED:api_key]"},
		{"stripe restricted", "rk_live_4eC39HqLyjWDarjtT1zdp7dc", "[REDACTED:api_key]"},
		{"google", "AIzaSyA1b2C3d4E5f6G7h8I9j0KlMnOpQrStUvW", "[REDACTED:api_key]"},
		{"assignment", "api_key=Zx9Qw2Er5Ty8Ui1Op4As", "api_key=[REDACTED:api_key]"},
		{"assignment header", "X-Api-Key: 9f8e7d6c5b4a39281706aBcD", "X-Api-Key: [REDACTED:api_key]"},
		{"assignment camel", `{"clientSecret":"q8W3e5R7t9Y1u3I5o7P9a"}`, `{"clientSecret":"[REDACTED:api_key]"}`},
		{"assignment git sha", "api_key = 3f786850e387550fdab836ed7e6dc881de23001b", "api_key = [REDACTED:api_key]"},
		{"assignment low entropy", "password=aaaaaaaaaaaaaaaa1111", "password=aaaaaaaaaaaaaaaa1111"},
		{"assignment placeholder", "api_key=your_api_key_here", "api_key=your_api_key_here"},
		{"not a secret key", "max_tokens: 4096, model: gpt-4o-2024-08-06", "max_tokens: 4096, model: gpt-4o-2024-08-06"},
		{"sk word", "sk-learn and task-sk-abc", "sk-learn and task-sk-abc"},
		{"sk phrase", "sk-this-is-a-long-hyphenated-phrase", "sk-this-is-a-long-hyphenated-phrase"},
		// plain false positives
		{"git sha", "commit 3f786850e387550fdab836ed7e6dc881de23001b merged", "commit 3f786850e387550fdab836ed7e6dc881de23001b merged"},
		{"uuid", "request 550e8400-e29b-41d4-a716-446655440000 done", "request 550e8400-e29b-41d4-a716-446655440000 done"},
		{"uuid keyed", "request_id: 550e8400-e29b-41d4-a716-446655440000", "request_id: 550e8400-e29b-41d4-a716-446655440000"},
		{"timestamp", "2024-11-24T08:48:00.123456Z", "2024-11-24T08:48:00.123456Z"},
		{"base64", "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==", "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="},
		{"prose", "The quick brown fox jumps over the lazy dog.", "The quick brown fox jumps over the lazy dog."},
		{"placeholder stable", "[REDACTED:email] [REDACTED:card]", "[REDACTED:email] [REDACTED:card]"},
		{"money", "total $1,234,567.89 and 4,111,111,111,111,111", "total $1,234,567.89 and 4,111,111,111,111,111"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, _, err := s.RedactString(tc.in)
			if err != nil {
				t.Fatalf("RedactString(%q): %v", tc.in, err)
			}
			if got != tc.want {
				t.Errorf("RedactString(%q)\n got %q\nwant %q", tc.in, got, tc.want)
			}
			again, _, err := s.RedactString(got)
			if err != nil || again != got {
				t.Errorf("not idempotent: %q -> %q (%v)", got, again, err)
			}
		})
	}
}

func TestHitsAndActions(t *testing.T) {
	g := mustGuard(t, Config{})
	s := g.Scanner(Apply{PII: true, Secret: true})
	in := "a@b.com c@d.org 4111111111111111 " + testGHP
	got, h, err := s.RedactString(in)
	if err != nil {
		t.Fatal(err)
	}
	if h.Count(Email) != 2 || h.Count(Card) != 1 || h.Count(APIKey) != 1 || h.Total() != 4 {
		t.Errorf("hits = %v", h)
	}
	if h.String() != "email=2,card=1,api_key=1" {
		t.Errorf("hits string = %q", h.String())
	}
	if strings.Contains(got, "@") {
		t.Errorf("got %q", got)
	}

	// Default: private keys block.
	_, _, err = s.RedactString("x " + testPEM)
	var be *BlockedError
	if !errorsAs(err, &be) || be.Detector != PrivateKey || be.Class != ClassSecret {
		t.Fatalf("err = %v, want BlockedError{private_key}", err)
	}

	// Classes not applied are not scanned.
	pii := g.Scanner(Apply{PII: true})
	if out, _, err := pii.RedactString(testPEM + " a@b.com"); err != nil || out != testPEM+" [REDACTED:email]" {
		t.Errorf("PII only: %q, %v", out, err)
	}
	none := g.Scanner(Apply{})
	if none.Active() {
		t.Error("empty Apply is active")
	}
	if out, _, _ := none.RedactString("a@b.com"); out != "a@b.com" {
		t.Errorf("no classes: %q", out)
	}

	// Per-class and per-detector overrides: detector wins.
	g2 := mustGuard(t, Config{Actions: map[string]Action{"pii": Block, "email": Redact, "ip": Off}})
	s2 := g2.Scanner(Apply{PII: true, Secret: true})
	if out, _, err := s2.RedactString("a@b.com 203.0.113.9"); err != nil || out != "[REDACTED:email] 203.0.113.9" {
		t.Errorf("override: %q, %v", out, err)
	}
	if _, _, err := s2.RedactString("4111111111111111"); !errorsAs(err, &be) || be.Detector != Card {
		t.Errorf("card should block: %v", err)
	}
	if g2.Action(Card) != Block || g2.Action(Email) != Redact || g2.Action(IP) != Off || g2.Action(PrivateKey) != Block {
		t.Error("Action() mismatch")
	}
}

func TestConfigErrors(t *testing.T) {
	for _, cfg := range []Config{
		{Actions: map[string]Action{"emails": Redact}},
		{Actions: map[string]Action{"email": Action(9)}},
		{HoldBack: 10},
		{HoldBack: 1 << 20},
		{MaxDepth: -1},
		{StreamContentPaths: []string{"a..b"}},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v): no error", cfg)
		}
	}
	for _, in := range []string{"redact", "BLOCK", "off", ""} {
		var a Action
		if err := a.UnmarshalText([]byte(in)); err != nil {
			t.Errorf("UnmarshalText(%q): %v", in, err)
		}
	}
	var a Action
	if err := a.UnmarshalText([]byte("allow")); err == nil {
		t.Error("UnmarshalText(allow): no error")
	}
}

func TestDetectorNames(t *testing.T) {
	want := "email phone card iban ssn ip aws_key private_key jwt bearer api_key"
	var names []string
	for _, d := range Detectors() {
		names = append(names, string(d))
		if Placeholder(d) != detectorTable[mustID(t, d)].placeholder {
			t.Errorf("placeholder of %s", d)
		}
	}
	if got := strings.Join(names, " "); got != want {
		t.Errorf("Detectors() = %q", got)
	}
	if ClassOf(Email) != ClassPII || ClassOf(JWT) != ClassSecret || ClassOf("nope") != "" {
		t.Error("ClassOf")
	}
}

func mustID(t *testing.T, d Detector) detID {
	id, ok := lookupDetector(d)
	if !ok {
		t.Fatalf("unknown %s", d)
	}
	return id
}

func TestHitsAPI(t *testing.T) {
	var h Hits
	h.n[dEmail], h.n[dJWT] = 2, 1
	var o Hits
	o.n[dEmail] = 1
	h.Add(o)
	m := h.Map()
	if len(m) != 2 || m[Email] != 3 || m[JWT] != 1 {
		t.Errorf("Map = %v", m)
	}
	n := 0
	for range h.All() {
		n++
		break
	}
	if n != 1 || h.Count("nope") != 0 {
		t.Error("All/Count")
	}
	for _, a := range []Action{Default, Redact, Block, Off} {
		b, err := a.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		var back Action
		if err := back.UnmarshalText(b); err != nil || back != a {
			t.Errorf("round trip %v: %v %v", a, back, err)
		}
	}
	if _, err := Action(9).MarshalText(); err == nil {
		t.Error("MarshalText(9): no error")
	}
}
