package mcp

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/wardenhq/warden/internal/audit"
	"github.com/wardenhq/warden/internal/gateway"
	"github.com/wardenhq/warden/internal/guard"
	"github.com/wardenhq/warden/internal/policy"
)

// errAborted is the cause of a result record whose response never came.
var errAborted = errors.New("the upstream ended the response without answering")

// upstreamRequest builds the request to the upstream: the message as
// judged, the transport headers the upstream needs, Warden's own
// credential. Nothing else of the caller's request is forwarded (never its
// Authorization header or cookies).
func (p *Proxy) upstreamRequest(ctx context.Context, r *http.Request, ex *exchange, httpMethod string, c *call, sid string) (*http.Request, error) {
	var body io.Reader
	if c != nil {
		body = bytes.NewReader(c.body)
	}
	req, err := http.NewRequestWithContext(ctx, httpMethod, ex.srv.upstream.String(), body)
	if err != nil {
		return nil, err
	}
	h := req.Header
	if c != nil {
		h.Set("Content-Type", "application/json")
		h.Set("Accept", "application/json, text/event-stream")
	} else {
		h.Set("Accept", "text/event-stream")
	}
	if v, _ := singleHeader(r.Header, headerVersion); v != "" {
		h.Set(headerVersion, v)
	}
	if sid != "" {
		h.Set(headerSession, sid)
	}
	if v, _ := singleHeader(r.Header, headerLastID); v != "" && c == nil {
		h.Set(headerLastID, v)
	}
	if c != nil && c.msg.Method != "" && h.Get(headerVersion) >= "2026-07-28" {
		// The 2026 routing headers, from the judged body, never the
		// caller's.
		h.Set(headerMethod, c.msg.Method)
		if c.name != "" {
			h.Set(headerName, c.name)
		}
		if !c.redacted {
			for k, vs := range r.Header {
				if strings.HasPrefix(k, headerParam) && len(vs) == 1 && len(vs[0]) <= maxHeaderValue {
					h[k] = vs
				}
			}
		}
	}
	h.Set("X-Request-Id", ex.id)
	for k, vs := range ex.srv.headers {
		h[k] = vs
	}
	if ex.srv.upstreamToken != nil {
		tok, err := p.upstreamTokenFor(ctx, ex.srv, ex.principal)
		if err != nil {
			return nil, fmt.Errorf("mint the upstream token: %w", err)
		}
		h.Set("Authorization", "Bearer "+tok)
	}
	return req, nil
}

// forward sends one allowed message and relays the answer: JSON as one
// (processed) body, SSE event by event.
func (p *Proxy) forward(w http.ResponseWriter, r *http.Request, ex *exchange, c *call, sid string) {
	ctx, cancel := context.WithTimeout(r.Context(), ex.srv.timeout)
	defer cancel()
	req, err := p.upstreamRequest(ctx, r, ex, http.MethodPost, c, sid)
	if err != nil {
		p.upstreamFailed(w, r, ex, c, http.StatusBadGateway, err)
		return
	}
	resp, err := ex.srv.client.Do(req)
	if err != nil {
		status := http.StatusBadGateway
		if errors.Is(err, context.DeadlineExceeded) {
			status = http.StatusGatewayTimeout
		}
		p.upstreamFailed(w, r, ex, c, status, err)
		return
	}
	defer resp.Body.Close()
	if c.msg.Method == "initialize" && resp.StatusCode/100 == 2 {
		if nsid, err := singleHeader(resp.Header, headerSession); err == nil && nsid != "" {
			if !p.sessions.bind(ex.srv.name, nsid, ex.pkey) {
				p.upstreamFailed(w, r, ex, c, http.StatusServiceUnavailable, errors.New("session table full"))
				return
			}
			w.Header().Set(headerSession, nsid)
		}
	}
	if v, err := singleHeader(resp.Header, headerVersion); err == nil && v != "" {
		w.Header().Set(headerVersion, v)
	}
	pending := map[string]*call{}
	if c.msg.ID != nil {
		pending[idKey(c.msg.ID)] = c
	}
	p.relay(w, r, ex, resp, pending)
}

// relay copies the upstream's response to the client, processing every
// message in it.
func (p *Proxy) relay(w http.ResponseWriter, r *http.Request, ex *exchange, resp *http.Response, pending map[string]*call) {
	ctx := context.WithoutCancel(r.Context())
	finish := func(cause error) {
		for _, c := range pending {
			if !c.done {
				c.done = true
				p.enqueueResult(ctx, ex, c.resultRecord(p, ex, resp.StatusCode, nil, nil, cause))
			}
		}
	}
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	switch {
	case resp.StatusCode == http.StatusAccepted || resp.StatusCode == http.StatusNoContent:
		finish(nil)
		w.WriteHeader(resp.StatusCode)
	case resp.StatusCode/100 != 2:
		// The upstream's error body is not inspected, so it is not
		// relayed: the client gets the status and a JSON-RPC error.
		finish(fmt.Errorf("upstream status %d", resp.StatusCode))
		var id json.RawMessage
		for _, c := range pending {
			id = c.msg.ID
		}
		writeRPC(w, resp.StatusCode, errorMessage(id, rpcErrorf(CodeUpstream, "the MCP server answered HTTP %d", resp.StatusCode), "", ex.id))
	case mt == "application/json":
		body, err := io.ReadAll(io.LimitReader(resp.Body, int64(p.limits.MaxResponseBytes)+1))
		if err == nil && len(body) > p.limits.MaxResponseBytes {
			err = fmt.Errorf("response larger than %d bytes", p.limits.MaxResponseBytes)
		}
		var out []byte
		if err == nil {
			out, err = p.processBody(ctx, ex, resp.StatusCode, body, pending)
		}
		if err != nil {
			finish(err)
			writeRPC(w, http.StatusBadGateway, errorMessage(nil, &RPCError{Code: CodeUpstream, Message: "the MCP server's answer could not be relayed", Err: err}, "", ex.id))
			return
		}
		finish(errAborted)
		writeRPC(w, resp.StatusCode, out)
	case mt == "text/event-stream":
		h := w.Header()
		h.Set("Content-Type", "text/event-stream")
		h.Set("Cache-Control", "no-store")
		h.Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(resp.StatusCode)
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
		err := relaySSE(w, resp.Body, p.limits.MaxResponseBytes, func(data []byte) ([]byte, error) {
			return p.processMessage(ctx, ex, resp.StatusCode, data, pending)
		})
		if err != nil {
			finish(err)
			// The status line is out: cut the stream rather than let an
			// unjudged byte through.
			panic(http.ErrAbortHandler)
		}
		finish(errAborted)
	default:
		finish(fmt.Errorf("upstream Content-Type %q", mt))
		writeRPC(w, http.StatusBadGateway, errorMessage(nil, rpcErrorf(CodeUpstream, "the MCP server answered an unexpected content type"), "", ex.id))
	}
}

// upstreamFailed answers and records a call the upstream did not take.
func (p *Proxy) upstreamFailed(w http.ResponseWriter, r *http.Request, ex *exchange, c *call, status int, err error) {
	e := &RPCError{Code: CodeUpstream, Message: "the MCP server could not be reached", Err: err}
	c.done = true
	p.enqueueResult(context.WithoutCancel(r.Context()), ex, c.resultRecord(p, ex, status, nil, nil, e))
	writeRPC(w, status, errorMessage(c.msg.ID, e, "", ex.id))
}

// processBody processes a JSON response body: one message or an array.
func (p *Proxy) processBody(ctx context.Context, ex *exchange, status int, body []byte, pending map[string]*call) ([]byte, error) {
	msgs, err := ParseResponse(body, p.limits)
	if err != nil {
		return nil, err
	}
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) > 0 && trimmed[0] != '[' {
		return p.processParsed(ctx, ex, status, &msgs[0], pending)
	}
	out := []byte{'['}
	for i := range msgs {
		b, err := p.processParsed(ctx, ex, status, &msgs[i], pending)
		if err != nil {
			return nil, err
		}
		if b == nil {
			continue
		}
		if len(out) > 1 {
			out = append(out, ',')
		}
		out = append(out, b...)
	}
	return append(out, ']'), nil
}

// processMessage processes one message from the upstream (an SSE event's
// data).
func (p *Proxy) processMessage(ctx context.Context, ex *exchange, status int, data []byte, pending map[string]*call) ([]byte, error) {
	msgs, err := ParseResponse(data, p.limits)
	if err != nil {
		return nil, err
	}
	if len(msgs) != 1 || bytes.TrimLeft(data, " \t\r\n")[0] == '[' {
		return nil, errors.New("an SSE event holds more than one message")
	}
	return p.processParsed(ctx, ex, status, &msgs[0], pending)
}

// processParsed processes one upstream message: the answer to a pending
// call is filtered (lists), guarded (results) and recorded; anything else
// the server sends (notifications, its own requests) is guarded with every
// guard on. A nil result means the message is dropped (a guard blocked a
// notification).
func (p *Proxy) processParsed(ctx context.Context, ex *exchange, status int, m *Message, pending map[string]*call) ([]byte, error) {
	var c *call
	if m.IsResponse() {
		c = pending[idKey(m.ID)]
	}
	if c == nil || c.done {
		sc := p.strictScanner()
		if sc == nil {
			return m.Raw, nil
		}
		red, _, err := sc.RedactJSON(m.Raw, nil)
		if err != nil {
			return nil, nil
		}
		return red, nil
	}
	c.done = true
	out := []byte(m.Raw)
	var cause error
	if key := listKey(c.msg.Method); key != "" && m.Result != nil {
		res, err := p.filterList(ctx, ex, c.msg.Method, key, m.Result)
		if err != nil {
			cause = err
			out = errorMessage(m.ID, &RPCError{Code: CodeUpstream, Message: "the MCP server's list could not be filtered", Err: err}, "", ex.id)
		} else {
			out = resultMessage(m.ID, res)
		}
	}
	var guards []audit.Guard
	sc := c.scanner
	if sc == nil && !c.decided {
		sc = p.strictScanner()
	}
	if sc != nil && cause == nil {
		red, hits, err := sc.RedactJSON(out, p.resPaths)
		guards = gateway.AppendGuards(nil, "response", hits, err)
		if err != nil {
			var be *guard.BlockedError
			e := &RPCError{Code: CodeBlocked, Message: "the result was blocked by a guard", Err: err}
			if errors.As(err, &be) {
				e.Message = "the result was blocked by a guard: " + string(be.Detector)
			}
			cause = e
			out = errorMessage(m.ID, e, "", ex.id)
		} else {
			out = red
		}
	}
	p.enqueueResult(ctx, ex, c.resultRecord(p, ex, status, m, guards, cause))
	return out, nil
}

func resultMessage(id, result json.RawMessage) []byte {
	b, _ := json.Marshal(struct {
		JSONRPC string          `json:"jsonrpc"`
		ID      json.RawMessage `json:"id"`
		Result  json.RawMessage `json:"result"`
	}{"2.0", id, result})
	return b
}

// filterList keeps the items of a tools/list, resources/list or
// prompts/list result whose call, read or get the engine permits to the
// caller (same context as the call, without arguments). Items with names
// Warden would refuse are dropped. tools/list also teaches the server's
// hint cache.
func (p *Proxy) filterList(ctx context.Context, ex *exchange, method, key string, result json.RawMessage) (json.RawMessage, error) {
	var members map[string]json.RawMessage
	if err := json.Unmarshal(result, &members); err != nil || members == nil {
		return nil, errors.New("the result is not an object")
	}
	var items []json.RawMessage
	if raw, ok := members[key]; ok && string(raw) != "null" {
		if err := json.Unmarshal(raw, &items); err != nil {
			return nil, fmt.Errorf("%s is not a list", key)
		}
	}
	s := ex.srv
	kept := make([]json.RawMessage, 0, len(items))
	for _, it := range items {
		var fields map[string]json.RawMessage
		if json.Unmarshal(it, &fields) != nil {
			continue
		}
		idField := "name"
		if method == "resources/list" {
			idField = "uri"
		}
		var id string
		if v, ok := fields[idField]; !ok || json.Unmarshal(v, &id) != nil {
			continue
		}
		pc := p.policyContext(ex)
		var req policy.Request
		switch method {
		case "tools/list":
			if checkName(id) != nil {
				continue
			}
			th := hintsOf(fields["annotations"])
			s.hints.put(id, th)
			attrs := map[string]any{"server": s.name}
			if th.readOnly != nil {
				attrs["read_only_hint"] = *th.readOnly
			}
			if th.destructive != nil {
				attrs["destructive_hint"] = *th.destructive
			}
			pc["arguments"] = map[string]any{}
			req = policy.Request{Action: ActionToolCall, Resource: policy.Resource{Type: TypeTool, ID: s.name + "/" + id, Attributes: attrs}}
		case "prompts/list":
			if checkName(id) != nil {
				continue
			}
			pc["arguments"] = map[string]any{}
			req = policy.Request{Action: ActionPromptGet, Resource: policy.Resource{Type: TypePrompt, ID: s.name + "/" + id}}
		default:
			if checkURI(id) != nil {
				continue
			}
			req = policy.Request{Action: ActionResourceRead, Resource: policy.Resource{Type: TypeResource, ID: s.name + "/" + id}}
		}
		req.Principal, req.Context = ex.principal, pc
		if p.engine.Decide(ctx, req).Allowed {
			kept = append(kept, it)
		}
	}
	list, err := json.Marshal(kept)
	if err != nil {
		return nil, err
	}
	members[key] = list
	return json.Marshal(members)
}

// hintsOf reads readOnlyHint and destructiveHint of a tool's annotations.
func hintsOf(raw json.RawMessage) toolHints {
	var ann map[string]json.RawMessage
	if json.Unmarshal(raw, &ann) != nil {
		return toolHints{}
	}
	b := func(k string) *bool {
		var v bool
		if r, ok := ann[k]; ok && json.Unmarshal(r, &v) == nil {
			return &v
		}
		return nil
	}
	return toolHints{readOnly: b("readOnlyHint"), destructive: b("destructiveHint")}
}

// forwardBatch sends each allowed message of a batch on its own (the 2025
// transports answer one message per POST) and answers one JSON array: the
// denied messages' errors and the upstream's processed answers, in the
// batch's order. The answers are buffered (bounded by the response limit).
func (p *Proxy) forwardBatch(w http.ResponseWriter, r *http.Request, ex *exchange, calls []*call, sid string) {
	var out [][]byte
	for _, c := range calls {
		if c.err != nil {
			if c.msg.ID != nil {
				out = append(out, errorMessage(c.msg.ID, c.err, c.decision.ID, ex.id))
			}
			continue
		}
		rec := &batchWriter{header: http.Header{}}
		p.forward(rec, r, ex, c, sid)
		if c.msg.ID == nil {
			continue
		}
		msgs, err := rec.messages(p.limits)
		if err != nil || len(msgs) == 0 {
			out = append(out, errorMessage(c.msg.ID, &RPCError{Code: CodeUpstream, Message: "the MCP server did not answer this message", Err: err}, "", ex.id))
			continue
		}
		for _, m := range msgs {
			out = append(out, m)
		}
	}
	if len(out) == 0 {
		w.WriteHeader(http.StatusAccepted)
		return
	}
	writeRPC(w, http.StatusOK, append(append([]byte{'['}, bytes.Join(out, []byte{','})...), ']'))
}

// batchWriter captures one forwarded message's answer inside a batch.
type batchWriter struct {
	header http.Header
	status int
	buf    bytes.Buffer
}

func (b *batchWriter) Header() http.Header { return b.header }
func (b *batchWriter) WriteHeader(s int) {
	if b.status == 0 {
		b.status = s
	}
}
func (b *batchWriter) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	return b.buf.Write(p)
}

// messages returns the JSON-RPC messages of the captured answer: the body
// or the SSE events' data.
func (b *batchWriter) messages(lim Limits) ([][]byte, error) {
	mt, _, _ := mime.ParseMediaType(b.header.Get("Content-Type"))
	var datas [][]byte
	switch mt {
	case "application/json":
		datas = [][]byte{bytes.TrimSpace(b.buf.Bytes())}
	case "text/event-stream":
		err := relaySSE(io.Discard, &b.buf, lim.withDefaults().MaxResponseBytes, func(d []byte) ([]byte, error) {
			datas = append(datas, bytes.Clone(d))
			return d, nil
		})
		if err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("status %d", b.status)
	}
	var out [][]byte
	for _, d := range datas {
		if len(d) > 0 && d[0] == '[' {
			var arr []json.RawMessage
			if err := json.Unmarshal(d, &arr); err != nil {
				return nil, err
			}
			for _, a := range arr {
				out = append(out, a)
			}
			continue
		}
		out = append(out, d)
	}
	return out, nil
}

// relaySSE copies an event stream from src to dst event by event, passing
// each event's data (the data lines joined by "\n") through process and
// flushing after each event. id, event and retry fields pass through;
// comments are dropped. An event (or a line) over max bytes, a read error
// or a process error stops the relay with that error.
func relaySSE(dst io.Writer, src io.Reader, max int, process func([]byte) ([]byte, error)) error {
	br := bufio.NewReaderSize(src, 16<<10)
	var (
		fields  []byte // id:, event:, retry: lines as received
		data    []byte
		hasData bool
		size    int
	)
	flusher, _ := dst.(http.Flusher)
	emit := func() error {
		defer func() { fields, data, hasData, size = fields[:0], data[:0], false, 0 }()
		if !hasData && len(fields) == 0 {
			return nil
		}
		var out []byte
		out = append(out, fields...)
		if hasData {
			d := data
			if len(bytes.TrimSpace(d)) > 0 {
				var err error
				if d, err = process(d); err != nil {
					return err
				}
			}
			if d != nil || len(bytes.TrimSpace(data)) == 0 {
				for _, line := range bytes.Split(d, []byte{'\n'}) {
					out = append(out, "data: "...)
					out = append(out, line...)
					out = append(out, '\n')
				}
			} else if len(fields) == 0 {
				return nil // dropped
			}
		}
		out = append(out, '\n')
		if _, err := dst.Write(out); err != nil {
			return err
		}
		if flusher != nil {
			flusher.Flush()
		}
		return nil
	}
	for {
		l, err := readLine(br, max)
		if errors.Is(err, io.EOF) {
			return nil // an event cut off by the end of the stream is dropped (as SSE says)
		}
		if err != nil {
			return err
		}
		size += len(l) + 1
		if size > max {
			return fmt.Errorf("an SSE event is larger than %d bytes", max)
		}
		switch {
		case len(l) == 0:
			if e := emit(); e != nil {
				return e
			}
		case l[0] == ':':
		default:
			name, value, _ := bytes.Cut(l, []byte{':'})
			value = bytes.TrimPrefix(value, []byte{' '})
			switch string(name) {
			case "data":
				if hasData {
					data = append(data, '\n')
				}
				data = append(data, value...)
				hasData = true
			case "id", "event", "retry":
				fields = append(fields, name...)
				fields = append(fields, ": "...)
				fields = append(fields, value...)
				fields = append(fields, '\n')
			}
		}
	}
}

// readLine reads one line without its line ending (LF or CRLF), at most
// max bytes. The last line may end at EOF; after it readLine returns io.EOF.
func readLine(br *bufio.Reader, max int) ([]byte, error) {
	var line []byte
	for {
		chunk, err := br.ReadSlice('\n')
		if len(line)+len(chunk) > max {
			return nil, fmt.Errorf("an SSE line is longer than %d bytes", max)
		}
		switch {
		case err == nil:
			line = append(line, chunk...)
			return bytes.TrimRight(line, "\r\n"), nil
		case errors.Is(err, bufio.ErrBufferFull):
			line = append(line, chunk...)
		case errors.Is(err, io.EOF):
			line = append(line, chunk...)
			if len(line) == 0 {
				return nil, io.EOF
			}
			return bytes.TrimRight(line, "\r\n"), nil
		default:
			return nil, err
		}
	}
}

// getStream relays the 2025 standalone event stream of a session bound to
// the caller.
func (p *Proxy) getStream(w http.ResponseWriter, r *http.Request, ex *exchange) {
	sid, err := singleHeader(r.Header, headerSession)
	switch {
	case err != nil:
		p.refuse(w, r, ex, http.StatusBadRequest, &RPCError{Code: CodeInvalidRequest, Message: "malformed Mcp-Session-Id", Err: err})
		return
	case sid == "":
		w.Header().Set("Allow", "POST")
		p.refuse(w, r, ex, http.StatusMethodNotAllowed, rpcErrorf(CodeInvalidRequest, "a stream needs a session (Mcp-Session-Id)"))
		return
	}
	p.sessionRequest(w, r, ex, sid, "GET stream", func(resp *http.Response) {
		p.relay(w, r, ex, resp, nil)
	})
}

// deleteSession ends a 2025 session bound to the caller.
func (p *Proxy) deleteSession(w http.ResponseWriter, r *http.Request, ex *exchange) {
	sid, err := singleHeader(r.Header, headerSession)
	if err != nil || sid == "" {
		p.refuse(w, r, ex, http.StatusNotFound, rpcErrorf(CodeInvalidRequest, "no such session for this caller"))
		return
	}
	p.sessionRequest(w, r, ex, sid, "DELETE session", func(resp *http.Response) {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		p.sessions.drop(ex.srv.name, sid)
		w.WriteHeader(resp.StatusCode)
	})
}

// sessionRequest forwards a GET or DELETE of session sid, which must be
// bound to the caller, after recording it as label; answer handles the
// upstream's response.
func (p *Proxy) sessionRequest(w http.ResponseWriter, r *http.Request, ex *exchange, sid, label string, answer func(*http.Response)) {
	if !p.sessions.check(ex.srv.name, sid, ex.pkey) {
		p.refuse(w, r, ex, http.StatusNotFound, rpcErrorf(CodeInvalidRequest, "no such session for this caller"))
		return
	}
	rec := p.record(ex)
	rec.Decision = audit.Allow
	rec.MCP.Method = label
	p.stamp(&rec)
	if !p.appendRecord(r.Context(), ex, rec) {
		writeRPC(w, http.StatusServiceUnavailable, errorMessage(nil, rpcErrorf(CodeUnavailable, "the audit log is unavailable"), "", ex.id))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), ex.srv.timeout)
	defer cancel()
	req, err := p.upstreamRequest(ctx, r, ex, r.Method, nil, sid)
	if err == nil {
		var resp *http.Response
		if resp, err = ex.srv.client.Do(req); err == nil {
			defer resp.Body.Close()
			answer(resp)
			return
		}
	}
	writeRPC(w, http.StatusBadGateway, errorMessage(nil, &RPCError{Code: CodeUpstream, Message: "the MCP server could not be reached", Err: err}, "", ex.id))
}
