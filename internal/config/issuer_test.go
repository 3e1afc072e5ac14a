package config

import (
	"strings"
	"testing"
	"time"
)

const testKEK = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="

func TestTokenIssuer(t *testing.T) {
	env := envMap{"WARDEN_KEK": testKEK, "SHORT": "c2hvcnQ="}
	t.Run("defaults", func(t *testing.T) {
		cfg, err := Parse("warden.yaml", []byte(minimal+"token_issuer:\n  audiences: [warden]\n  key_encryption_key: {env: WARDEN_KEK}\n"), env.get, files{}.read)
		if err != nil {
			t.Fatal(err)
		}
		ti := cfg.TokenIssuer
		if ti == nil || ti.URL != "" || ti.Algorithm != "ES256" || ti.AccessTokenTTL != 10*time.Minute || len(ti.KEK) != 32 ||
			ti.RefreshIdleTTL != 24*time.Hour || ti.RefreshTokenTTL != 30*24*time.Hour || ti.ResyncInterval != 10*time.Second {
			t.Fatalf("TokenIssuer = %+v", ti)
		}
		if s := cfg.String(); strings.Contains(s, testKEK) || !strings.Contains(s, "key_encryption_key=[redacted]") {
			t.Errorf("String shows the KEK or no redaction: %s", s)
		}
	})
	t.Run("absent", func(t *testing.T) {
		cfg, err := Parse("warden.yaml", []byte(minimal), env.get, files{}.read)
		if err != nil || cfg.TokenIssuer != nil {
			t.Fatalf("TokenIssuer = %+v, %v", cfg.TokenIssuer, err)
		}
	})
	for _, tc := range []struct {
		name, yaml, want string
	}{
		{"no audiences", "token_issuer:\n  key_encryption_key: {env: WARDEN_KEK}\n", "token_issuer.audiences: required"},
		{"no KEK", "token_issuer:\n  audiences: [warden]\n", "token_issuer.key_encryption_key: required"},
		{"short KEK", "token_issuer:\n  audiences: [warden]\n  key_encryption_key: {env: SHORT}\n", "token_issuer.key_encryption_key: must be 32 random bytes"},
		{"plain KEK", "token_issuer:\n  audiences: [warden]\n  key_encryption_key: " + testKEK + "\n", "token_issuer.key_encryption_key: want {env: NAME}"},
		{"http URL", "token_issuer:\n  url: http://warden.example\n  audiences: [warden]\n  key_encryption_key: {env: WARDEN_KEK}\n", "must be https"},
		{"trailing slash", "token_issuer:\n  url: https://warden.example/\n  audiences: [warden]\n  key_encryption_key: {env: WARDEN_KEK}\n", "no trailing slash"},
		{"also trusted", "token_issuer:\n  url: https://idp.example.com/x\n  audiences: [warden]\n  key_encryption_key: {env: WARDEN_KEK}\n", ""},
		{"bad algorithm", "token_issuer:\n  audiences: [warden]\n  key_encryption_key: {env: WARDEN_KEK}\n  algorithm: HS256\n", "token_issuer.algorithm: \"HS256\""},
		{"idle over absolute", "token_issuer:\n  audiences: [warden]\n  key_encryption_key: {env: WARDEN_KEK}\n  refresh_token_ttl: 1h\n  refresh_idle_ttl: 2h\n", "exceeds token_issuer.refresh_token_ttl"},
		{"tiny ttl", "token_issuer:\n  audiences: [warden]\n  key_encryption_key: {env: WARDEN_KEK}\n  access_token_ttl: 500ms\n", "at least 1s"},
		{"unknown key", "token_issuer:\n  audiences: [warden]\n  key_encryption_key: {env: WARDEN_KEK}\n  ttl: 1m\n", "token_issuer.ttl: unknown key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("warden.yaml", []byte(minimal+tc.yaml), env.get, files{}.read)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
			if strings.Contains(err.Error(), testKEK) {
				t.Errorf("the error shows the KEK")
			}
		})
	}
	t.Run("own URL also trusted", func(t *testing.T) {
		y := strings.Replace(minimal, "https://idp.example.com/\n", "https://warden.example\n", 1) +
			"token_issuer:\n  url: https://warden.example\n  audiences: [warden]\n  key_encryption_key: {env: WARDEN_KEK}\n"
		if _, err := Parse("warden.yaml", []byte(y), env.get, files{}.read); err == nil || !strings.Contains(err.Error(), "also listed under issuers") {
			t.Fatalf("error %v", err)
		}
	})
}
