// Package bundle builds, signs, verifies and loads Warden policy bundles.
//
// # Source directory
//
// A bundle is built from a directory holding:
//
//	policies/*.cedar      Cedar policies (at least one)
//	schema.cedarschema    the Cedar schema (required)
//	entities.json         static entities (optional)
//	tests/*.yaml          policy test cases (optional)
//
// File names under policies/ and tests/ start with a letter or digit and use
// only letters, digits, '.', '_' and '-' (at most 100 bytes); there are no
// subdirectories. [ReadDir] ignores every entry whose name starts with a dot
// (.git, .DS_Store, .gitignore) and top-level files that do not look like
// bundle content (README.md, LICENSE, a bundle.tar.gz built in place); it
// refuses everything else that does not fit the layout (policy/x.cedar,
// policies/x.ceder, a top-level x.cedar or schema.json, another directory),
// so that a misnamed policy cannot silently drop out of the bundle.
//
// # Archive
//
// bundle.tar.gz is a gzip-compressed tar archive holding the files above plus
// two more, all regular files with mode 0644, uid/gid 0, no user or group
// names, the manifest's creation time as modification time, in byte order of
// their paths (so the two metadata files come first):
//
//	.manifest.json   {"version":1,"revision":...,"created":RFC 3339,"files":[{"path","sha256","size"},...]}
//	.signature.jws   a detached compact JWS (RFC 7515 Appendix F) over the exact manifest bytes
//
// The manifest lists every other file with its hex SHA-256 and size, sorted by
// path. The signature is "BASE64URL(header)..BASE64URL(signature)"; the signing
// input is BASE64URL(header) + "." + BASE64URL(manifest bytes), as for any JWS.
// The protected header holds exactly alg, kid and typ ("warden-bundle+jws"):
// no b64, no crit, no embedded keys. The same files, revision, creation time
// and key give the same bytes (EdDSA and HMAC signatures are deterministic; ECDSA
// and RSA-PSS ones are not, so with those keys only the signature differs).
//
// The bundle digest stamped into every decision is "sha256:" followed by the
// hex SHA-256 of the manifest bytes: it pins every file, the revision and the
// creation time.
//
// # Verification
//
// [Open] checks, in this order and before any policy is parsed: the archive
// itself (size limits counted while decompressing, only regular files, clean
// relative paths inside the layout, no duplicates), then the signature with
// the configured keys, then the manifest (strict JSON), then every file
// against its digest and size, with no file missing and none unlisted. Every
// refusal is an [*Error] with a stable [Reason].
//
// A [Loader] keeps a bundle source (a file or an HTTP(S) URL) under watch and
// hands every verified bundle to the policy engine.
package bundle
