package guard

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
)

// prose returns about n bytes of deterministic English-like text with
// numbers, punctuation, code-ish tokens and (with hits) one sensitive value
// per ~512 bytes.
func prose(n int, hits bool) string {
	words := strings.Fields(`the model returned a summary of the quarterly report and the team
		reviewed it on 2024-11-24 at 10:30 with version 2.3.1 of the pipeline; order 1234567 shipped,
		total $1,299.00 for 3 items (see https://example.com/docs/api#limits). func main() { x := y + 2 }
		request_id: 550e8400-e29b-41d4-a716-446655440000 commit 3f786850e387550fdab836ed7e6dc881de23001b
		Please review the attached draft, and let me know whether the latency budget holds.`)
	sensitive := []string{
		"jane.doe@example.com", "+1 (415) 555-0100", "4111 1111 1111 1111", "DE89370400440532013000",
		"123-45-6789", "203.0.113.42", testAWSID, testJWT, "Bearer abcDEF1234567890xyzQ", testOpenAI,
		"api_key=Zx9Qw2Er5Ty8Ui1Op4As",
	}
	r := rand.New(rand.NewPCG(7, 9))
	var b strings.Builder
	next := 256
	for b.Len() < n {
		if hits && b.Len() >= next {
			b.WriteString(sensitive[r.IntN(len(sensitive))])
			b.WriteByte(' ')
			next += 512
			continue
		}
		b.WriteString(words[r.IntN(len(words))])
		b.WriteByte(' ')
	}
	return b.String()[:n]
}

func BenchmarkRedactString(b *testing.B) {
	g := mustGuard(b, Config{})
	s := g.Scanner(Apply{PII: true, Secret: true})
	for _, size := range []int{1 << 10, 4 << 10, 64 << 10} {
		for _, hits := range []bool{false, true} {
			name := fmt.Sprintf("%dKiB/clean", size>>10)
			if hits {
				name = fmt.Sprintf("%dKiB/hits", size>>10)
			}
			text := prose(size, hits)
			b.Run(name, func(b *testing.B) {
				b.SetBytes(int64(len(text)))
				b.ReportAllocs()
				for b.Loop() {
					if _, _, err := s.RedactString(text); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func chatRequest(hits bool) []byte {
	type msg struct {
		Role    string `json:"role"`
		Content string `json:"content"`
	}
	req := struct {
		Model     string  `json:"model"`
		Messages  []msg   `json:"messages"`
		MaxTokens int     `json:"max_tokens"`
		Temp      float64 `json:"temperature"`
		Stream    bool    `json:"stream"`
	}{Model: "gpt-4o", MaxTokens: 512, Temp: 0.2, Stream: true}
	req.Messages = []msg{
		{"system", prose(600, false)},
		{"user", prose(1500, hits)},
		{"assistant", prose(900, false)},
		{"user", prose(1000, hits)},
	}
	out, _ := json.Marshal(req)
	return out
}

func BenchmarkRedactJSON(b *testing.B) {
	g := mustGuard(b, Config{})
	s := g.Scanner(Apply{PII: true, Secret: true})
	for _, hits := range []bool{false, true} {
		doc := chatRequest(hits)
		b.Run(fmt.Sprintf("chat_%dB/hits=%v", len(doc), hits), func(b *testing.B) {
			b.SetBytes(int64(len(doc)))
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := s.RedactJSON(doc, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkStream(b *testing.B) {
	g := mustGuard(b, Config{})
	s := g.Scanner(Apply{PII: true, Secret: true})
	text := prose(8<<10, true)
	var pieces []string
	for i := 0; i < len(text); i += 4 { // ~4-byte tokens, like a model stream
		pieces = append(pieces, text[i:min(i+4, len(text))])
	}
	stream := []byte(chatStream(pieces...))
	b.Run(fmt.Sprintf("chat_%d_events", len(pieces)+3), func(b *testing.B) {
		b.SetBytes(int64(len(stream)))
		b.ReportAllocs()
		for b.Loop() {
			sr := s.NewStreamRedactor(io.Discard)
			for off := 0; off < len(stream); off += 4096 {
				if _, err := sr.Write(stream[off:min(off+4096, len(stream))]); err != nil {
					b.Fatal(err)
				}
			}
			if err := sr.Close(); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(pieces)+3), "ns/event")
	})
}

func BenchmarkScannerSelect(b *testing.B) {
	g := mustGuard(b, Config{})
	b.ReportAllocs()
	var n int
	for b.Loop() {
		if g.Scanner(Apply{PII: n&1 == 0, Secret: true}).Active() {
			n++
		}
	}
}
