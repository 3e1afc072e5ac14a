// Package guard finds personal data and secrets in prompts and model outputs
// and redacts or blocks them: in plain text, in JSON bodies and in
// text/event-stream (SSE) responses, chunk by chunk.
//
// # Use
//
// Build a [Guard] once, at load time, with [New]; it compiles the detectors
// and resolves the actions. Per request, the gateway asks the policy engine
// whether the caller may see personal data ("pii:view") and secrets
// ("secret:read") on the resource, and picks the matching [Scanner] with
// [Guard.Scanner] (no allocation: the four scanners are prebuilt):
//
//	s := g.Scanner(guard.Apply{PII: !piiView, Secret: !secretRead})
//	body, hits, err := s.RedactJSON(body, nil)        // request or buffered response
//	w := s.NewStreamRedactor(responseWriter)          // streamed response
//	resp.Body = s.NewStreamReader(resp.Body)          // or as a ReverseProxy body
//
// Every error means "do not forward": a [*BlockedError] (errors.Is
// [ErrBlocked]) when a blocking detector matched, [ErrTooLarge] or
// [ErrMalformed] when the input could not be judged. A guard never lets raw
// data through on error. [Hits] counts matches per detector for the audit
// record and metrics; neither hits nor errors carry matched text.
//
// # Detectors
//
// Each detector has a stable name, used in placeholders ("[REDACTED:email]"),
// errors, hits and metrics. Class pii:
//
//   - email: local@domain with a dotted domain and an alphabetic TLD
//     ("user@localhost" and "pkg@1.2.3" are not matched).
//   - phone: E.164 ("+" and 8-15 digits, any separators), North American
//     national numbers with separators ("(415) 555-0100", "415-555-0100"),
//     and trunk-0 national numbers in groups ("020 7946 0958"). A bare run
//     of digits is never a phone number, so order ids, timestamps and
//     amounts are left alone.
//   - card: 13-19 digits, plain or in groups separated by single spaces or
//     dashes, with a Visa, Mastercard, Amex, Discover, UnionPay, Diners, JCB
//     or Maestro prefix and a valid Luhn digit.
//   - iban: country code, check digits and the country's length (grouped
//     by four or compact), ISO 7064 mod-97 valid. Upper case only.
//   - ssn: US SSN "AAA-GG-SSSS" (or with spaces), without the never-issued
//     ranges (area 000, 666, 900-999, group 00, serial 0000). Nine bare
//     digits are not matched.
//   - ip: IPv4 dotted quads and IPv6 addresses, validated with net/netip;
//     loopback and unspecified addresses are not personal data and are
//     skipped. A dotted quad is an address even when it could be a version:
//     "1.2.3.4" is redacted, "v1.2.3.4", "version 1.2.3.4" and "1.2.3.4.5"
//     are not.
//
// Class secret:
//
//   - aws_key: access key ids (AKIA, ASIA, ABIA, ACCA + 16) and 40-character
//     secret access keys assigned to a key naming an AWS secret
//     ("aws_secret_access_key = ...").
//   - private_key: PEM private key blocks from "-----BEGIN ... PRIVATE
//     KEY-----" through the END line (or through a truncated base64 body of
//     32+ characters); a lone header in prose is not a key.
//   - jwt: compact JWS/JWE, a header segment starting "eyJ" and three (or
//     five) base64url segments.
//   - bearer: the token after "Bearer " (16+ token characters with letters
//     and digits); "Bearer" itself stays visible. A JWT bearer token is
//     reported as jwt.
//   - api_key: OpenAI "sk-…", "sk-proj-…", Anthropic "sk-ant-…", GitHub
//     "ghp_/gho_/ghs_/ghu_/ghr_…" and "github_pat_…", Slack "xox[abprs]-…",
//     Stripe "sk_live_/sk_test_/rk_live_/rk_test_…", Google "AIza…", and the
//     value of an assignment to a key naming a secret ("api_key=",
//     "X-Api-Key:", `"clientSecret": "…"`, token, password, …) when it has
//     16+ characters, letters and digits and 3+ bits of entropy per
//     character. A git SHA or UUID alone is not a secret; assigned to
//     "api_key" it is.
//
// Detectors are hand-written scanners over a byte-class table, run in one
// pass (plus an IndexByte pass for '@'), with no regular expressions; work
// is linear in the input even on adversarial input. Matches are ASCII, so
// redaction never splits a UTF-8 sequence; plain text is treated as bytes
// and invalid UTF-8 in it passes through as it is (it cannot hide an ASCII
// match), whereas JSON with invalid UTF-8 is rejected. Obfuscated values (zero-width
// characters inside an email, digits spelled out) are out of scope.
//
// # Actions and classes
//
// A detector either redacts (replaces the match with "[REDACTED:<name>]")
// or blocks (the whole request or response is refused with a
// [*BlockedError]), or is off. The defaults: redact PII, block private
// keys, redact other secrets. [Config.Actions] overrides per class ("pii",
// "secret") or per detector; a detector entry wins. Which classes run is
// decided per request by [Apply]; a class that does not apply is not
// scanned at all.
//
// # JSON
//
// [Scanner.RedactJSON] walks the document as a token stream and rewrites
// string values only, never member names, numbers or literals; everything
// else is preserved byte for byte, and a document with nothing to redact is
// returned as is. Strings are scanned after unescaping ("\u0040" is an
// '@'). By default every string value is scanned, which is the robust
// choice for both OpenAI requests (messages[].content as a string or as
// parts with "text", tool arguments, names) and responses
// (choices[].message.content); a [Paths] set restricts scanning to values
// at or below given paths. Invalid JSON, invalid UTF-8, documents over
// [Config.MaxInputBytes] or deeper than [Config.MaxDepth] are errors.
//
// # Streams and the hold-back bound
//
// A [StreamRedactor] processes SSE event by event and writes and flushes
// each event as soon as it is complete, so time to first byte stays that of
// the upstream. Streamed text is split at arbitrary points ("jo" / "hn@exa"
// / "mple.com"), so the text of successive content deltas (per choice
// index) is scanned as one text: the part that cannot belong to a match
// still growing at its end is emitted with the event that brought it; the
// rest, normally the trailing word or a group of digits, is held back and
// emitted in the content field of a later event, or in a synthetic event
// (a copy of the last content event) before an event of the same choice
// without content, before "[DONE]" and on Close.
//
// The hold-back is bounded by [Config.HoldBack] (default 256 bytes) per
// text. That bounds memory and the delay of visible text. The trade-off: a
// single token longer than the bound is released from its beginning before
// it ends, so a match that only becomes recognizable after more than
// HoldBack bytes of one unbroken token can be missed. Secrets that are
// recognizable by their start (eyJ…, sk-…, ghp_…, AKIA…, a PEM header) are
// replaced by their placeholder when forced out and the rest of the token
// (or of the PEM block) is dropped, so they never leak this way. Raising
// the bound delays more text; 256 bytes covers every fixed-format
// detector. The detectors also see up to 128 bytes of already released
// text as left context, so "api_key = " in one chunk and the value in the
// next is caught.
//
// An event larger than [Config.MaxEventBytes], malformed JSON data or a
// blocking match ends the stream with an error; the caller aborts the
// response.
package guard
