package authn

import "github.com/wardenhq/warden/internal/identity"

// Principal is the verified identity a token yields; see identity.Principal.
type Principal = identity.Principal

// Actor is one link of a delegation chain; see identity.Actor.
type Actor = identity.Actor
