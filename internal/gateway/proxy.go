package gateway

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/wardenhq/warden/internal/guard"
	"github.com/wardenhq/warden/internal/policy"
)

// Transport settings of every upstream.
const (
	upstreamDialTimeout      = 10 * time.Second
	upstreamTLSTimeout       = 10 * time.Second
	upstreamIdleConnTimeout  = 90 * time.Second
	upstreamMaxIdleConns     = 1024
	upstreamMaxIdlePerHost   = 256
	upstreamMaxResponseBytes = 1 << 20 // response headers
)

// upstream is one configured upstream: its reverse proxy and pool.
type upstream struct {
	name      string
	target    *url.URL
	headers   http.Header // injected credentials, canonical names
	timeout   time.Duration
	transport *http.Transport
	proxy     *httputil.ReverseProxy
}

func (g *Gateway) newUpstream(spec UpstreamSpec) (*upstream, error) {
	u, err := url.Parse(spec.URL)
	if err != nil {
		return nil, fmt.Errorf("upstream %q: URL: %w", spec.Name, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("upstream %q: URL must be http(s)://host[:port][/base] without user, query or fragment", spec.Name)
	}
	if spec.Timeout < 0 {
		return nil, fmt.Errorf("upstream %q: negative timeout", spec.Name)
	}
	up := &upstream{name: spec.Name, target: u, headers: make(http.Header, len(spec.Headers)), timeout: spec.Timeout}
	if up.timeout == 0 {
		up.timeout = g.limits.UpstreamTimeout
	}
	for k, v := range spec.Headers {
		up.headers.Set(k, v)
	}
	up.transport = &http.Transport{
		// Environment proxies are not used: upstreams are configured explicitly.
		Proxy:                  nil,
		DialContext:            (&net.Dialer{Timeout: upstreamDialTimeout, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:      true,
		MaxIdleConns:           upstreamMaxIdleConns,
		MaxIdleConnsPerHost:    upstreamMaxIdlePerHost,
		IdleConnTimeout:        upstreamIdleConnTimeout,
		TLSHandshakeTimeout:    upstreamTLSTimeout,
		ResponseHeaderTimeout:  up.timeout,
		ExpectContinueTimeout:  time.Second,
		MaxResponseHeaderBytes: upstreamMaxResponseBytes,
	}
	up.proxy = &httputil.ReverseProxy{
		Rewrite:        up.rewrite,
		Transport:      up.transport,
		ModifyResponse: g.modifyResponse,
		ErrorHandler:   g.proxyError,
		ErrorLog:       slog.NewLogLogger(g.log.Handler(), slog.LevelDebug),
		// SSE responses are flushed after every write by ReverseProxy
		// itself (it treats text/event-stream as FlushInterval -1); the
		// stream redactor's Read returns one event at a time.
	}
	return up, nil
}

// rewrite builds the upstream request: target URL with the path joined, the
// caller's credentials and cookies removed, the upstream's credentials
// injected, the request id set. ReverseProxy has already removed hop-by-hop
// and X-Forwarded-* headers from Out.
func (up *upstream) rewrite(pr *httputil.ProxyRequest) {
	ex := exchangeFrom(pr.In.Context())
	pr.SetURL(up.target)
	h := pr.Out.Header
	h.Del("Authorization")
	h.Del("Proxy-Authorization")
	h.Del("Cookie")
	for k := range h {
		if strings.HasPrefix(k, "X-Warden-") {
			delete(h, k)
		}
	}
	for k, v := range up.headers {
		h[k] = append([]string(nil), v...)
	}
	if ex == nil {
		return
	}
	h.Set("X-Request-Id", ex.id)
	if ex.clientIP.IsValid() {
		h.Set("X-Forwarded-For", ex.clientIP.String())
	}
	if ex.listModels || ex.respScanner != nil {
		// Let the transport negotiate (and undo) compression: the
		// response must be readable to be filtered or guarded.
		h.Del("Accept-Encoding")
	}
}

// modifyResponse filters model lists and applies the response guards.
func (g *Gateway) modifyResponse(resp *http.Response) error {
	ex := exchangeFrom(resp.Request.Context())
	if ex == nil {
		return errors.New("gateway: response without exchange")
	}
	ex.upStatus = resp.StatusCode
	resp.Header.Del("X-Request-Id") // the gateway's own id is already set
	inspect := ex.respScanner != nil || (ex.listModels && resp.StatusCode == http.StatusOK)
	if !inspect {
		return nil
	}
	if ce := resp.Header.Get("Content-Encoding"); ce != "" && !strings.EqualFold(ce, "identity") {
		return fmt.Errorf("gateway: upstream response with Content-Encoding %q cannot be inspected", ce)
	}
	if ex.listModels && resp.StatusCode == http.StatusOK {
		b, err := readResponse(resp, MaxModelListBytes)
		if err != nil {
			return err
		}
		ctx := resp.Request.Context()
		out, err := FilterModels(b, func(id string) bool {
			d := g.engine.Decide(ctx, policy.Request{Principal: ex.principal, Action: ActionModelInvoke,
				Resource: policy.Resource{Type: ModelResourceType, ID: id}, Context: ex.policyCtx})
			return d.Allowed
		})
		if err != nil {
			return fmt.Errorf("gateway: filter model list: %w", err)
		}
		setBody(resp, out)
		return nil
	}
	sc := ex.respScanner
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	switch {
	case resp.StatusCode == http.StatusNoContent || resp.StatusCode == http.StatusNotModified || resp.Request.Method == http.MethodHead:
		return nil
	case mt == "text/event-stream":
		sr := sc.NewStreamReader(resp.Body)
		ex.stream = sr
		resp.Body = &bodyErrReader{ReadCloser: sr, ex: ex}
		resp.ContentLength = -1
		resp.Header.Del("Content-Length")
		return nil
	case mt == "application/json" || strings.HasSuffix(mt, "+json"):
		b, err := readResponse(resp, g.limits.MaxResponseBytes)
		if err != nil {
			return err
		}
		if len(bytes.TrimSpace(b)) == 0 {
			setBody(resp, b)
			return nil
		}
		out, hits, err := sc.RedactJSON(b, nil)
		ex.respHits.Add(hits)
		if err != nil {
			return fmt.Errorf("gateway: response guard: %w", err)
		}
		setBody(resp, out)
		return nil
	case ex.kind == KindTool:
		// Tool APIs return files, HTML and more: passed through. Only
		// JSON and SSE responses are guarded.
		return nil
	default:
		// A model API answers JSON or SSE; anything else cannot be
		// inspected and is refused (fail closed).
		return fmt.Errorf("gateway: model response of type %q cannot be inspected", mt)
	}
}

// readResponse reads resp.Body up to limit bytes; more is an error.
func readResponse(resp *http.Response, limit int64) ([]byte, error) {
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("gateway: read upstream response: %w", err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("gateway: upstream response over %d bytes", limit)
	}
	return b, nil
}

func setBody(resp *http.Response, b []byte) {
	resp.Body = io.NopCloser(bytes.NewReader(b))
	resp.ContentLength = int64(len(b))
	resp.Header.Set("Content-Length", strconv.Itoa(len(b)))
	resp.Header.Del("Etag")
}

// proxyError answers an upstream failure: 403 blocked for a guard block,
// 504 for a timeout, 502 otherwise. Nothing of the cause reaches the client.
func (g *Gateway) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	ex := exchangeFrom(r.Context())
	id := ""
	if ex != nil {
		ex.upErr = err
		id = ex.id
	}
	g.ctr.upstream.Add(1)
	var be *guard.BlockedError
	var ne net.Error
	var ge *Error
	switch {
	case errors.As(err, &be):
		ge = &Error{Status: http.StatusForbidden, Code: CodeBlocked, Message: "the response was blocked by a guard: " + string(be.Detector), Err: err}
	case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()):
		ge = &Error{Status: http.StatusGatewayTimeout, Code: CodeGatewayTimeout, Message: "the upstream did not answer in time", Err: err}
	default:
		ge = &Error{Status: http.StatusBadGateway, Code: CodeBadGateway, Message: "the upstream request failed", Err: err}
	}
	if ex != nil {
		ex.errStatus, ex.errCode = ge.Status, ge.Code
	}
	WriteError(w, r, id, ge)
}

// bodyErrReader remembers the first error other than io.EOF that reading a
// guarded response body met (a guard block or failure, an upstream read
// error), for the result record of a response aborted midway.
type bodyErrReader struct {
	io.ReadCloser
	ex *exchange
}

func (b *bodyErrReader) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && err != io.EOF && b.ex.bodyErr == nil {
		b.ex.bodyErr = err
	}
	return n, err
}
