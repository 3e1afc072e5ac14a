// Command bareproxy is the floor of Warden's gateway benchmark: a bare
// net/http/httputil.ReverseProxy to the same upstream, with the same idle
// connection pool Warden's upstream transport uses, and nothing else (no
// authentication, no policy, no guards, no audit).
package main

import (
	"flag"
	"log"
	"net/http"
	"net/http/httputil"
	"net/url"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:18101", "listen address")
	upstream := flag.String("upstream", "http://127.0.0.1:18100", "upstream base URL")
	flag.Parse()
	up, err := url.Parse(*upstream)
	if err != nil {
		log.Fatalf("upstream: %v", err)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = 256
	tr.MaxIdleConnsPerHost = 256
	p := &httputil.ReverseProxy{
		Rewrite:   func(pr *httputil.ProxyRequest) { pr.SetURL(up) },
		Transport: tr,
	}
	srv := &http.Server{Addr: *addr, Handler: p, ReadHeaderTimeout: 5 * time.Second}
	log.Fatal(srv.ListenAndServe())
}
