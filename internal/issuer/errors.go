package issuer

import (
	"encoding/json"
	"errors"
	"net/http"
)

// OAuth error codes (RFC 6749 §5.2, RFC 8693 §2.2.2, RFC 7009 §2.2.1).
const (
	ErrCodeInvalidRequest       = "invalid_request"
	ErrCodeInvalidClient        = "invalid_client"
	ErrCodeInvalidGrant         = "invalid_grant"
	ErrCodeUnauthorizedClient   = "unauthorized_client"
	ErrCodeUnsupportedGrantType = "unsupported_grant_type"
	ErrCodeInvalidScope         = "invalid_scope"
	ErrCodeInvalidTarget        = "invalid_target"
	ErrCodeServerError          = "server_error"
	ErrCodeUnavailable          = "temporarily_unavailable"
)

// Error is an OAuth error: Code and Description go to the client, Err (the
// cause) only to the audit record and the log.
type Error struct {
	Status      int
	Code        string
	Description string
	Err         error
	// basic: the client authenticated with HTTP Basic, so a 401 carries a
	// WWW-Authenticate challenge (RFC 6749 §5.2).
	basic bool
	// allow is the Allow header of a 405.
	allow string
}

func (e *Error) Error() string {
	s := e.Code + ": " + e.Description
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

func oauthErr(status int, code, desc string, cause error) *Error {
	return &Error{Status: status, Code: code, Description: desc, Err: cause}
}

func badRequest(desc string) *Error {
	return oauthErr(http.StatusBadRequest, ErrCodeInvalidRequest, desc, nil)
}

func invalidGrant(desc string, cause error) *Error {
	return oauthErr(http.StatusBadRequest, ErrCodeInvalidGrant, desc, cause)
}

func serverError(cause error) *Error {
	return oauthErr(http.StatusInternalServerError, ErrCodeServerError, "internal error", cause)
}

// asError turns any error into an *Error; anything unexpected is a
// server_error that shows nothing of its cause.
func asError(err error) *Error {
	var oe *Error
	if errors.As(err, &oe) {
		return oe
	}
	return serverError(err)
}

// writeError renders err as an RFC 6749 error response.
func writeError(w http.ResponseWriter, err error) {
	oe := asError(err)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	if oe.allow != "" {
		h.Set("Allow", oe.allow)
	}
	if oe.Status == http.StatusUnauthorized && oe.basic {
		h.Set("WWW-Authenticate", `Basic realm="warden", charset="UTF-8"`)
	}
	w.WriteHeader(oe.Status)
	body := map[string]string{"error": oe.Code}
	if oe.Description != "" {
		body["error_description"] = oe.Description
	}
	_ = json.NewEncoder(w).Encode(body)
}

// writeJSON writes a 200 JSON response that must not be cached.
func writeJSON(w http.ResponseWriter, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	_ = json.NewEncoder(w).Encode(v)
}
