package config

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// MaxErrors is the number of problems an ErrorList reports; further ones are
// only counted.
const MaxErrors = 20

// Error is one problem in a configuration file.
type Error struct {
	File   string // the file name given to Parse or Load
	Line   int    // 1-based; 0 when the problem has no position
	Column int    // 1-based; 0 when the problem has no position
	Path   string // the key path, e.g. "issuers[0].algorithms[1]"; "" for the whole file
	Msg    string // what is wrong and what was expected
	Err    error  // the underlying error, if any (for errors.Is)
}

// Error formats e as "file:line:col: path: message".
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d:%d", e.Line, e.Column)
	}
	b.WriteString(": ")
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// ErrorList is every problem found in a configuration file, in file order.
// Parse and Load return it (as *ErrorList) when the file is invalid.
type ErrorList struct {
	Errors  []*Error // at most MaxErrors
	Omitted int      // problems found beyond MaxErrors
}

// Error lists the problems, one per line.
func (l *ErrorList) Error() string {
	var b strings.Builder
	for i, e := range l.Errors {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	if l.Omitted > 0 {
		fmt.Fprintf(&b, "\n(and %d more)", l.Omitted)
	}
	return b.String()
}

// Unwrap returns the problems, so that errors.Is and errors.As see them.
func (l *ErrorList) Unwrap() []error {
	out := make([]error, len(l.Errors))
	for i, e := range l.Errors {
		out[i] = e
	}
	return out
}

// errSink collects errors up to MaxErrors.
type errSink struct {
	file string
	errs []*Error
	more int
}

func (s *errSink) add(e *Error) {
	e.File = s.file
	if len(s.errs) >= MaxErrors {
		s.more++
		return
	}
	s.errs = append(s.errs, e)
}

// result returns nil or an *ErrorList sorted by position.
func (s *errSink) result() error {
	if len(s.errs) == 0 {
		return nil
	}
	sort.SliceStable(s.errs, func(i, j int) bool {
		a, b := s.errs[i], s.errs[j]
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Column < b.Column
	})
	return &ErrorList{Errors: s.errs, Omitted: s.more}
}

// ErrEnvNotSet is wrapped by the Error about an {env: NAME} secret whose
// variable is unset or empty.
var ErrEnvNotSet = errors.New("environment variable not set")
