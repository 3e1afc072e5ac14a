// Package policy decides whether a principal may perform an action on a
// resource, by evaluating a Cedar policy bundle.
//
// A bundle is a file system with policies/*.cedar, schema.cedarschema,
// entities.json (optional static entities: role hierarchy, model catalogue,
// agents) and tests/*.yaml. [Compile] parses and validates everything once:
// every policy is checked against the schema (an unknown action, entity type
// or attribute is refused with its file and line), the static entities are
// checked against the schema, role closures are precomputed and policies are
// indexed by action. An [Engine] holds the last good compiled bundle behind an
// atomic pointer: [Engine.Load] swaps a new one in only if it compiles, and
// [Engine.Decide] evaluates a [Request] against whatever is current, without
// parsing anything.
//
// Decisions fail closed: the default is deny, and any error on the way (a
// context value that has no Cedar form, an evaluation error in a policy, no
// bundle loaded) is a deny that records the error.
//
// A delegated request (a token with an "act" claim) is evaluated twice: once
// with the agent as principal and the user in context.on_behalf_of, and once
// with the user as principal. It is allowed only if both are, so an agent
// acting for a user never gets more than that user.
//
// [RunTests] runs the test cases of a bundle (tests/*.yaml).
//
// The package never imports net/http: bundle transport and signatures live in
// internal/bundle, which hands the engine an fs.FS.
package policy
