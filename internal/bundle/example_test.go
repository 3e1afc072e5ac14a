package bundle_test

import (
	"fmt"
	"log"
	"time"

	"github.com/wardenhq/warden/internal/bundle"
	"github.com/wardenhq/warden/internal/jwk"
)

// Build a signed bundle from its files, then open it with the public key as a
// node would: signature, manifest and digests are checked before anything is
// parsed.
func Example() {
	files := map[string][]byte{
		"schema.cedarschema": []byte(`entity User; entity Model; action "model:invoke" appliesTo { principal: [User], resource: [Model] };`),
		"policies/invoke.cedar": []byte(`@id("anyone-invokes")
permit (principal, action == Action::"model:invoke", resource);`),
	}
	// In practice: files, err := bundle.ReadDir("examples/policy")
	// and the key from jwk.LoadFile("keys/private.jwk").
	key, err := jwk.Generate("EdDSA", "bundle-2026")
	if err != nil {
		log.Fatal(err)
	}
	data, _, err := bundle.Build(files, bundle.BuildOptions{
		Revision: "v1",
		Created:  time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC),
		Key:      key,
	})
	if err != nil {
		log.Fatal(err)
	}

	pub, err := key.Public()
	if err != nil {
		log.Fatal(err)
	}
	b, err := bundle.Open(data, bundle.OpenOptions{Keys: []*jwk.Key{pub}})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("revision:", b.Manifest.Revision)
	fmt.Println("signed by:", b.KeyID, b.Alg)
	for _, f := range b.Manifest.Files {
		fmt.Println("file:", f.Path, f.Size)
	}

	// A bundle signed by any other key is refused.
	other, _ := jwk.Generate("EdDSA", "intruder")
	forged, _, _ := bundle.Build(files, bundle.BuildOptions{Revision: "v2", Created: time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC), Key: other})
	_, err = bundle.Open(forged, bundle.OpenOptions{Keys: []*jwk.Key{pub}})
	fmt.Println("forged:", bundle.ReasonOf(err))
	// Output:
	// revision: v1
	// signed by: bundle-2026 EdDSA
	// file: policies/invoke.cedar 85
	// file: schema.cedarschema 100
	// forged: untrusted_key
}
