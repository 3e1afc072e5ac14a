package authn

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"time"
)

// maxNumericDate is 9999-12-31T23:59:59Z: later dates are refused as
// overflow rather than wrapped or saturated.
const maxNumericDate = 253402300799

// numericDate converts the JSON value of a NumericDate claim (RFC 7519 §2):
// a non-negative number of seconds since the epoch, integer or fractional.
// It accepts float64 (what Parse produces) and, for callers of
// ClaimMapping.Principal that decoded claims themselves, json.Number and Go
// integers.
func numericDate(name string, v any) (time.Time, *VerifyError) {
	var f float64
	switch x := v.(type) {
	case float64:
		f = x
	case json.Number:
		var err error
		if f, err = x.Float64(); err != nil {
			return time.Time{}, fail(ReasonInvalidClaim, "claim %q is not a valid number", name)
		}
	case int:
		f = float64(x)
	case int64:
		f = float64(x)
	default:
		return time.Time{}, fail(ReasonInvalidClaim, "claim %q is %s, want a number (NumericDate)", name, jsonType(v))
	}
	if math.IsNaN(f) || math.IsInf(f, 0) || f < 0 || f > maxNumericDate {
		return time.Time{}, fail(ReasonInvalidClaim, "claim %q is out of range (%s; want seconds between 0 and %d)", name, formatNumber(f), int64(maxNumericDate))
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)).UTC(), nil
}

// formatNumber renders a JSON number for a message: integers in full up to
// 1e15, others in %g form.
func formatNumber(f float64) string {
	if math.Abs(f) < 1e15 {
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	return strconv.FormatFloat(f, 'g', 6, 64)
}

// timeClaims are the verified time claims of a token.
type timeClaims struct {
	exp, nbf, iat time.Time
}

// checkTimes applies exp, nbf and iat at now with leeway. The boundaries:
//
//   - exp: the token is accepted while now < exp + leeway; at exactly
//     exp + leeway it has expired (RFC 7519 §4.1.4: "on or after").
//   - nbf: the token is accepted from now >= nbf - leeway; at exactly
//     nbf - leeway it is valid (RFC 7519 §4.1.5: "before" is rejected).
//   - iat: a token issued more than leeway in the future (iat > now +
//     leeway) is rejected as not yet valid; iat == now + leeway is accepted.
//
// exp is required and must be a number; nbf and iat are optional but must
// be numbers when present (null included: a present null is an error).
func checkTimes(claims map[string]any, now time.Time, leeway time.Duration) (timeClaims, *VerifyError) {
	var tc timeClaims
	v, ok := claims["exp"]
	if !ok {
		return tc, fail(ReasonMissingClaim, `token has no "exp" claim`)
	}
	exp, err := numericDate("exp", v)
	if err != nil {
		return tc, err
	}
	tc.exp = exp
	if !now.Before(exp.Add(leeway)) {
		return tc, fail(ReasonExpired, "token expired %s ago (exp %s%s)", ago(now.Sub(exp)), exp.Format(time.RFC3339), leewayNote(leeway))
	}
	if v, ok := claims["nbf"]; ok {
		nbf, err := numericDate("nbf", v)
		if err != nil {
			return tc, err
		}
		tc.nbf = nbf
		if now.Before(nbf.Add(-leeway)) {
			return tc, fail(ReasonNotYetValid, "token not valid for another %s (nbf %s%s)", ago(nbf.Sub(now)), nbf.Format(time.RFC3339), leewayNote(leeway))
		}
	}
	if v, ok := claims["iat"]; ok {
		iat, err := numericDate("iat", v)
		if err != nil {
			return tc, err
		}
		tc.iat = iat
		if iat.After(now.Add(leeway)) {
			return tc, fail(ReasonNotYetValid, "token issued %s in the future (iat %s%s)", ago(iat.Sub(now)), iat.Format(time.RFC3339), leewayNote(leeway))
		}
	}
	return tc, nil
}

// ago renders a duration for a message, to the second when over a second.
func ago(d time.Duration) string {
	if d >= time.Second || d <= -time.Second {
		return d.Round(time.Second).String()
	}
	return d.String()
}

func leewayNote(leeway time.Duration) string {
	if leeway == 0 {
		return ""
	}
	return ", leeway " + leeway.String()
}

// audiences decodes "aud": a string or an array of strings (RFC 7519
// §4.1.3). Absent gives nil; any other type is ReasonInvalidClaim.
func audiences(claims map[string]any) ([]string, *VerifyError) {
	v, ok := claims["aud"]
	if !ok {
		return nil, nil
	}
	switch x := v.(type) {
	case string:
		return []string{x}, nil
	case []any:
		out := make([]string, len(x))
		for i, e := range x {
			s, ok := e.(string)
			if !ok {
				return nil, fail(ReasonInvalidClaim, `claim "aud" element %d is %s, want a string`, i, jsonType(e))
			}
			out[i] = s
		}
		return out, nil
	case []string:
		return x, nil
	}
	return nil, fail(ReasonInvalidClaim, `claim "aud" is %s, want a string or an array of strings`, jsonType(v))
}

// checkAudience requires one of aud to be in accepted (exact match).
func checkAudience(aud, accepted []string) *VerifyError {
	if len(aud) == 0 {
		return fail(ReasonAudience, "token has no audience (want one of %s)", quoteList(accepted))
	}
	for _, a := range aud {
		for _, w := range accepted {
			if a == w {
				return nil
			}
		}
	}
	if len(aud) == 1 {
		return fail(ReasonAudience, "audience %s not accepted (want one of %s)", quote(aud[0]), quoteList(accepted))
	}
	return fail(ReasonAudience, "audiences %s not accepted (want one of %s)", quoteList(aud[:min(len(aud), 4)]), quoteList(accepted))
}

// normalizeType canonicalises a "typ" value for comparison (RFC 7515
// §4.1.9): media types are case-insensitive and "application/" may be
// omitted, so "application/AT+JWT" and "at+jwt" are the same type.
func normalizeType(t string) string {
	t = strings.ToLower(t)
	return strings.TrimPrefix(t, "application/")
}

// checkType compares the header "typ" (got, if present) with the expected
// (normalised) type.
func checkType(got string, present bool, want string) *VerifyError {
	if !present {
		return fail(ReasonType, "token has no typ header (want %q)", want)
	}
	if !typeEqual(got, want) {
		return fail(ReasonType, "token type %s not accepted (want %q)", quote(got), want)
	}
	return nil
}

// typeEqual compares got with an already normalised want without allocating.
func typeEqual(got, want string) bool {
	if len(got) == len(want)+len("application/") && strings.EqualFold(got[:len("application/")], "application/") {
		got = got[len("application/"):]
	}
	return strings.EqualFold(got, want)
}
