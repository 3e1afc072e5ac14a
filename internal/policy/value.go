package policy

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"time"

	"github.com/cedar-policy/cedar-go/types"
)

// maxValueDepth bounds the nesting of converted values (sets and records).
const maxValueDepth = 32

// errValue is wrapped by every error of the Go → Cedar value conversion.
var errValue = errors.New("no Cedar value")

// convertValue converts a Go value to a Cedar value:
//
//   - string → String, bool → Boolean
//   - signed and unsigned integers → Long (uint64 above MaxInt64 is an error)
//   - float32, float64 and json.Number → Long if integral and within the int64
//     range; other numbers (1.5, NaN, ±Inf, 1e300) are errors: Cedar has no
//     floating point, and guessing would change what a policy compares
//   - []any, []string, []int, []int64, []float64, []bool → Set
//   - map[string]any, map[string]string → Record; a record of the single key
//     "__entity" ({"type": T, "id": I}) is an entity reference and of the single
//     key "__extn" ({"fn": "ip"|"decimal"|"datetime"|"duration", "arg": S}) an
//     extension value, as in Cedar's JSON format
//   - time.Time → datetime, time.Duration → duration, netip.Addr and
//     netip.Prefix → ipaddr
//   - a Cedar types.Value (EntityUID, Record, ...) is used as is
//
// nil and every other type are errors wrapping errValue. Nesting is bounded.
func convertValue(v any) (types.Value, error) {
	return toValue(v, 0)
}

// convertRecord converts a Go map to a Cedar record, as convertValue does for
// its values.
func convertRecord(m map[string]any) (types.Record, error) {
	rm, err := toRecordMap(m, 1)
	if err != nil {
		return types.Record{}, err
	}
	return types.NewRecord(rm), nil
}

func valueErrorf(format string, a ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{errValue}, a...)...)
}

func toValue(v any, depth int) (types.Value, error) {
	if depth > maxValueDepth {
		return nil, valueErrorf("nested deeper than %d", maxValueDepth)
	}
	switch x := v.(type) {
	case nil:
		return nil, valueErrorf("null")
	case string:
		return types.String(x), nil
	case bool:
		return types.Boolean(x), nil
	case int:
		return types.Long(x), nil
	case int8:
		return types.Long(x), nil
	case int16:
		return types.Long(x), nil
	case int32:
		return types.Long(x), nil
	case int64:
		return types.Long(x), nil
	case uint:
		return fromUint(uint64(x))
	case uint8:
		return types.Long(x), nil
	case uint16:
		return types.Long(x), nil
	case uint32:
		return types.Long(x), nil
	case uint64:
		return fromUint(x)
	case float32:
		return fromFloat(float64(x))
	case float64:
		return fromFloat(x)
	case json.Number:
		if n, err := strconv.ParseInt(string(x), 10, 64); err == nil {
			return types.Long(n), nil
		}
		f, err := strconv.ParseFloat(string(x), 64)
		if err != nil {
			return nil, valueErrorf("number %s out of range", x)
		}
		return fromFloat(f)
	case []any:
		return toSet(x, depth, func(e any) any { return e })
	case []string:
		vals := make([]types.Value, len(x))
		for i, s := range x {
			vals[i] = types.String(s)
		}
		return types.NewSet(vals...), nil
	case []int:
		return toSet(x, depth, func(e int) any { return e })
	case []int64:
		return toSet(x, depth, func(e int64) any { return e })
	case []float64:
		return toSet(x, depth, func(e float64) any { return e })
	case []bool:
		return toSet(x, depth, func(e bool) any { return e })
	case map[string]any:
		if len(x) == 1 {
			if ref, ok := x["__entity"]; ok {
				return toEntityRef(ref)
			}
			if ext, ok := x["__extn"]; ok {
				return toExtension(ext)
			}
		}
		rm, err := toRecordMap(x, depth+1)
		if err != nil {
			return nil, err
		}
		return types.NewRecord(rm), nil
	case map[string]string:
		rm := make(types.RecordMap, len(x))
		for k, s := range x {
			rm[types.String(k)] = types.String(s)
		}
		return types.NewRecord(rm), nil
	case time.Time:
		return types.NewDatetime(x), nil
	case time.Duration:
		return types.NewDuration(x), nil
	case netip.Addr:
		if !x.IsValid() {
			return nil, valueErrorf("invalid IP address")
		}
		return types.ParseIPAddr(x.String())
	case netip.Prefix:
		if !x.IsValid() {
			return nil, valueErrorf("invalid IP prefix")
		}
		return types.ParseIPAddr(x.String())
	case types.Value:
		return x, nil
	default:
		return nil, valueErrorf("unsupported type %T", v)
	}
}

func fromUint(u uint64) (types.Value, error) {
	if u > math.MaxInt64 {
		return nil, valueErrorf("integer %d exceeds the Long range", u)
	}
	return types.Long(int64(u)), nil
}

// fromFloat accepts integral floats in the int64 range. 2^63 itself is out
// of range; every float below it in magnitude that is integral converts
// exactly.
func fromFloat(f float64) (types.Value, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, valueErrorf("number %v", f)
	}
	if f != math.Trunc(f) {
		return nil, valueErrorf("number %v is not an integer (Cedar has no floating point)", f)
	}
	if f < -(1<<63) || f >= 1<<63 {
		return nil, valueErrorf("number %v exceeds the Long range", f)
	}
	return types.Long(int64(f)), nil
}

func toSet[E any](elems []E, depth int, box func(E) any) (types.Value, error) {
	vals := make([]types.Value, len(elems))
	for i, e := range elems {
		cv, err := toValue(box(e), depth+1)
		if err != nil {
			return nil, fmt.Errorf("[%d]: %w", i, err)
		}
		vals[i] = cv
	}
	return types.NewSet(vals...), nil
}

func toRecordMap(m map[string]any, depth int) (types.RecordMap, error) {
	rm := make(types.RecordMap, len(m))
	for k, e := range m {
		cv, err := toValue(e, depth)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
		rm[types.String(k)] = cv
	}
	return rm, nil
}

func toEntityRef(v any) (types.Value, error) {
	m, ok := v.(map[string]any)
	if !ok || len(m) != 2 {
		return nil, valueErrorf(`__entity wants {"type": T, "id": I}`)
	}
	typ, ok1 := m["type"].(string)
	id, ok2 := m["id"].(string)
	if !ok1 || !ok2 {
		return nil, valueErrorf(`__entity wants {"type": T, "id": I}`)
	}
	et, err := types.NewEntityType(typ)
	if err != nil {
		return nil, valueErrorf("__entity: %v", err)
	}
	return types.NewEntityUID(et, types.String(id)), nil
}

func toExtension(v any) (types.Value, error) {
	m, ok := v.(map[string]any)
	if !ok || len(m) != 2 {
		return nil, valueErrorf(`__extn wants {"fn": F, "arg": S}`)
	}
	fn, ok1 := m["fn"].(string)
	arg, ok2 := m["arg"].(string)
	if !ok1 || !ok2 {
		return nil, valueErrorf(`__extn wants {"fn": F, "arg": S}`)
	}
	var (
		out types.Value
		err error
	)
	switch fn {
	case "ip", "ipaddr":
		out, err = types.ParseIPAddr(arg)
	case "decimal":
		out, err = types.ParseDecimal(arg)
	case "datetime":
		out, err = types.ParseDatetime(arg)
	case "duration":
		out, err = types.ParseDuration(arg)
	default:
		return nil, valueErrorf("__extn: unknown function %q", fn)
	}
	if err != nil {
		return nil, valueErrorf("__extn %s(%q): %v", fn, arg, err)
	}
	return out, nil
}
