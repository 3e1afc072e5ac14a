// Package console serves Warden's web console on the admin listener, under
// /console/: token tools (decode in the page, verify on the server, and, only
// when the server holds a demo or development signing key, generate), a
// policy playground answered by the running policy engine, and an audit
// browser with chain verification and a live tail.
//
// The pages, styles and scripts are embedded (embed.FS) and need no build
// step and no network beyond the admin listener. Every page and API call
// requires a session; a session is created by POSTing a token once to
// /console/api/session, which verifies it with the server's Verifier and asks
// the policy engine whether its principal may perform "console:view" on
// Console::"main". The audit pages and API also require "audit:read" on
// AuditLog::"main". Both checks are repeated on every request, so a new
// bundle takes effect at once.
//
// The session lives in server memory, keyed by the SHA-256 of a random
// cookie value (HttpOnly, SameSite=Strict, Secure when served over TLS,
// Path=/console/), and expires with the token. State-changing calls need the
// session's CSRF token in the X-CSRF-Token header and a same-origin Origin
// and Sec-Fetch-Site. Responses carry a Content-Security-Policy without
// inline scripts, frame-ancestors 'none', nosniff and a same-origin
// Referrer-Policy. A token is never logged and never put in a URL.
package console
