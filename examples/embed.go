// Package examples embeds the reference policy bundle source (examples/policy)
// so that `warden serve --demo` can build and sign it at start without any
// file on disk.
package examples

import "embed"

// Policy holds the reference bundle source under the directory "policy":
// policies/*.cedar, schema.cedarschema, entities.json and tests/*.yaml.
//
//go:embed policy
var Policy embed.FS
