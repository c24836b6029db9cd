#!/usr/bin/env node
// A real MCP client (@modelcontextprotocol/sdk Client + StreamableHTTPClientTransport) for
// mcp-warden's end-to-end tests. It gets a token (client_credentials, a given --token, none, or
// the SDK's own OAuth discovery flow with --oauth), then runs initialize, tools/list and one
// tools/call, and prints exactly one JSON line. See README.md.

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { auth, extractWWWAuthenticateParams, UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { StreamableHTTPClientTransport, StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

import { emit, log, parseCli } from './lib/cli.mjs';
import { AutoOAuthProvider, followAuthorize } from './lib/oauth.mjs';

const opts = parseCli({
  url: { type: 'string' },
  'token-url': { type: 'string' },
  'client-id': { type: 'string' },
  'client-secret': { type: 'string' },
  'auth-method': { type: 'string' },
  resource: { type: 'string' },
  scope: { type: 'string' },
  token: { type: 'string' },
  'no-token': { type: 'boolean' },
  'token-only': { type: 'boolean' },
  oauth: { type: 'boolean' },
  'redirect-uri': { type: 'string' },
  tool: { type: 'string' },
  'tool-args': { type: 'string' },
  header: { type: 'string', multiple: true },
  'keep-session': { type: 'boolean' },
  'timeout-ms': { type: 'string' },
}, 'MCP_CLIENT');

const MAX_AUTH_ROUNDS = 4;

/** Everything observed, reported on failure too. */
const observed = { challenges: [] };

const timeoutMs = Number(opts['timeout-ms'] ?? 20000);
setTimeout(() => fail(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs);

try {
  emit(await main());
  process.exit(0);
} catch (err) {
  fail(err);
}

async function main() {
  if (opts['token-only']) {
    const tokens = await clientCredentialsToken();
    return { access_token: tokens.access_token, token_response: tokens, token_claims: decodeJwt(tokens.access_token)?.payload ?? null };
  }
  if (!opts.url) throw new Error('--url is required');
  if (opts.oauth) return runOAuth();

  let token = opts.token;
  if (!token && !opts['no-token']) {
    if (!opts['token-url']) throw new Error('give --token-url (client_credentials), --token, --no-token or --oauth');
    token = (await clientCredentialsToken()).access_token;
  }
  const headers = extraHeaders();
  if (token) headers.Authorization = `Bearer ${token}`;
  const transport = new StreamableHTTPClientTransport(new URL(opts.url), {
    requestInit: { headers },
    fetch: recordingFetch,
  });
  const client = newClient();
  await client.connect(transport);
  const result = await exercise(client, transport);
  const decoded = token ? decodeJwt(token) : undefined;
  return { ok: true, ...result, token_claims: decoded?.payload ?? null, token_header: decoded?.header ?? null };
}

/** RFC 6749 §4.4 client_credentials with an RFC 8707 `resource`, as a plain form POST. */
async function clientCredentialsToken() {
  if (!opts['token-url']) throw new Error('--token-url is required');
  const clientId = opts['client-id'] ?? 'warden-test';
  const clientSecret = opts['client-secret'] ?? 'warden-secret';
  const form = new URLSearchParams({ grant_type: 'client_credentials' });
  if (opts.scope) form.set('scope', opts.scope);
  if (opts.resource) form.set('resource', opts.resource);
  const headers = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' };
  if ((opts['auth-method'] ?? 'basic') === 'post') {
    form.set('client_id', clientId);
    form.set('client_secret', clientSecret);
  } else {
    // RFC 6749 §2.3.1: form-urlencode both parts before base64.
    const basic = `${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`;
    headers.authorization = `Basic ${Buffer.from(basic).toString('base64')}`;
  }
  const res = await fetch(opts['token-url'], { method: 'POST', headers, body: form });
  const body = await res.json().catch(() => ({}));
  if (!res.ok || !body.access_token) {
    throw Object.assign(new Error(`token request failed: ${body.error ?? ''} ${body.error_description ?? ''}`.trim()), {
      status: res.status,
      body,
    });
  }
  return body;
}

/**
 * The full MCP authorization flow driven by the SDK: 401 -> PRM -> AS discovery -> dynamic
 * registration -> authorize (followed here through automatic login/consent) -> token -> retry.
 * Step-up (403 insufficient_scope) is handled the same way; when the SDK's refresh-first
 * attempt cannot add scope, the tokens are dropped and a new authorization is driven.
 */
async function runOAuth() {
  const redirectUri = opts['redirect-uri'] ?? 'http://127.0.0.1/oauth/callback';
  const provider = new AutoOAuthProvider(redirectUri, opts.scope);
  const serverUrl = new URL(opts.url);
  let rounds = 0;
  let stepUpWorkaround = false;

  const authorizeOnce = async () => {
    rounds += 1;
    if (rounds > MAX_AUTH_ROUNDS) throw new Error(`more than ${MAX_AUTH_ROUNDS} authorization rounds`);
    const url = provider.pending;
    provider.pending = undefined;
    return followAuthorize(url, redirectUri, { expectedState: url.searchParams.get('state') ?? undefined });
  };

  let transport;
  let client;
  for (;;) {
    transport = new StreamableHTTPClientTransport(serverUrl, {
      authProvider: provider,
      requestInit: { headers: extraHeaders() },
      fetch: recordingFetch,
    });
    client = newClient();
    try {
      await client.connect(transport);
      break;
    } catch (err) {
      if (!(err instanceof UnauthorizedError) || !provider.pending) throw err;
      await transport.finishAuth(await authorizeOnce());
    }
  }

  // Later requests may hit a step-up challenge: retry each operation after authorizing.
  const withAuth = async (op) => {
    for (;;) {
      try {
        return await op();
      } catch (err) {
        if (err instanceof UnauthorizedError && provider.pending) {
          await transport.finishAuth(await authorizeOnce());
          continue;
        }
        const challenge = observed.challenges.at(-1);
        if (err instanceof StreamableHTTPError && err.code === 403 && challenge?.status === 403
          && provider.tokens()?.refresh_token && !stepUpWorkaround) {
          stepUpWorkaround = true;
          await stepUpWithoutRefresh(provider, serverUrl, challenge.www_authenticate);
          await finishAuthWith(provider, serverUrl, challenge.www_authenticate, await authorizeOnce());
          continue;
        }
        throw err;
      }
    }
  };

  const result = await exercise(client, transport, withAuth);
  const tokens = provider.tokens();
  const decoded = tokens ? decodeJwt(tokens.access_token) : undefined;
  const authorizeParams = provider.authorizeUrls.map((u) => new URL(u).searchParams);
  return {
    ok: true,
    ...result,
    token_claims: decoded?.payload ?? null,
    token_header: decoded?.header ?? null,
    scope: authorizeParams[0]?.get('scope') ?? null,
    authorize_scopes: authorizeParams.map((p) => p.get('scope')),
    authorize_resources: authorizeParams.map((p) => p.get('resource')),
    authorize_url_lengths: provider.authorizeUrls.map((u) => u.length),
    registered_client_id: provider.clientInformation()?.client_id ?? null,
    refresh_token_issued: !!tokens?.refresh_token,
    step_up_refresh_workaround: stepUpWorkaround,
  };
}

/** Drop the tokens and start a fresh authorization for the challenge's scope. */
async function stepUpWithoutRefresh(provider, serverUrl, wwwAuthenticate) {
  provider.invalidateCredentials('tokens');
  const { scope, resourceMetadataUrl } = challengeParams(wwwAuthenticate);
  const result = await auth(provider, { serverUrl, scope, resourceMetadataUrl, fetchFn: recordingFetch });
  if (result !== 'REDIRECT' || !provider.pending) throw new Error(`step-up authorization did not redirect (${result})`);
}

async function finishAuthWith(provider, serverUrl, wwwAuthenticate, code) {
  const { scope, resourceMetadataUrl } = challengeParams(wwwAuthenticate);
  const result = await auth(provider, {
    serverUrl, scope, resourceMetadataUrl, authorizationCode: code, fetchFn: recordingFetch,
  });
  if (result !== 'AUTHORIZED') throw new Error(`step-up code exchange failed (${result})`);
}

function challengeParams(wwwAuthenticate) {
  return extractWWWAuthenticateParams(new Response(null, { headers: { 'www-authenticate': wwwAuthenticate ?? '' } }));
}

/** initialize (already done by connect), tools/list, one tools/call, then end the session. */
async function exercise(client, transport, withAuth = (op) => op()) {
  const { tools } = await withAuth(() => client.listTools());
  const toolName = opts.tool ?? 'echo';
  const args = JSON.parse(opts['tool-args'] ?? '{"message":"hi"}');
  const called = await withAuth(() => client.callTool({ name: toolName, arguments: args }));
  if (called.isError) {
    throw Object.assign(new Error(`tool ${toolName} returned an error: ${JSON.stringify(called.content)}`), { result: called });
  }
  const text = called.content?.find((c) => c.type === 'text')?.text ?? null;
  const sessionId = transport.sessionId ?? null;
  const out = {
    tools: tools.map((t) => t.name),
    [toolName === 'echo' ? 'echo' : 'tool_text']: text,
    server_info: client.getServerVersion() ?? null,
    protocol_version: transport.protocolVersion ?? null,
    session_id: sessionId,
    challenges: observed.challenges,
  };
  if (!opts['keep-session'] && sessionId) {
    try {
      await transport.terminateSession();
      out.session_terminated = true;
    } catch (err) {
      out.session_terminated = false;
      out.terminate_error = String(err?.message ?? err);
    }
  }
  await client.close();
  return out;
}

function newClient() {
  return new Client({ name: 'mcp-warden-peer-client', version: '0.0.0' }, { capabilities: {} });
}

/** fetch that remembers every 401/403 challenge, so tests can assert on it. */
async function recordingFetch(input, init) {
  const res = await fetch(input, init);
  if (res.status === 401 || res.status === 403) {
    observed.challenges.push({
      status: res.status,
      method: init?.method ?? 'GET',
      url: String(input instanceof Request ? input.url : input),
      www_authenticate: res.headers.get('www-authenticate'),
    });
  }
  return res;
}

/** `--header 'Name: value'` (repeatable) -> object. */
function extraHeaders() {
  const out = {};
  for (const h of opts.header ?? []) {
    const i = h.indexOf(':');
    if (i <= 0) throw new Error(`bad --header ${JSON.stringify(h)}`);
    out[h.slice(0, i).trim()] = h.slice(i + 1).trim();
  }
  return out;
}

/** Decode (without verifying) a compact JWS; undefined for an opaque token. */
function decodeJwt(token) {
  const parts = String(token).split('.');
  if (parts.length !== 3) return undefined;
  try {
    const part = (p) => JSON.parse(Buffer.from(p, 'base64url').toString('utf8'));
    return { header: part(parts[0]), payload: part(parts[1]) };
  } catch {
    return undefined;
  }
}

function fail(err) {
  const last = observed.challenges.at(-1);
  // The HTTP status that failed: the token endpoint's, or the MCP endpoint's (SDK error code).
  const status = err?.status ?? err?.code;
  emit({
    ok: false,
    error: String(err?.message ?? err) + (err?.cause ? `: ${err.cause.message ?? err.cause}` : ''),
    status: typeof status === 'number' ? status : null,
    ...(err?.oauthError ? { oauth_error: err.oauthError } : {}),
    ...(err?.body ? { body: err.body } : {}),
    www_authenticate: last?.www_authenticate ?? null,
    challenges: observed.challenges,
  });
  log(err?.stack ?? String(err));
  process.exit(1);
}
