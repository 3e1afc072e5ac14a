package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"
)

func ptr(n int64) *int64 { return &n }

func TestParseModelRequest(t *testing.T) {
	deep := `{"model":"m","x":` + strings.Repeat("[", 70) + strings.Repeat("]", 70) + `}`
	tests := []struct {
		name       string
		body       string
		limits     ModelLimits
		want       ModelRequest
		wantStatus int    // 0 = success
		wantMsg    string // substring of the message
	}{
		{"chat", `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"max_tokens":100,"stream":true}`, ModelLimits{},
			ModelRequest{Model: "gpt-4o", MaxTokens: ptr(100), Stream: true}, 0, ""},
		{"completion tokens", `{"model":"o3","max_completion_tokens":5}`, ModelLimits{}, ModelRequest{Model: "o3", MaxTokens: ptr(5)}, 0, ""},
		{"output tokens", `{"model":"o3","max_output_tokens":7,"stream":false}`, ModelLimits{}, ModelRequest{Model: "o3", MaxTokens: ptr(7)}, 0, ""},
		{"largest limit wins", `{"model":"m","max_tokens":10,"max_completion_tokens":300,"max_output_tokens":20}`, ModelLimits{}, ModelRequest{Model: "m", MaxTokens: ptr(300)}, 0, ""},
		{"nulls", `{"model":"m","max_tokens":null,"stream":null}`, ModelLimits{}, ModelRequest{Model: "m"}, 0, ""},
		{"embeddings", " \n{\"input\":[\"a\",\"b\"],\"model\":\"text-embedding-3-small\"}\n", ModelLimits{}, ModelRequest{Model: "text-embedding-3-small"}, 0, ""},
		{"escaped model", `{"model":"gpt\u002d4o"}`, ModelLimits{}, ModelRequest{Model: "gpt-4o"}, 0, ""},
		{"escaped member name", `{"m\u006fdel":"x"}`, ModelLimits{}, ModelRequest{Model: "x"}, 0, ""},
		{"slash model", `{"model":"meta-llama/Llama-3-8B","n":{"model":"nested is ignored"}}`, ModelLimits{}, ModelRequest{Model: "meta-llama/Llama-3-8B"}, 0, ""},
		{"zero tokens", `{"model":"m","max_tokens":0}`, ModelLimits{}, ModelRequest{Model: "m", MaxTokens: ptr(0)}, 0, ""},

		{"empty", ``, ModelLimits{}, ModelRequest{}, 400, "not valid JSON"},
		{"not json", `model=gpt`, ModelLimits{}, ModelRequest{}, 400, "not valid JSON"},
		{"truncated", `{"model":"m"`, ModelLimits{}, ModelRequest{}, 400, "not valid JSON"},
		{"trailing data", `{"model":"m"}{}`, ModelLimits{}, ModelRequest{}, 400, "not valid JSON"},
		{"array", `[{"model":"m"}]`, ModelLimits{}, ModelRequest{}, 400, "must be a JSON object"},
		{"string", `"m"`, ModelLimits{}, ModelRequest{}, 400, "must be a JSON object"},
		{"no model", `{"messages":[]}`, ModelLimits{}, ModelRequest{}, 400, `"model" is required`},
		{"model number", `{"model":4}`, ModelLimits{}, ModelRequest{}, 400, `"model" must be a string`},
		{"model null", `{"model":null}`, ModelLimits{}, ModelRequest{}, 400, `"model" must be a string`},
		{"model empty", `{"model":""}`, ModelLimits{}, ModelRequest{}, 400, "must not be empty"},
		{"model long", `{"model":"` + strings.Repeat("m", 257) + `"}`, ModelLimits{}, ModelRequest{}, 400, "longer than 256"},
		{"model long custom", `{"model":"abcdef"}`, ModelLimits{MaxModelLen: 5}, ModelRequest{}, 400, "longer than 5"},
		{"model control", `{"model":"a\nb"}`, ModelLimits{}, ModelRequest{}, 400, "control"},
		{"model lone surrogate", `{"model":"a\ud800"}`, ModelLimits{}, ModelRequest{}, 400, "invalid"},
		{"model bad utf8", "{\"model\":\"a\xff\"}", ModelLimits{}, ModelRequest{}, 400, "UTF-8"},
		{"duplicate model", `{"model":"cheap","model":"expensive"}`, ModelLimits{}, ModelRequest{}, 400, `duplicate member "model"`},
		{"model in another case", `{"model":"cheap","MODEL":"expensive"}`, ModelLimits{}, ModelRequest{}, 400, `member "MODEL": only the exact lower-case name`},
		{"model in another case alone", `{"Model":"expensive"}`, ModelLimits{}, ModelRequest{}, 400, `member "Model"`},
		{"max_tokens with the Kelvin sign", `{"model":"m","max_to\u212aens":99999}`, ModelLimits{}, ModelRequest{}, 400, "only the exact lower-case name"},
		{"stream with a long s", `{"model":"m","\u017Ftream":true}`, ModelLimits{}, ModelRequest{}, 400, "only the exact lower-case name"},
		{"unjudged member in any case", `{"model":"m","Temperature":1,"USER":"u"}`, ModelLimits{}, ModelRequest{Model: "m"}, 0, ""},
		{"duplicate escaped", `{"model":"cheap","mod\u0065l":"expensive"}`, ModelLimits{}, ModelRequest{}, 400, "duplicate member"},
		{"duplicate other", `{"model":"m","a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7,"h":8,"a":9}`, ModelLimits{}, ModelRequest{}, 400, `duplicate member "a"`},
		{"duplicate late", `{"model":"m","a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7,"h":8,"i":9,"i":9}`, ModelLimits{}, ModelRequest{}, 400, `duplicate member "i"`},
		{"stream string", `{"model":"m","stream":"true"}`, ModelLimits{}, ModelRequest{}, 400, `"stream" must be a boolean`},
		{"tokens negative", `{"model":"m","max_tokens":-1}`, ModelLimits{}, ModelRequest{}, 400, "non-negative integer"},
		{"tokens fraction", `{"model":"m","max_tokens":1.5}`, ModelLimits{}, ModelRequest{}, 400, "non-negative integer"},
		{"tokens exponent", `{"model":"m","max_tokens":1e3}`, ModelLimits{}, ModelRequest{}, 400, "non-negative integer"},
		{"tokens huge", `{"model":"m","max_tokens":99999999999999999999}`, ModelLimits{}, ModelRequest{}, 400, "non-negative integer"},
		{"tokens string", `{"model":"m","max_completion_tokens":"5"}`, ModelLimits{}, ModelRequest{}, 400, "non-negative integer"},
		{"too deep", deep, ModelLimits{}, ModelRequest{}, 400, "nested deeper than 64"},
		{"deep custom", `{"model":"m","x":[[1]]}`, ModelLimits{MaxDepth: 2}, ModelRequest{}, 400, "nested deeper than 2"},
		{"depth ok", `{"model":"m","x":["[[[[["]}`, ModelLimits{MaxDepth: 2}, ModelRequest{Model: "m"}, 0, ""},
		{"too large", `{"model":"m","x":"` + strings.Repeat("a", 100) + `"}`, ModelLimits{MaxBodyBytes: 64}, ModelRequest{}, 413, "larger than 64"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseModelRequest([]byte(tc.body), tc.limits)
			if tc.wantStatus == 0 {
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(tc.want, got); diff != "" {
					t.Errorf("(-want +got):\n%s", diff)
				}
				return
			}
			var re *RequestError
			if !errors.As(err, &re) {
				t.Fatalf("err = %v (%T), want *RequestError", err, err)
			}
			wantCode := CodeInvalidRequest
			if tc.wantStatus == 413 {
				wantCode = CodeTooLarge
			}
			if re.Status != tc.wantStatus || re.Code != wantCode || !strings.Contains(re.Message, tc.wantMsg) {
				t.Errorf("got %d %s %q, want %d %s containing %q", re.Status, re.Code, re.Message, tc.wantStatus, wantCode, tc.wantMsg)
			}
		})
	}
}

func TestModelRequestResource(t *testing.T) {
	got := ModelRequest{Model: "gpt-4o"}.Resource()
	if got.UID() != `Model::"gpt-4o"` {
		t.Errorf("UID = %s", got.UID())
	}
}

func TestReadBody(t *testing.T) {
	b, err := ReadBody(strings.NewReader("12345"), 5)
	if err != nil || string(b) != "12345" {
		t.Fatalf("ReadBody at limit = %q, %v", b, err)
	}
	var re *RequestError
	if _, err := ReadBody(strings.NewReader("123456"), 5); !errors.As(err, &re) || re.Status != http.StatusRequestEntityTooLarge {
		t.Errorf("over limit: err = %v, want 413", err)
	}
	boom := errors.New("boom")
	if _, err := ReadBody(iotest.ErrReader(boom), 5); !errors.Is(err, boom) || errors.As(err, &re) {
		t.Errorf("read error: err = %v, want wrapped boom", err)
	}
	if _, err := ReadBody(http.MaxBytesReader(nil, ioNopCloser{strings.NewReader("123456")}, 3), 10); !errors.As(err, &re) || re.Status != 413 {
		t.Errorf("MaxBytesReader: err = %v, want 413", err)
	}
}

type ioNopCloser struct{ *strings.Reader }

func (ioNopCloser) Close() error { return nil }

func BenchmarkParseModelRequest(b *testing.B) {
	body := []byte(`{"model":"gpt-4o","messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"` +
		strings.Repeat("Tell me about the weather in Paris. ", 30) + `"}],"temperature":0.2,"max_tokens":512,"stream":true,"stream_options":{"include_usage":true}}`)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseModelRequest(body, ModelLimits{}); err != nil {
			b.Fatal(err)
		}
	}
}

func FuzzParseModelRequest(f *testing.F) {
	for _, s := range []string{`{"model":"m","max_tokens":3,"stream":true}`, `{"model":"a","model":"b"}`, `{"m\u006fdel":"x"}`, `[]`, `{"model":"\ud800"}`, `{"model":"m","x":[[[{"y":"\""}]]]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		got, err := ParseModelRequest(body, ModelLimits{MaxDepth: 16})
		if err != nil {
			var re *RequestError
			if !errors.As(err, &re) || (re.Status != 400 && re.Status != 413) || re.Message == "" {
				t.Fatalf("error %v is not a 400/413 *RequestError", err)
			}
			return
		}
		// Accepted bodies agree with encoding/json (which takes the last
		// duplicate: we refuse duplicates, so there is exactly one).
		var ref struct {
			Model  *string `json:"model"`
			Stream *bool   `json:"stream"`
		}
		if err := json.Unmarshal(body, &ref); err != nil {
			t.Fatalf("accepted body encoding/json refuses: %v", err)
		}
		if ref.Model == nil || *ref.Model != got.Model || got.Model == "" || len(got.Model) > DefaultMaxModelLen {
			t.Fatalf("model %q, encoding/json says %v", got.Model, ref.Model)
		}
		if (ref.Stream != nil && *ref.Stream) != got.Stream {
			t.Fatalf("stream %v, encoding/json says %v", got.Stream, ref.Stream)
		}
		if got.MaxTokens != nil && *got.MaxTokens < 0 {
			t.Fatalf("negative max tokens %d", *got.MaxTokens)
		}
		if !bytes.HasPrefix(bytes.TrimLeft(body, " \t\r\n"), []byte("{")) {
			t.Fatal("accepted a non-object")
		}
	})
}

func TestFilterModels(t *testing.T) {
	allow := func(id string) bool { return id == "gpt-4o" || id == "a\"b" }
	tests := []struct {
		name, in, want, wantErr string
	}{
		{"filters and keeps fields",
			`{"object":"list","data":[{"id":"gpt-4o","object":"model","owned_by":"openai","created":1},{"id":"o3","object":"model"}],"has_more":false}`,
			`{"data":[{"id":"gpt-4o","object":"model","owned_by":"openai","created":1}],"has_more":false,"object":"list"}`, ""},
		{"none allowed", `{"object":"list","data":[{"id":"o3"}]}`, `{"data":[],"object":"list"}`, ""},
		{"empty", `{"object":"list","data":[]}`, `{"data":[],"object":"list"}`, ""},
		{"escaped id", `{"data":[{"id":"a\"b"},{"id":"gpt\u002d4o"}]}`, `{"data":[{"id":"a\"b"},{"id":"gpt\u002d4o"}]}`, ""},
		{"not json", `{"data":[`, "", "not valid JSON"},
		{"not object", `[{"id":"gpt-4o"}]`, "", "not a JSON object"},
		{"no data", `{"object":"list"}`, "", `no "data"`},
		{"data null", `{"data":null}`, "", "not an array"},
		{"data object", `{"data":{"id":"gpt-4o"}}`, "", "not an array"},
		{"entry not object", `{"data":["gpt-4o"]}`, "", "entry 0"},
		{"entry without id", `{"data":[{"name":"gpt-4o"}]}`, "", `no string "id"`},
		{"numeric id", `{"data":[{"id":4}]}`, "", `no string "id"`},
		{"duplicate id", `{"data":[{"id":"gpt-4o","id":"secret-model"}]}`, "", "duplicate member"},
		{"duplicate data", `{"data":[],"data":[{"id":"x"}]}`, "", "duplicate member"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := FilterModels([]byte(tc.in), allow)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
	if _, err := FilterModels(make([]byte, MaxModelListBytes+1), allow); err == nil {
		t.Error("oversized list accepted")
	}
}

func FuzzFilterModels(f *testing.F) {
	f.Add([]byte(`{"object":"list","data":[{"id":"keep","x":1},{"id":"drop"}]}`))
	f.Add([]byte(`{"data":[{"id":"keep","id":"drop"}]}`))
	f.Add([]byte(`{"data":[{"id":"k\u0065ep"}]}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		out, err := FilterModels(in, func(id string) bool { return strings.HasPrefix(id, "keep") })
		if err != nil {
			return
		}
		var got struct {
			Data []map[string]any `json:"data"`
		}
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("output is not a model list: %v\n%s", err, out)
		}
		if got.Data == nil {
			t.Fatalf("data is null: %s", out)
		}
		for _, e := range got.Data {
			id, _ := e["id"].(string)
			if !strings.HasPrefix(id, "keep") {
				t.Fatalf("disallowed id %q in output %s", id, out)
			}
		}
	})
}
