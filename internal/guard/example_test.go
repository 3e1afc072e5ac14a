package guard_test

import (
	"errors"
	"fmt"
	"os"

	"github.com/wardenhq/warden/internal/guard"
)

func Example() {
	// Once, at load time.
	g, err := guard.New(guard.Config{
		Actions: map[string]guard.Action{"ip": guard.Off},
	})
	if err != nil {
		panic(err)
	}

	// Per request: the policy said the caller may not view PII and may not
	// read secrets.
	s := g.Scanner(guard.Apply{PII: true, Secret: true})

	text, hits, _ := s.RedactString("Mail jane@example.com, card 4111 1111 1111 1111, from 203.0.113.7")
	fmt.Println(text)
	fmt.Println(hits)

	body, _, _ := s.RedactJSON([]byte(`{"model":"gpt-4o","messages":[{"role":"user","content":"my SSN is 123-45-6789"}]}`), nil)
	fmt.Println(string(body))

	_, _, err = s.RedactString("-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7\n-----END PRIVATE KEY-----")
	var blocked *guard.BlockedError
	fmt.Println(errors.As(err, &blocked), blocked.Detector)

	// A streamed response: the email is split across three events.
	w := s.NewStreamRedactor(os.Stdout)
	for _, piece := range []string{"Write to jo", "hn@exa", "mple.com today"} {
		fmt.Fprintf(w, "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":%q}}]}\n\n", piece)
	}
	fmt.Fprint(w, "data: [DONE]\n\n")
	if err := w.Close(); err != nil {
		panic(err)
	}
	// Output:
	// Mail [REDACTED:email], card [REDACTED:card], from 203.0.113.7
	// email=1,card=1
	// {"model":"gpt-4o","messages":[{"role":"user","content":"my SSN is [REDACTED:ssn]"}]}
	// true private_key
	// data: {"choices":[{"index":0,"delta":{"content":"Write to "}}]}
	//
	// data: {"choices":[{"index":0,"delta":{"content":""}}]}
	//
	// data: {"choices":[{"index":0,"delta":{"content":"[REDACTED:email] "}}]}
	//
	// data: {"choices":[{"index":0,"delta":{"content":"today"}}]}
	//
	// data: [DONE]
}
