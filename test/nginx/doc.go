// Package nginx holds the forward-auth integration test: the real warden
// binary (`warden serve --demo`) answering nginx auth_request subrequests at
// /authz, with a real nginx in front of a recording upstream, configured with
// the server block documented in docs/forward-auth.md.
//
// The test needs nginx with the auth_request module (Debian's nginx-light;
// .ci/run installs it). Without nginx it fails when CI is set and skips
// otherwise.
package nginx
