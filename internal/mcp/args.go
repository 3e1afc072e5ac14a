package mcp

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"

	"github.com/cedar-policy/cedar-go/types"
)

// errArguments is wrapped by every error of the arguments conversion.
var errArguments = errors.New("arguments cannot be given to the policy")

// decodeArguments decodes a JSON object (already checked by Parse: no
// duplicate members, bounded depth) with numbers kept as written. nil or
// JSON null is an empty object.
func decodeArguments(raw json.RawMessage) (map[string]any, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return map[string]any{}, nil
	}
	if raw[0] != '{' {
		return nil, fmt.Errorf("%w: not an object", errArguments)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("%w: %w", errArguments, err)
	}
	return m, nil
}

// cedarArguments converts decoded arguments to the Cedar record given to
// policies as context.arguments: strings, booleans, lists (sets) and
// objects (records) as they are; null members dropped (a policy tests
// `has`); integers as Long; fractional numbers as decimal where Cedar's
// decimal holds them exactly (at most four fraction digits, within its
// range), anything else (1e-9, 1e300, a null inside a list) is an error:
// the call is denied rather than judged on a guessed value.
func cedarArguments(args map[string]any) (types.Record, error) {
	rm, err := cedarRecord(args)
	if err != nil {
		return types.Record{}, err
	}
	return types.NewRecord(rm), nil
}

func cedarRecord(m map[string]any) (types.RecordMap, error) {
	rm := make(types.RecordMap, len(m))
	for k, v := range m {
		if v == nil {
			continue
		}
		cv, err := cedarValue(v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", truncate(k, 64), err)
		}
		rm[types.String(k)] = cv
	}
	return rm, nil
}

func cedarValue(v any) (types.Value, error) {
	switch x := v.(type) {
	case string:
		return types.String(x), nil
	case bool:
		return types.Boolean(x), nil
	case json.Number:
		return cedarNumber(string(x))
	case []any:
		vs := make([]types.Value, 0, len(x))
		for _, e := range x {
			if e == nil {
				return nil, fmt.Errorf("%w: null in a list", errArguments)
			}
			cv, err := cedarValue(e)
			if err != nil {
				return nil, err
			}
			vs = append(vs, cv)
		}
		return types.NewSet(vs...), nil
	case map[string]any:
		rm, err := cedarRecord(x)
		if err != nil {
			return nil, err
		}
		return types.NewRecord(rm), nil
	}
	return nil, fmt.Errorf("%w: unexpected %T", errArguments, v)
}

var (
	decimalScale = big.NewInt(10000)
	minLong      = new(big.Int).SetInt64(-1 << 63)
	maxLong      = new(big.Int).SetInt64(1<<63 - 1)
)

// cedarNumber converts a JSON number exactly: an integer in the int64
// range is a Long, a number with at most four decimal places in decimal's
// range a decimal, anything else an error.
func cedarNumber(s string) (types.Value, error) {
	if len(s) > 64 {
		return nil, fmt.Errorf("%w: number %s… is too long", errArguments, s[:16])
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return nil, fmt.Errorf("%w: malformed number %q", errArguments, s)
	}
	if r.IsInt() {
		n := r.Num()
		if n.Cmp(minLong) < 0 || n.Cmp(maxLong) > 0 {
			return nil, fmt.Errorf("%w: integer %s outside the 64-bit range", errArguments, s)
		}
		return types.Long(n.Int64()), nil
	}
	scaled := new(big.Rat).Mul(r, new(big.Rat).SetInt(decimalScale))
	if !scaled.IsInt() {
		return nil, fmt.Errorf("%w: %s has more than four decimal places (Cedar decimal)", errArguments, s)
	}
	n := scaled.Num()
	if n.Cmp(minLong) < 0 || n.Cmp(maxLong) > 0 {
		return nil, fmt.Errorf("%w: %s outside Cedar decimal's range", errArguments, s)
	}
	d, err := types.NewDecimal(n.Int64(), -4)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", errArguments, s, err)
	}
	return d, nil
}

// canonicalJSON encodes decoded arguments canonically: members sorted by
// name, no white space, numbers as written, strings with only the escapes
// JSON needs ('<', '>' and '&' are not escaped).
func canonicalJSON(v map[string]any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// digest is "sha256:<hex>" of b.
func digest(b []byte) string {
	sum := sha256.Sum256(b)
	var sb strings.Builder
	sb.WriteString("sha256:")
	sb.WriteString(hex.EncodeToString(sum[:]))
	return sb.String()
}
