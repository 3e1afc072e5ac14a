package bundle

import (
	"errors"
	"fmt"
	"path"
	"strings"
	"unicode/utf8"
)

// Fixed paths inside a bundle.
const (
	ManifestPath  = ".manifest.json"
	SignaturePath = ".signature.jws"
	SchemaPath    = "schema.cedarschema"
	EntitiesPath  = "entities.json"
	PoliciesDir   = "policies"
	TestsDir      = "tests"
)

// maxNameLen bounds a file name under policies/ or tests/ (it also keeps every
// path within a USTAR header).
const maxNameLen = 100

// kind is what a path is in the layout.
type kind int

const (
	kindNone kind = iota
	kindManifest
	kindSignature
	kindSchema
	kindEntities
	kindPolicy
	kindTest
)

// checkPath checks that name is a clean, relative, canonical path. It does not
// check the layout.
func checkPath(name string) error {
	switch {
	case name == "":
		return errors.New("empty path")
	case len(name) > 256:
		return errors.New("path too long")
	case !utf8.ValidString(name):
		return errors.New("path is not valid UTF-8")
	case strings.ContainsRune(name, 0):
		return errors.New("path contains NUL")
	case strings.ContainsRune(name, '\\'):
		return errors.New("path contains a backslash")
	case strings.HasPrefix(name, "/"):
		return errors.New("absolute path")
	}
	for seg := range strings.SplitSeq(name, "/") {
		if seg == ".." {
			return errors.New("path escapes the bundle (..)")
		}
	}
	if path.Clean(name) != name {
		return errors.New("path is not canonical")
	}
	return nil
}

// classify returns where name sits in the bundle layout, or kindNone.
// name must have passed checkPath.
func classify(name string) kind {
	switch name {
	case ManifestPath:
		return kindManifest
	case SignaturePath:
		return kindSignature
	case SchemaPath:
		return kindSchema
	case EntitiesPath:
		return kindEntities
	}
	dir, file, ok := strings.Cut(name, "/")
	if !ok || !validName(file) {
		return kindNone
	}
	switch {
	case dir == PoliciesDir && strings.HasSuffix(file, ".cedar") && len(file) > len(".cedar"):
		return kindPolicy
	case dir == TestsDir && strings.HasSuffix(file, ".yaml") && len(file) > len(".yaml"):
		return kindTest
	}
	return kindNone
}

// validName reports whether a file name under policies/ or tests/ is allowed:
// a letter or digit first, then letters, digits, '.', '_', '-'.
func validName(s string) bool {
	if s == "" || len(s) > maxNameLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case i > 0 && (c == '.' || c == '_' || c == '-'):
		default:
			return false
		}
	}
	return true
}

// checkContentPath checks a path of a content file (not the manifest or the
// signature) against the layout.
func checkContentPath(name string) error {
	if err := checkPath(name); err != nil {
		return err
	}
	switch classify(name) {
	case kindSchema, kindEntities, kindPolicy, kindTest:
		return nil
	case kindManifest, kindSignature:
		return fmt.Errorf("reserved path")
	}
	return fmt.Errorf("not part of the bundle layout (%s, %s, %s/*.cedar, %s/*.yaml)", SchemaPath, EntitiesPath, PoliciesDir, TestsDir)
}

// checkLayout checks that the required files are present.
func checkLayout(names []string) error {
	var schema, policy bool
	for _, n := range names {
		switch classify(n) {
		case kindSchema:
			schema = true
		case kindPolicy:
			policy = true
		}
	}
	switch {
	case !schema:
		return newError(ReasonLayout, SchemaPath, errors.New("required file is absent"))
	case !policy:
		return newError(ReasonLayout, PoliciesDir, errors.New("no policies/*.cedar file"))
	}
	return nil
}
