package gateway

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
)

// Stable error codes sent to clients in the "code" member of a JSON error.
const (
	CodeInvalidRequest  = "invalid_request"   // 400: malformed body, parameters or headers
	CodeUnauthorized    = "unauthorized"      // 401: missing or invalid credentials
	CodeForbidden       = "forbidden"         // 403: the policy denied the request
	CodeNotFound        = "not_found"         // 404: no route matches (never proxied)
	CodeTooLarge        = "request_too_large" // 413: body over the limit
	CodeInternal        = "internal"          // 500: anything unexpected
	CodeBadGateway      = "bad_gateway"       // 502: the upstream failed or answered malformed data
	CodeGatewayTimeout  = "gateway_timeout"   // 504: the upstream did not answer in time
	CodeBlocked         = "blocked"           // 403: a guard blocked the request or the response
	CodeUnavailable     = "audit_unavailable" // 503: the audit log could not take the record (fail closed)
	internalMessage     = "internal error"
	maxPublicMessageLen = 512
)

// Error is an error with a client-facing side and a private side. Status,
// Code and Message go to the client; Err (the cause) is kept for the audit
// record and the log and is never rendered.
type Error struct {
	Status  int    // HTTP status, 400-599
	Code    string // stable, machine-readable (the Code* constants)
	Message string // public, human-readable; must not contain secrets or request data
	Err     error  // private cause, may be nil
	// DecisionID, when set, is rendered as "decision_id" so that a caller
	// can quote the policy decision that denied it.
	DecisionID string
}

// Error describes the error for logs: code, message and cause.
func (e *Error) Error() string {
	s := e.Code + ": " + e.Message
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the private cause.
func (e *Error) Unwrap() error { return e.Err }

// public returns the status, code and message a client may see for err.
// Errors other than *Error and *RequestError become 500 "internal" with a
// generic message.
func public(err error) (status int, code, msg, decisionID string) {
	var ge *Error
	var re *RequestError
	switch {
	case errors.As(err, &ge):
		status, code, msg, decisionID = ge.Status, ge.Code, ge.Message, ge.DecisionID
	case errors.As(err, &re):
		status, code, msg = re.Status, re.Code, re.Message
	default:
		return http.StatusInternalServerError, CodeInternal, internalMessage, ""
	}
	if status < 400 || status > 599 || code == "" {
		return http.StatusInternalServerError, CodeInternal, internalMessage, ""
	}
	if msg == "" {
		msg = http.StatusText(status)
	}
	if len(msg) > maxPublicMessageLen {
		msg = msg[:maxPublicMessageLen]
	}
	return status, code, msg, decisionID
}

type errorBody struct {
	Error errorMember `json:"error"`
}

type errorMember struct {
	Code       string `json:"code"`
	Message    string `json:"message"`
	RequestID  string `json:"request_id,omitempty"`
	DecisionID string `json:"decision_id,omitempty"`
}

// WriteError renders err as a JSON error response:
//
//	{"error":{"code":"…","message":"…","request_id":"…"}}
//
// (plus "decision_id" when the *Error carries one)
// with Content-Type application/json, X-Content-Type-Options nosniff and
// Cache-Control no-store. An *Error or *RequestError (found with errors.As)
// gives the status, code and public message; any other error becomes 500
// "internal" with a generic message, so error text never reaches a client.
// A HEAD request gets the headers only. Headers already set on w (such as
// WWW-Authenticate) are kept.
func WriteError(w http.ResponseWriter, r *http.Request, requestID string, err error) {
	status, code, msg, decisionID := public(err)
	body, merr := json.Marshal(errorBody{Error: errorMember{Code: code, Message: msg, RequestID: requestID, DecisionID: decisionID}})
	if merr != nil { // cannot happen for strings; fail safe anyway
		status = http.StatusInternalServerError
		body = []byte(`{"error":{"code":"internal","message":"internal error"}}`)
	}
	WriteJSON(w, r, status, body)
}

// WriteJSON answers status with body (one JSON value; a newline is added)
// and the headers every JSON answer of the data plane carries:
// Content-Type, Content-Length, no-store and nosniff. A HEAD request (r may
// be nil) gets the headers only.
func WriteJSON(w http.ResponseWriter, r *http.Request, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Length", strconv.Itoa(len(body)+1))
	w.WriteHeader(status)
	if r != nil && r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(body)
	_, _ = io.WriteString(w, "\n")
}
