// Package config reads warden.yaml, the configuration of `warden serve`, and
// turns it into the Config values of the packages that do the work:
// authn.Config (trusted issuers), bundle.LoaderConfig (the signed policy
// bundle), guard.Config, audit.Config, and the gateway's listeners, limits,
// routes and upstreams.
//
// Everything is checked when the file is loaded, not when a request arrives:
// unknown and duplicate keys, types, durations, sizes, CIDRs, algorithms,
// detector names, references between sections, key files and upstream
// credentials. Every problem is reported (up to MaxErrors of them) as an
// *Error naming the file, the line and column, the key path and what was
// expected:
//
//	warden.yaml:12:7: issuers[0].algorithms[0]: "none" is not an algorithm (want one of ES256, ...)
//
// The YAML is parsed with github.com/goccy/go-yaml into a syntax tree that
// this package walks itself against the schema, so that every error carries a
// position and all of them are collected, not only the first. Anchors,
// aliases, merge keys, tags and multiple documents are refused: a
// configuration says what it means on its face.
//
// Secrets (upstream credentials) come only from explicit {env: NAME},
// {file: PATH} or {value: LITERAL} forms; there is no implicit ${VAR}
// interpolation anywhere. Resolved secrets never appear in errors, and
// Config's String, Format and LogValue methods redact them.
//
// docs/configuration.md documents every key.
package config
