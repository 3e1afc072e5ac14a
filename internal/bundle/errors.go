package bundle

import "errors"

// Reason is a stable code for why a bundle was refused. Callers branch on it
// and metrics label with it; the wording of the error message may change.
type Reason string

// Reasons for refusing a bundle.
const (
	ReasonFormat       Reason = "format"        // not a gzip-compressed tar archive, an unsupported entry type, trailing garbage
	ReasonTooLarge     Reason = "too_large"     // past a size or count limit
	ReasonPath         Reason = "path"          // absolute, traversing, non-canonical or unexpected path; duplicate entry
	ReasonLink         Reason = "link"          // symbolic or hard link
	ReasonLayout       Reason = "layout"        // a required file (schema, a policy) is absent
	ReasonUnsigned     Reason = "unsigned"      // no signature and unsigned bundles are not allowed
	ReasonSignature    Reason = "signature"     // malformed signature, forbidden header, or a signature that does not verify
	ReasonUntrustedKey Reason = "untrusted_key" // signed by a key that is not configured (or not allowed for that alg)
	ReasonManifest     Reason = "manifest"      // the manifest is malformed
	ReasonDigest       Reason = "digest"        // a file's SHA-256 or size differs from the manifest
	ReasonUnlistedFile Reason = "unlisted_file" // a file is in the archive but not in the manifest
	ReasonMissingFile  Reason = "missing_file"  // a file is in the manifest but not in the archive
	ReasonFetch        Reason = "fetch"         // the Loader could not read the source
)

// Error is a refused bundle: the reason, the file concerned (if any) and the
// underlying error. Its message is one line.
type Error struct {
	Reason Reason
	Path   string // the file inside the bundle (or the source directory), "" if none
	Err    error
}

func (e *Error) Error() string {
	msg := "<nil>"
	if e.Err != nil {
		msg = e.Err.Error()
	}
	if e.Path != "" {
		return "bundle: " + e.Path + ": " + msg
	}
	return "bundle: " + msg
}

func (e *Error) Unwrap() error { return e.Err }

// ReasonOf returns the Reason of the first *Error in err's chain, or "" if
// there is none.
func ReasonOf(err error) Reason {
	if e, ok := errors.AsType[*Error](err); ok {
		return e.Reason
	}
	return ""
}

func newError(r Reason, path string, err error) *Error {
	return &Error{Reason: r, Path: path, Err: err}
}
