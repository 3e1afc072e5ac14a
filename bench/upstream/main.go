// Command upstream is the fixed model upstream of Warden's gateway benchmark:
// every POST answers one OpenAI-style chat completion of about 400 bytes whose
// text holds an e-mail address, so the gateway's response guard has a real
// redaction to make. GET / answers 200 for readiness probes.
package main

import (
	"flag"
	"io"
	"log"
	"net/http"
	"strconv"
	"time"
)

const completion = `{"id":"chatcmpl-bench","object":"chat.completion","created":1764650000,"model":"gpt-4o-mini",` +
	`"choices":[{"index":0,"message":{"role":"assistant","content":"Trace 42 failed at the retrieval step; ` +
	`the on-call owner is dana@example.com and the retry succeeded after 3 attempts."},"finish_reason":"stop"}],` +
	`"usage":{"prompt_tokens":12,"completion_tokens":28,"total_tokens":40}}`

func main() {
	addr := flag.String("addr", "127.0.0.1:18100", "listen address")
	flag.Parse()
	body := []byte(completion)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			w.WriteHeader(http.StatusOK)
			return
		}
		if _, err := io.Copy(io.Discard, io.LimitReader(r.Body, 1<<20)); err != nil {
			http.Error(w, "read body", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Write(body)
	})
	srv := &http.Server{Addr: *addr, Handler: h, ReadHeaderTimeout: 5 * time.Second}
	log.Fatal(srv.ListenAndServe())
}
