package config

import (
	"encoding/json"
	"io/fs"
	"testing"

	"github.com/wardenhq/warden/internal/jwk"
)

// publicJWKS generates a key for alg and returns it and its public JWKS.
func publicJWKS(tb testing.TB, alg, kid string) (*jwk.Key, []byte) {
	tb.Helper()
	k, err := jwk.Generate(alg, kid)
	if err != nil {
		tb.Fatal(err)
	}
	pub, err := k.Public()
	if err != nil {
		tb.Fatal(err)
	}
	data, err := json.Marshal(&jwk.Set{Keys: []*jwk.Key{pub}})
	if err != nil {
		tb.Fatal(err)
	}
	return k, data
}

// files is a fake file system for Parse's readFile.
type files map[string][]byte

func (f files) read(p string) ([]byte, error) {
	if d, ok := f[p]; ok {
		return d, nil
	}
	return nil, &fs.PathError{Op: "open", Path: p, Err: fs.ErrNotExist}
}

// envMap is a fake environment for Parse's env.
type envMap map[string]string

func (e envMap) get(k string) string { return e[k] }

// minimal is a valid configuration without files or secrets; it has 15 lines.
const minimal = `issuers:
  - issuer: https://idp.example.com/
    audiences: [warden]
    algorithms: [ES256]
    jwks_url: https://idp.example.com/jwks.json
policy:
  bundle: bundle.tar.gz
  insecure_allow_unsigned: true
store: sqlite:warden.db
upstreams:
  - name: echo
    url: http://127.0.0.1:9999
models:
  upstream: echo
# end
`
