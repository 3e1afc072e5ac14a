package config_test

import (
	"fmt"

	"github.com/wardenhq/warden/internal/config"
)

func ExampleParse() {
	const yaml = `issuers:
  - issuer: https://login.example.com/
    audiences: [warden]
    algorithms: [ES256]
    jwks_url: https://login.example.com/.well-known/jwks.json
policy:
  bundle: https://policy.example.com/bundle.tar.gz
  insecure_allow_unsigned: true
store: sqlite:///var/lib/warden/warden.db
upstreams:
  - name: openai
    url: https://api.openai.com
    headers:
      Authorization: {env: OPENAI_API_KEY, prefix: "Bearer "}
models:
  upstream: openai
`
	env := func(name string) string {
		if name == "OPENAI_API_KEY" {
			return "sk-example"
		}
		return ""
	}
	cfg, err := config.Parse("warden.yaml", []byte(yaml), env, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(cfg.Listen.Data, cfg.Listen.Admin)
	fmt.Println(cfg.Authn.Issuers[0].Issuer, cfg.Authn.Issuers[0].Type, cfg.Authn.Issuers[0].Leeway)
	fmt.Println(cfg.Policy.URL)
	for _, r := range cfg.Routes {
		fmt.Println(r.Methods, r.Path, "->", r.Upstream)
	}

	// A mistake is reported with its file, line, column and key path.
	_, err = config.Parse("warden.yaml", []byte(yaml+"listen:\n  admin: 0.0.0.0:9090\n"), env, nil)
	fmt.Println(err)
	// Output:
	// 127.0.0.1:8080 127.0.0.1:9090
	// https://login.example.com/ at+jwt 30s
	// https://policy.example.com/bundle.tar.gz
	// [POST] /v1/chat/completions -> openai
	// [POST] /v1/completions -> openai
	// [POST] /v1/embeddings -> openai
	// [POST] /v1/responses -> openai
	// [GET] /v1/models -> openai
	// warden.yaml:18:10: listen.admin: "0.0.0.0:9090" is not a loopback address (want 127.0.0.1:PORT, [::1]:PORT or localhost:PORT; set insecure_admin_public: true to expose metrics and admin APIs)
}
