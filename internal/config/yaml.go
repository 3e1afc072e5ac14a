package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"
)

// parseYAML parses data into one document body. A nil body (empty file)
// is returned as nil without error. The parser is third-party code fed
// with file content; a panic in it becomes an error rather than a crash.
func parseYAML(data []byte) (body ast.Node, err error) {
	defer func() {
		if r := recover(); r != nil {
			body, err = nil, fmt.Errorf("YAML parser failed: %v", r)
		}
	}()
	f, err := parser.ParseBytes(data, 0)
	if err != nil {
		return nil, err
	}
	var docs []*ast.DocumentNode
	for _, d := range f.Docs {
		if d != nil && d.Body != nil {
			docs = append(docs, d)
		}
	}
	switch len(docs) {
	case 0:
		return nil, nil
	case 1:
		return docs[0].Body, nil
	default:
		return nil, &posError{node: docs[1].Body, msg: "more than one YAML document; want exactly one"}
	}
}

// posError is a parse-level error with a node position.
type posError struct {
	node ast.Node
	msg  string
}

func (e *posError) Error() string { return e.msg }

// walker reads the syntax tree against the schema and collects errors.
type walker struct {
	sink *errSink
}

// pos returns the 1-based position of n, or 0, 0.
func pos(n ast.Node) (int, int) {
	if n == nil {
		return 0, 0
	}
	tk := n.GetToken()
	if tk == nil || tk.Position == nil {
		return 0, 0
	}
	return tk.Position.Line, tk.Position.Column
}

func (w *walker) errorf(n ast.Node, path, format string, args ...any) {
	line, col := pos(n)
	w.sink.add(&Error{Line: line, Column: col, Path: path, Msg: fmt.Sprintf(format, args...)})
}

func (w *walker) wrapf(n ast.Node, path string, err error, format string, args ...any) {
	line, col := pos(n)
	w.sink.add(&Error{Line: line, Column: col, Path: path, Msg: fmt.Sprintf(format, args...), Err: err})
}

// kind names a node's type for messages.
func kind(n ast.Node) string {
	switch n.(type) {
	case nil, *ast.NullNode:
		return "null"
	case *ast.StringNode, *ast.LiteralNode:
		return "a string"
	case *ast.IntegerNode:
		return "an integer"
	case *ast.FloatNode, *ast.InfinityNode, *ast.NanNode:
		return "a number"
	case *ast.BoolNode:
		return "a boolean"
	case *ast.MappingNode, *ast.MappingValueNode:
		return "a mapping"
	case *ast.SequenceNode:
		return "a list"
	case *ast.AnchorNode:
		return "an anchor"
	case *ast.AliasNode:
		return "an alias"
	case *ast.TagNode:
		return "a tagged value"
	default:
		return n.Type().String()
	}
}

// plain reports whether n may be read as a value: anchors, aliases and tags
// are refused.
func (w *walker) plain(n ast.Node, path string) bool {
	switch n.(type) {
	case *ast.AnchorNode, *ast.AliasNode, *ast.TagNode:
		w.errorf(n, path, "anchors, aliases and tags are not supported; write the value out")
		return false
	}
	return true
}

// isNull reports whether a value is absent or an explicit null.
func isNull(n ast.Node) bool {
	if n == nil {
		return true
	}
	_, ok := n.(*ast.NullNode)
	return ok
}

// entry is one key of a mapping.
type entry struct {
	key     string
	keyNode ast.Node
	val     ast.Node
}

// entries reads a mapping with arbitrary string keys, refusing duplicates.
// A null value reads as an empty mapping.
func (w *walker) entries(n ast.Node, path string) ([]entry, bool) {
	if isNull(n) {
		return nil, true
	}
	if !w.plain(n, path) {
		return nil, false
	}
	var values []*ast.MappingValueNode
	switch m := n.(type) {
	case *ast.MappingNode:
		values = m.Values
	case *ast.MappingValueNode:
		values = []*ast.MappingValueNode{m}
	default:
		w.errorf(n, path, "want a mapping, got %s", kind(n))
		return nil, false
	}
	out := make([]entry, 0, len(values))
	seen := make(map[string]ast.Node, len(values))
	ok := true
	for _, mv := range values {
		var key string
		switch k := mv.Key.(type) {
		case *ast.StringNode:
			key = k.Value
		case *ast.MergeKeyNode:
			w.errorf(k, path, "merge keys (<<) are not supported; write the keys out")
			ok = false
			continue
		default:
			w.errorf(mv.Key, path, "want a string key, got %s", kind(mv.Key))
			ok = false
			continue
		}
		if first, dup := seen[key]; dup {
			line, _ := pos(first)
			w.errorf(mv.Key, join(path, key), "duplicate key (first at line %d)", line)
			ok = false
			continue
		}
		seen[key] = mv.Key
		out = append(out, entry{key: key, keyNode: mv.Key, val: mv.Value})
	}
	return out, ok
}

// fields is a schema mapping read by object.
type fields struct {
	node ast.Node // the mapping, for positions of missing keys
	vals map[string]entry
}

// has reports whether key is present with a non-null value.
func (f fields) has(key string) bool {
	e, ok := f.vals[key]
	return ok && !isNull(e.val)
}

// get returns the value node of key, or nil.
func (f fields) get(key string) ast.Node {
	if e, ok := f.vals[key]; ok && !isNull(e.val) {
		return e.val
	}
	return nil
}

// at returns the best node to report a problem with key at: the value, the
// key, or the mapping.
func (f fields) at(key string) ast.Node {
	if e, ok := f.vals[key]; ok {
		if e.val != nil {
			return e.val
		}
		return e.keyNode
	}
	return start(f.node)
}

// start returns the node where a mapping begins: its first key.
func start(n ast.Node) ast.Node {
	switch m := n.(type) {
	case *ast.MappingNode:
		if len(m.Values) > 0 {
			return m.Values[0].Key
		}
	case *ast.MappingValueNode:
		return m.Key
	}
	return n
}

// object reads a mapping whose keys must be among allowed.
func (w *walker) object(n ast.Node, path string, allowed ...string) fields {
	f := fields{node: n, vals: map[string]entry{}}
	es, _ := w.entries(n, path)
	for _, e := range es {
		known := false
		for _, a := range allowed {
			if e.key == a {
				known = true
				break
			}
		}
		if !known {
			w.errorf(e.keyNode, join(path, e.key), "unknown key (want one of %s)", strings.Join(allowed, ", "))
			continue
		}
		f.vals[e.key] = e
	}
	return f
}

// list reads a sequence; null reads as empty.
func (w *walker) list(n ast.Node, path string) []ast.Node {
	if isNull(n) || !w.plain(n, path) {
		return nil
	}
	s, ok := n.(*ast.SequenceNode)
	if !ok {
		w.errorf(n, path, "want a list, got %s", kind(n))
		return nil
	}
	return s.Values
}

// str reads a string scalar.
func (w *walker) str(n ast.Node, path string) (string, bool) {
	if !w.plain(n, path) {
		return "", false
	}
	switch s := n.(type) {
	case *ast.StringNode:
		return s.Value, true
	case *ast.LiteralNode:
		if s.Value != nil {
			return s.Value.Value, true
		}
		return "", true
	case *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode:
		w.errorf(n, path, "want a string, got %s (quote it: %q)", kind(n), tokenValue(n.GetToken()))
	default:
		w.errorf(n, path, "want a string, got %s", kind(n))
	}
	return "", false
}

// strings reads a list of strings.
func (w *walker) strs(n ast.Node, path string) ([]string, bool) {
	items := w.list(n, path)
	out := make([]string, 0, len(items))
	ok := true
	for i, it := range items {
		s, good := w.str(it, index(path, i))
		if !good {
			ok = false
			continue
		}
		out = append(out, s)
	}
	if len(out) == 0 {
		out = nil
	}
	return out, ok
}

// boolean reads true or false.
func (w *walker) boolean(n ast.Node, path string) bool {
	if !w.plain(n, path) {
		return false
	}
	b, ok := n.(*ast.BoolNode)
	if !ok {
		w.errorf(n, path, "want true or false, got %s", kind(n))
		return false
	}
	return b.Value
}

// integer reads an integer in [lo, hi].
func (w *walker) integer(n ast.Node, path string, lo, hi int64) (int64, bool) {
	if !w.plain(n, path) {
		return 0, false
	}
	in, ok := n.(*ast.IntegerNode)
	if !ok {
		w.errorf(n, path, "want an integer, got %s", kind(n))
		return 0, false
	}
	var v int64
	switch x := in.Value.(type) {
	case int64:
		v = x
	case uint64:
		if x > math.MaxInt64 {
			v = math.MaxInt64
		} else {
			v = int64(x)
		}
	default:
		w.errorf(n, path, "want an integer, got %s", kind(n))
		return 0, false
	}
	if v < lo || v > hi {
		w.errorf(n, path, "%d is out of range (want %d to %d)", v, lo, hi)
		return 0, false
	}
	return v, true
}

// duration reads a Go duration string ("30s", "1m30s") in [0, hi].
func (w *walker) duration(n ast.Node, path string, hi time.Duration) (time.Duration, bool) {
	if !w.plain(n, path) {
		return 0, false
	}
	s, ok := n.(*ast.StringNode)
	if !ok {
		w.errorf(n, path, "want a duration such as \"30s\" or \"5m\", got %s", kind(n))
		return 0, false
	}
	d, err := time.ParseDuration(s.Value)
	if err != nil {
		w.errorf(n, path, "%q is not a duration (want a number with a unit: ms, s, m, h, e.g. \"30s\")", s.Value)
		return 0, false
	}
	if d < 0 {
		w.errorf(n, path, "duration %s is negative", d)
		return 0, false
	}
	if hi > 0 && d > hi {
		w.errorf(n, path, "duration %s is too long (at most %s)", d, hi)
		return 0, false
	}
	return d, true
}

// sizeUnits are the suffixes a size string may carry.
var sizeUnits = []struct {
	suffix string
	mult   int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9},
	{"B", 1},
}

// size reads a byte count in [lo, hi]: an integer, or a string of an
// integer with a unit ("64KiB", "1MiB", "10MB", "512B").
func (w *walker) size(n ast.Node, path string, lo, hi int64) (int64, bool) {
	if !w.plain(n, path) {
		return 0, false
	}
	if _, ok := n.(*ast.IntegerNode); ok {
		return w.integer(n, path, lo, hi)
	}
	s, ok := n.(*ast.StringNode)
	if !ok {
		w.errorf(n, path, "want a size (bytes as an integer, or a string such as \"64KiB\" or \"1MiB\"), got %s", kind(n))
		return 0, false
	}
	v, err := parseSize(s.Value)
	if err != nil {
		w.errorf(n, path, "%q is not a size (want an integer with an optional unit B, KiB, MiB, GiB, KB, MB or GB, e.g. \"1MiB\")", s.Value)
		return 0, false
	}
	if v < lo || v > hi {
		w.errorf(n, path, "%s (%d bytes) is out of range (want %d to %d bytes)", s.Value, v, lo, hi)
		return 0, false
	}
	return v, true
}

// parseSize parses "<digits><unit>" with an optional space before the unit.
func parseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range sizeUnits {
		if strings.HasSuffix(s, u.suffix) {
			mult = u.mult
			s = strings.TrimSpace(strings.TrimSuffix(s, u.suffix))
			break
		}
	}
	if s == "" || strings.IndexFunc(s, func(r rune) bool { return r < '0' || r > '9' }) >= 0 {
		return 0, fmt.Errorf("bad size")
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v > math.MaxInt64/mult {
		return 0, fmt.Errorf("bad size")
	}
	return v * mult, nil
}

// join appends a key to a path.
func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// index appends a list index to a path.
func index(path string, i int) string {
	return path + "[" + strconv.Itoa(i) + "]"
}

// tokenValue is the raw text of a scalar, for messages.
func tokenValue(tk *token.Token) string {
	if tk == nil {
		return ""
	}
	return tk.Value
}
