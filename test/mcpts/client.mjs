// Acceptance test of Warden's MCP proxy with the official TypeScript MCP SDK
// (@modelcontextprotocol/sdk, pinned in package.json). It starts with no
// token: it follows the 401 to the protected-resource metadata (RFC 9728),
// reads Warden's issuer metadata (RFC 8414), gets a token with
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
import {
  discoverOAuthProtectedResourceMetadata, extractWWWAuthenticateParams, fetchToken, selectResourceURL,
} from '@modelcontextprotocol/sdk/client/auth.js';
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

// 1. With no token, the MCP endpoint answers 401 naming its protected
// resource metadata (RFC 9728).
const unauth = await recordingFetch(mcpURL, {
  method: 'POST',
  headers: { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream' },
  body: JSON.stringify({ jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'probe', version: '1' } } }),
});
await unauth.body?.cancel();
assert.equal(unauth.status, 401, 'the MCP endpoint did not challenge a request without a token');
const { resourceMetadataUrl } = extractWWWAuthenticateParams(unauth);
assert.ok(resourceMetadataUrl, `the 401 names no resource_metadata: ${unauth.headers.get('www-authenticate')}`);
step('challenged', { status: unauth.status, resource_metadata: resourceMetadataUrl.href });

// 2. The metadata names the resource and Warden's issuer; the issuer's own
// metadata (RFC 8414) names its token endpoint. The SDK reads the first;
// its reader of the second (discoverAuthorizationServerMetadata) requires
// an authorization_endpoint, which a client-credentials-only issuer such
// as Warden's need not have (RFC 8414 section 2), so the script reads it.
const prm = await discoverOAuthProtectedResourceMetadata(mcpURL, { resourceMetadataUrl }, recordingFetch);
const resource = await selectResourceURL(mcpURL, {}, prm);
assert.equal(resource?.href, mcpURL.href, `the metadata's resource ${prm.resource} is not this MCP server`);
const issuer = prm.authorization_servers?.[0];
assert.ok(issuer, 'the metadata names no authorization server');
const asRes = await recordingFetch(new URL('/.well-known/oauth-authorization-server', issuer));
assert.equal(asRes.status, 200, 'no authorization server metadata');
const asMeta = await asRes.json();
assert.equal(asMeta.issuer, issuer, 'the authorization server metadata names another issuer');
assert.ok(asMeta.grant_types_supported?.includes('client_credentials'), 'the issuer does not grant client_credentials');
step('discovered', { resource: prm.resource, authorization_server: issuer, token_endpoint: asMeta.token_endpoint });

// 3. The token: client_credentials with the RFC 8707 resource, through the
// SDK's client-credentials provider and token request.
const provider = new ClientCredentialsProvider({
  clientId, clientSecret, clientName: 'warden-mcp-ts-acceptance', scope: 'trace:read', expectedIssuer: issuer,
});
const tokens = await fetchToken(provider, issuer, { metadata: asMeta, resource, fetchFn: recordingFetch });
await provider.saveTokens(tokens);
const tokenReq = seen.find((r) => r.method === 'POST' && r.url.href === asMeta.token_endpoint);
assert.ok(tokenReq, 'no token request');
const form = new URLSearchParams(tokenReq.body);
assert.equal(form.get('grant_type'), 'client_credentials');
assert.equal(form.get('resource'), mcpURL.href, 'the token request did not name this MCP server as its resource');
assert.ok(tokens.access_token, 'no access token');
const payload = JSON.parse(Buffer.from(tokens.access_token.split('.')[1], 'base64url').toString());
const aud = [].concat(payload.aud);
assert.ok(aud.includes(mcpURL.href), `the token's audience ${JSON.stringify(aud)} lacks ${mcpURL.href}`);
step('token', { resource: form.get('resource'), aud, sub: payload.sub, scope: tokens.scope });

// The SDK's transport sends the provider's token from now on.
const transport = new StreamableHTTPClientTransport(mcpURL, { authProvider: provider, fetch: recordingFetch });
const client = new Client({ name: 'warden-mcp-ts-acceptance', version: '1.0.0' });
await client.connect(transport, { timeout: timeoutMs });
step('connected', { protocol: transport.protocolVersion, session: Boolean(transport.sessionId) });

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
