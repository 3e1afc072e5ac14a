// Package mcp puts MCP servers behind Warden: a Streamable HTTP proxy, one
// endpoint per configured server at /mcp/<server>, that judges every
// JSON-RPC message a client sends before anything reaches the upstream.
//
// tools/call is the action tool:call on Tool::"<server>/<tool>" (with the
// call's arguments as context.arguments), resources/read is resource:read
// on Resource::"<server>/<uri>", prompts/get is prompt:get on
// Prompt::"<server>/<name>"; tools/list, resources/list and prompts/list
// answers are filtered to what the caller may use; lifecycle methods
// (initialize, ping, server/discover, the client's notifications) pass
// without a policy question; every other method is denied. A denial is a
// JSON-RPC error (CodeDenied) whose data carries the reason, the decision
// id and the request id. Tool arguments and every result pass through the
// guards (pii:view, secret:read on the same resource), SSE event by event.
//
// Both protocol generations are served: 2026-07-28 (stateless, the
// Mcp-Method and Mcp-Name headers, which must agree with the body) and
// 2025-11-25 / 2025-06-18 (initialize, Mcp-Session-Id bound to the
// principal that created it, the GET event stream, DELETE). Tokens must
// name the server's resource URI in their audience (RFC 8707); 401s carry
// the RFC 9728 resource_metadata the MCP authorization spec asks for. The
// caller's token never reaches the upstream: Warden sends its own
// credential. See docs/mcp.md.
package mcp
