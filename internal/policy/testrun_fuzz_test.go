package policy

import "testing"

// FuzzParseTestFile feeds arbitrary bytes to the test-file parser: no panic,
// and every case it accepts is complete.
func FuzzParseTestFile(f *testing.F) {
	for _, s := range []string{
		"cases:\n  - {name: x, claims: {sub: a}, action: read, resource: {type: Doc, id: d}, expect: allow}\n",
		"principals:\n  a: {sub: a}\ncases:\n  - name: x\n    principal: a\n    action: read\n    resource: {type: Doc, id: d}\n    expect: deny\n    reasons: []\n",
		"cases: [\n", "cases:\n  - &a {name: x}\n  - *a\n", "cases: {}\n", "- 1\n", "",
		"cases:\n  - name: x\n    name: y\n", "principals: {a: [1]}\ncases: []\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var probs problems
		for _, c := range parseTestFile(&probs, "tests/f.yaml", data) {
			if c.Name == "" || c.Action == "" || c.Resource.Type == "" || c.Resource.ID == "" || (c.Expect != "allow" && c.Expect != "deny") {
				t.Fatalf("accepted an incomplete case %+v", c.testCase)
			}
		}
	})
}
