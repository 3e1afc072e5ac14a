package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"
)

// RecordVersion is the latest version of the canonical encoding (the "v"
// member). A later version adds members or changes rules under a new number;
// records already stored keep their version and their bytes, and decoding
// accepts every version ever written.
//
// Version 2 adds the "phase" member. The version of a record follows from
// its content, so that every record still has exactly one encoding: a
// record without a Phase is written as version 1, byte for byte as before
// version 2 existed, and one with a Phase as version 2.
//
// Version 3 adds the "mcp" member (Record.MCP): a record with MCP is
// written as version 3, every other record as before.
const RecordVersion = 3

// version is the encoding version of r.
func (r *Record) version() int64 {
	switch {
	case r.MCP != nil:
		return 3
	case r.Phase == "":
		return 1
	}
	return 2
}

// The canonical encoding, version 1, is a JSON object in UTF-8 with:
//
//   - members in ascending byte order of their names, no white space;
//   - "v" (the version), "node", "seq", "time" and "decision" always present,
//     every other member omitted when it is the zero value (empty string,
//     empty list, 0);
//   - strings escaped minimally: \" and \\, control characters below U+0020 as
//     \u00xx (lowercase hex), everything else as UTF-8; invalid UTF-8 is
//     replaced by U+FFFD before encoding;
//   - integers in decimal without sign for non-negative values, no exponent,
//     no fraction;
//   - time as RFC 3339 in UTC with exactly nine fractional digits
//     ("2026-11-24T10:00:00.000000000Z"); the latency as "latency_ns", an
//     integer of nanoseconds;
//   - guards as objects {"action","hits","name","phase"}, hits as an object
//     from detector name to count (names sorted like member names);
//   - version 2 only: "phase" ("decision" or "result"), always present.
//   - version 3: "phase" may be absent, and "mcp" is an object with the
//     members "arguments", "arguments_digest", "method", "name",
//     "rpc_error", "server", "tool_error" (true or absent), each omitted
//     when zero, always present itself.
//
// The same record always encodes to the same bytes, and DecodeRecord accepts
// exactly the bytes AppendCanonical produces (anything else is an error), so
// a stored record has one valid form.

const timeLayout = "2006-01-02T15:04:05.000000000Z"

// AppendCanonical appends the canonical encoding of r (including its Node and
// Seq) to b.
func (r *Record) AppendCanonical(b []byte) []byte {
	e := encoder{b: append(b, '{')}
	e.str("action", r.Action)
	e.strs("actors", r.Actors)
	e.str("bundle_digest", r.BundleDigest)
	e.str("bundle_revision", r.BundleRevision)
	e.str("client_id", r.ClientID)
	e.str("client_ip", r.ClientIP)
	e.key("decision")
	e.b = appendString(e.b, r.Decision)
	e.str("decision_id", r.DecisionID)
	e.str("error_code", r.ErrorCode)
	e.strs("errors", r.Errors)
	if len(r.Guards) > 0 {
		e.key("guards")
		e.b = append(e.b, '[')
		for i := range r.Guards {
			if i > 0 {
				e.b = append(e.b, ',')
			}
			e.b = r.Guards[i].appendCanonical(e.b)
		}
		e.b = append(e.b, ']')
	}
	e.str("issuer", r.Issuer)
	e.str("jti", r.JTI)
	e.int("latency_ns", int64(r.Latency))
	if r.MCP != nil {
		e.key("mcp")
		e.b = r.MCP.appendCanonical(e.b)
	}
	e.str("method", r.Method)
	e.key("node")
	e.b = appendString(e.b, r.Node)
	e.str("path", r.Path)
	e.str("phase", r.Phase)
	e.strs("policies", r.Policies)
	e.strs("reasons", r.Reasons)
	e.str("request_id", r.RequestID)
	e.str("resource_id", r.ResourceID)
	e.str("resource_type", r.ResourceType)
	e.str("route", r.Route)
	e.key("seq")
	e.b = strconv.AppendUint(e.b, r.Seq, 10)
	e.str("subject", r.Subject)
	e.key("time")
	e.b = append(e.b, '"')
	e.b = r.Time.UTC().AppendFormat(e.b, timeLayout)
	e.b = append(e.b, '"')
	e.int("upstream_status", int64(r.UpstreamStatus))
	e.key("v")
	e.b = strconv.AppendInt(e.b, r.version(), 10)
	return append(e.b, '}')
}

func (g *Guard) appendCanonical(b []byte) []byte {
	e := encoder{b: append(b, '{')}
	e.str("action", g.Action)
	if len(g.Hits) > 0 {
		e.key("hits")
		e.b = append(e.b, '{')
		names := make([]string, 0, len(g.Hits))
		for k := range g.Hits {
			names = append(names, k)
		}
		slices.Sort(names)
		// Names that differ only in invalid UTF-8 would collide once
		// replaced; keep the first and drop the rest so the object has no
		// duplicate member.
		var prev []byte
		n := 0
		for _, k := range names {
			kb := appendString(nil, k)
			if n > 0 && bytes.Equal(kb, prev) {
				continue
			}
			if n > 0 {
				e.b = append(e.b, ',')
			}
			e.b = append(e.b, kb...)
			e.b = append(e.b, ':')
			e.b = strconv.AppendInt(e.b, int64(g.Hits[k]), 10)
			prev = kb
			n++
		}
		e.b = append(e.b, '}')
	}
	e.str("name", g.Name)
	e.str("phase", g.Phase)
	return append(e.b, '}')
}

func (m *MCP) appendCanonical(b []byte) []byte {
	e := encoder{b: append(b, '{')}
	e.str("arguments", m.Arguments)
	e.str("arguments_digest", m.ArgumentsDigest)
	e.str("method", m.Method)
	e.str("name", m.Name)
	e.int("rpc_error", int64(m.RPCError))
	e.str("server", m.Server)
	if m.ToolError {
		e.key("tool_error")
		e.b = append(e.b, "true"...)
	}
	return append(e.b, '}')
}

type encoder struct {
	b []byte
	n int
}

func (e *encoder) key(k string) {
	if e.n > 0 {
		e.b = append(e.b, ',')
	}
	e.n++
	e.b = append(e.b, '"')
	e.b = append(e.b, k...)
	e.b = append(e.b, '"', ':')
}

func (e *encoder) str(k, v string) {
	if v != "" {
		e.key(k)
		e.b = appendString(e.b, v)
	}
}

func (e *encoder) strs(k string, v []string) {
	if len(v) == 0 {
		return
	}
	e.key(k)
	e.b = append(e.b, '[')
	for i, s := range v {
		if i > 0 {
			e.b = append(e.b, ',')
		}
		e.b = appendString(e.b, s)
	}
	e.b = append(e.b, ']')
}

func (e *encoder) int(k string, v int64) {
	if v != 0 {
		e.key(k)
		e.b = strconv.AppendInt(e.b, v, 10)
	}
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a canonical JSON string.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, "\uFFFD"...)
			i++
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// wireRecord is the decoding target: the members of versions 1 to 3.
type wireRecord struct {
	Action         string      `json:"action"`
	Actors         []string    `json:"actors"`
	BundleDigest   string      `json:"bundle_digest"`
	BundleRevision string      `json:"bundle_revision"`
	ClientID       string      `json:"client_id"`
	ClientIP       string      `json:"client_ip"`
	Decision       string      `json:"decision"`
	DecisionID     string      `json:"decision_id"`
	ErrorCode      string      `json:"error_code"`
	Errors         []string    `json:"errors"`
	Guards         []wireGuard `json:"guards"`
	Issuer         string      `json:"issuer"`
	JTI            string      `json:"jti"`
	LatencyNS      int64       `json:"latency_ns"`
	MCP            *wireMCP    `json:"mcp"`
	Method         string      `json:"method"`
	Node           string      `json:"node"`
	Path           string      `json:"path"`
	Phase          string      `json:"phase"`
	Policies       []string    `json:"policies"`
	Reasons        []string    `json:"reasons"`
	RequestID      string      `json:"request_id"`
	ResourceID     string      `json:"resource_id"`
	ResourceType   string      `json:"resource_type"`
	Route          string      `json:"route"`
	Seq            uint64      `json:"seq"`
	Subject        string      `json:"subject"`
	Time           string      `json:"time"`
	UpstreamStatus int         `json:"upstream_status"`
	V              int         `json:"v"`
}

type wireMCP struct {
	Arguments       string `json:"arguments"`
	ArgumentsDigest string `json:"arguments_digest"`
	Method          string `json:"method"`
	Name            string `json:"name"`
	RPCError        int    `json:"rpc_error"`
	Server          string `json:"server"`
	ToolError       bool   `json:"tool_error"`
}

type wireGuard struct {
	Action string         `json:"action"`
	Hits   map[string]int `json:"hits"`
	Name   string         `json:"name"`
	Phase  string         `json:"phase"`
}

// MaxRecordBytes bounds one encoded record that DecodeRecord accepts.
const MaxRecordBytes = 1 << 20

// Decoding errors.
var (
	// ErrNotCanonical: the bytes decode but are not the canonical encoding
	// of what they decode to (reordered or duplicate members, white space,
	// other escapes or number forms...).
	ErrNotCanonical = errors.New("audit: record is not in canonical form")
	// ErrUnsupportedVersion: a record version this binary does not know.
	ErrUnsupportedVersion = errors.New("audit: unsupported record version")
)

// DecodeRecord decodes a record in canonical form. It accepts exactly the
// bytes AppendCanonical writes: for any b it accepts,
// AppendCanonical(nil) of the result equals b.
func DecodeRecord(b []byte) (Record, error) {
	if len(b) > MaxRecordBytes {
		return Record{}, fmt.Errorf("audit: decode record: %d bytes, more than %d", len(b), MaxRecordBytes)
	}
	var w wireRecord
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil {
		return Record{}, fmt.Errorf("audit: decode record: %w", err)
	}
	if dec.More() || dec.InputOffset() != int64(len(b)) {
		return Record{}, fmt.Errorf("audit: decode record: %w: data after the object", ErrNotCanonical)
	}
	if w.V < 1 || w.V > RecordVersion {
		return Record{}, fmt.Errorf("%w: %d", ErrUnsupportedVersion, w.V)
	}
	t, err := time.Parse(time.RFC3339Nano, w.Time)
	if err != nil {
		return Record{}, fmt.Errorf("audit: decode record: time: %w", err)
	}
	r := Record{
		Time: t.UTC(), RequestID: w.RequestID, DecisionID: w.DecisionID, Phase: w.Phase, Node: w.Node, Seq: w.Seq,
		Issuer: w.Issuer, Subject: w.Subject, Actors: w.Actors, ClientID: w.ClientID, JTI: w.JTI, ClientIP: w.ClientIP,
		Method: w.Method, Path: w.Path, Route: w.Route, Action: w.Action, ResourceType: w.ResourceType, ResourceID: w.ResourceID,
		Decision: w.Decision, Policies: w.Policies, Reasons: w.Reasons, Errors: w.Errors, ErrorCode: w.ErrorCode,
		BundleRevision: w.BundleRevision, BundleDigest: w.BundleDigest,
		UpstreamStatus: w.UpstreamStatus, Latency: time.Duration(w.LatencyNS),
	}
	if m := w.MCP; m != nil {
		r.MCP = &MCP{Server: m.Server, Method: m.Method, Name: m.Name, ArgumentsDigest: m.ArgumentsDigest,
			Arguments: m.Arguments, ToolError: m.ToolError, RPCError: m.RPCError}
	}
	if len(w.Guards) > 0 {
		r.Guards = make([]Guard, len(w.Guards))
		for i, g := range w.Guards {
			r.Guards[i] = Guard{Name: g.Name, Phase: g.Phase, Action: g.Action, Hits: g.Hits}
		}
	}
	if r.Node == "" || r.Seq == 0 {
		return Record{}, fmt.Errorf("audit: decode record: %w: no node or seq", ErrNotCanonical)
	}
	if err := r.validate(); err != nil {
		return Record{}, fmt.Errorf("audit: decode record: %w", err)
	}
	if !bytes.Equal(r.AppendCanonical(make([]byte, 0, len(b))), b) {
		return Record{}, fmt.Errorf("audit: decode record: %w", ErrNotCanonical)
	}
	return r, nil
}

// HashSize is the size of a chain hash.
const HashSize = sha256.Size

// chainHash is SHA-256(prev || canonical).
func chainHash(prev, canonical []byte) [HashSize]byte {
	h := sha256.New()
	h.Write(prev)
	h.Write(canonical)
	var out [HashSize]byte
	h.Sum(out[:0])
	return out
}

// genesisHash is the prev_hash of seq 1: 32 zero bytes.
func genesisHash() []byte { return make([]byte, HashSize) }
