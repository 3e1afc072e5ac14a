// Acceptance test of Warden's MCP proxy with the official TypeScript MCP SDK
// (@modelcontextprotocol/sdk, pinned in package.json). It starts with no
// token: the SDK follows the 401 to the protected-resource metadata
// (RFC 9728), discovers Warden's token issuer (RFC 8414), gets a token with
// client_credentials and the RFC 8707 resource parameter, then calls an
// allowed tool and sees a denied one refused with the policy's reason.
//
// Run by mcpts_test.go:
//   WARDEN_MCP_URL=http://127.0.0.1:PORT/mcp/demo CLIENT_ID=eval-runner CLIENT_SECRET=... node client.mjs
// It prints one JSON line per step and exits 0 only if every check held.

import assert from 'node:assert/strict';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ClientCredentialsProvider } from '@modelcontextprotocol/sdk/client/auth-extensions.js';
import { McpError } from '@modelcontextprotocol/sdk/types.js';

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const mcpURL = new URL(env('WARDEN_MCP_URL'));
const clientId = env('CLIENT_ID');
const clientSecret = env('CLIENT_SECRET');
const allowedTool = process.env.ALLOWED_TOOL ?? 'search_traces';
const deniedTool = process.env.DENIED_TOOL ?? 'delete_records';
const deniedReason = process.env.DENIED_REASON ?? 'evaluators call read-only tools only';
const timeoutMs = 10_000;

const step = (name, detail = {}) => console.log(JSON.stringify({ step: name, ...detail }));

// Every request the SDK makes, so the test can show the discovery it did.
const seen = [];
const recordingFetch = async (input, init = {}) => {
  const url = new URL(typeof input === 'string' || input instanceof URL ? input : input.url);
  const body = typeof init.body === 'string' || init.body instanceof URLSearchParams ? String(init.body) : undefined;
  const res = await fetch(input, { ...init, signal: init.signal ?? AbortSignal.timeout(timeoutMs) });
  seen.push({ method: init.method ?? 'GET', url, status: res.status, body, wwwAuthenticate: res.headers.get('www-authenticate') });
  return res;
};

// The provider is given Warden's issuer (its data-plane origin) so that the
// client secret goes to no other authorization server.
const provider = new ClientCredentialsProvider({
  clientId, clientSecret, clientName: 'warden-mcp-ts-acceptance', scope: 'trace:read', expectedIssuer: mcpURL.origin,
});
const transport = new StreamableHTTPClientTransport(mcpURL, { authProvider: provider, fetch: recordingFetch });
const client = new Client({ name: 'warden-mcp-ts-acceptance', version: '1.0.0' });

await client.connect(transport, { timeout: timeoutMs });

// 1. The first request carried no token and got 401 with resource_metadata.
const challenge = seen.find((r) => r.status === 401);
assert.ok(challenge, 'no 401: the client was never challenged');
assert.match(challenge.wwwAuthenticate ?? '', /^Bearer /, 'the 401 is not a Bearer challenge');
const rm = /resource_metadata="([^"]+)"/.exec(challenge.wwwAuthenticate)?.[1];
assert.ok(rm, `the 401 names no resource_metadata: ${challenge.wwwAuthenticate}`);
step('challenged', { status: challenge.status, resource_metadata: rm });

// 2. The SDK read that metadata document and Warden's issuer metadata.
const prm = seen.find((r) => r.url.href === rm && r.status === 200);
assert.ok(prm, `the protected-resource metadata ${rm} was not fetched`);
const asMeta = seen.find((r) => r.url.origin === mcpURL.origin && r.status === 200 &&
  /^\/\.well-known\/(oauth-authorization-server|openid-configuration)/.test(r.url.pathname));
assert.ok(asMeta, 'the authorization server metadata was not fetched');
step('discovered', { protected_resource: prm.url.href, authorization_server: asMeta.url.href });

// 3. The token request: client_credentials with the RFC 8707 resource.
const tokenReq = seen.find((r) => r.method === 'POST' && r.body?.includes('grant_type=client_credentials'));
assert.ok(tokenReq, 'no client_credentials token request');
assert.equal(tokenReq.status, 200, 'the token request failed');
const form = new URLSearchParams(tokenReq.body);
assert.equal(form.get('resource'), mcpURL.href, 'the token request did not name this MCP server as its resource');
const tokens = await provider.tokens();
assert.ok(tokens?.access_token, 'no access token');
const payload = JSON.parse(Buffer.from(tokens.access_token.split('.')[1], 'base64url').toString());
const aud = [].concat(payload.aud);
assert.ok(aud.includes(mcpURL.href), `the token's audience ${JSON.stringify(aud)} lacks ${mcpURL.href}`);
step('token', { token_endpoint: tokenReq.url.href, resource: form.get('resource'), aud, sub: payload.sub });

// 4. The list is filtered for this caller: the allowed tool is there, the
// denied one is not.
const { tools } = await client.listTools(undefined, { timeout: timeoutMs });
const names = tools.map((t) => t.name).sort();
assert.ok(names.includes(allowedTool), `tools/list ${names} lacks ${allowedTool}`);
assert.ok(!names.includes(deniedTool), `tools/list ${names} shows ${deniedTool}, which this caller may not call`);
step('listed', { tools: names });

// 5. The allowed call goes through, with personal data redacted.
const ok = await client.callTool({ name: allowedTool, arguments: { tenant: 'acme', query: 'refund' } }, undefined, { timeout: timeoutMs });
assert.notEqual(ok.isError, true, `${allowedTool} failed: ${JSON.stringify(ok.content)}`);
const text = ok.content.map((c) => c.text ?? '').join('');
assert.match(text, /t-1/, `${allowedTool} result lacks trace t-1: ${text}`);
assert.doesNotMatch(text, /jane\.doe@example\.com/, `${allowedTool} result leaks the email: ${text}`);
step('allowed', { tool: allowedTool, result: text.slice(0, 200) });

// 6. The denied call is refused as a JSON-RPC error carrying the reason.
let refused;
try {
  const res = await client.callTool({ name: deniedTool, arguments: { env: 'staging', tenant: 'acme' } }, undefined, { timeout: timeoutMs });
  refused = res.isError ? { message: res.content.map((c) => c.text ?? '').join('') } : undefined;
  assert.ok(refused, `${deniedTool} was allowed: ${JSON.stringify(res)}`);
} catch (err) {
  if (err instanceof assert.AssertionError) throw err;
  assert.ok(err instanceof McpError, `${deniedTool}: ${err}`);
  refused = { code: err.code, message: err.message, data: err.data };
}
assert.ok(JSON.stringify(refused).includes(deniedReason), `the refusal does not carry the reason "${deniedReason}": ${JSON.stringify(refused)}`);
step('denied', { tool: deniedTool, ...refused });

await client.close();
step('ok');
