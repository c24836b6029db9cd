#!/usr/bin/env node
// A real OAuth 2.1 / OpenID Connect authorization server (oidc-provider) for mcp-warden's
// end-to-end tests. It issues RFC 9068 JWT access tokens (aud = the RFC 8707 resource), serves
// client_credentials, open dynamic registration, authorization code + PKCE with automatic login
// and consent, and refresh tokens. See README.md for the arguments and the stdout line.
//
// Layout: a plain node:http server owns the loopback socket and routes each request to
//   /__admin/*                      test controls (key rotation, fault injection, counters)
//   <issuer path>/interaction/<uid> the automatic login/consent handler
//   well-known discovery URLs       (RFC 8414 inserted forms are rewritten to the provider's)
//   <issuer path>/*                 the provider itself, with the prefix stripped
// The Provider is rebuilt on key rotation; its in-memory store is module-level in
// oidc-provider, so clients, grants and tokens survive the swap.

import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';

import { defaultCatalog, loadCatalog } from './lib/catalog.mjs';
import { emit, exitOnSignals, flatList, log, parseCli, parsePort } from './lib/cli.mjs';
import { interactionHandler } from './lib/interactions.mjs';
import { loadOrCreateKeys, rotateKeys, saveKeys, signingKid } from './lib/keys.mjs';

// oidc-provider prints NOTICE lines with console.log after start; stdout is
// reserved for the one ready line (a test that stops reading would otherwise
// kill this process with EPIPE), so its chatter goes to stderr.
console.log = (...args) => console.error(...args);
console.info = console.log;

const HOST = '127.0.0.1';
const WELL_KNOWN_FORMS = ['oauth-insert', 'oidc-insert', 'oidc-append', 'oauth-append'];

const opts = parseCli({
  port: { type: 'string' },
  'issuer-path': { type: 'string' },
  resource: { type: 'string', multiple: true },
  catalog: { type: 'string' },
  'print-catalog': { type: 'boolean' },
  keys: { type: 'string' },
  rotate: { type: 'boolean' },
  retire: { type: 'boolean' },
  alg: { type: 'string' },
  'client-id': { type: 'string' },
  'client-secret': { type: 'string' },
  'account-id': { type: 'string' },
  'access-token-ttl': { type: 'string' },
  typ: { type: 'string' },
  'scope-claim': { type: 'string' },
  'strict-scopes': { type: 'boolean' },
  'max-scope-length': { type: 'string' },
  'well-known': { type: 'string' },
  verbose: { type: 'boolean' },
}, 'AUTHZ');

const catalog = opts.catalog ? loadCatalog(opts.catalog) : defaultCatalog();
if (opts['print-catalog']) {
  emit(catalog);
  process.exit(0);
}

// Imported after --print-catalog so that mode prints nothing but the catalog.
const { default: Provider, errors } = await import('oidc-provider');

const settings = {
  port: parsePort(opts.port),
  // Normalised: '' or '/a/b' (leading slash, no trailing slash).
  issuerPath: (opts['issuer-path'] ?? '').replace(/\/+$/, '').replace(/^(?=[^/])/, '/'),
  resources: flatList(opts.resource),
  alg: opts.alg ?? 'RS256',
  clientId: opts['client-id'] ?? 'warden-test',
  clientSecret: opts['client-secret'] ?? 'warden-secret',
  accountId: opts['account-id'] ?? 'test-user',
  accessTokenTtl: Number(opts['access-token-ttl'] ?? 3600),
  typ: opts.typ, // header typ override; oidc-provider's own is at+jwt
  scopeClaim: opts['scope-claim'] ?? 'scope', // 'scope' (string) or 'scp' (array)
  strictScopes: !!opts['strict-scopes'],
  maxScopeLength: opts['max-scope-length'] ? Number(opts['max-scope-length']) : undefined,
  wellKnown: new Set(opts['well-known'] ? flatList([opts['well-known']]) : WELL_KNOWN_FORMS),
  verbose: !!opts.verbose,
};

if (settings.resources.length === 0) settings.resources.push('http://127.0.0.1/mcp');
if (!['RS256', 'ES256'].includes(settings.alg)) fatal(`--alg must be RS256 or ES256, not ${settings.alg}`);
if (!['scope', 'scp'].includes(settings.scopeClaim)) fatal('--scope-claim must be scope or scp');
if (!Number.isInteger(settings.accessTokenTtl) || settings.accessTokenTtl < 1) fatal('--access-token-ttl must be a positive integer');
for (const form of settings.wellKnown) {
  if (!WELL_KNOWN_FORMS.includes(form)) fatal(`--well-known: unknown form ${form} (known: ${WELL_KNOWN_FORMS.join(',')})`);
}

let { keys, created } = loadKeysOrDie(opts.keys);
if (opts.rotate && !created) {
  keys = rotateKeys(keys, { retire: !!opts.retire });
  if (opts.keys) saveKeys(opts.keys, keys);
  log(`rotated keys at startup; signing kid ${signingKid(keys, settings.alg)}`);
}

// Cookie signing keys stay fixed across provider rebuilds so interactions in flight survive.
const cookieKeys = [randomBytes(32).toString('base64url')];
const allScopes = [...catalog.oidc_scopes, ...catalog.resource_scopes];
const knownScopes = new Set(allScopes);
const stats = Object.create(null);
const faults = new Map(); // category -> { status, delayMs }

let issuer;
let current; // { provider, callback }

const server = http.createServer((req, res) => {
  route(req, res).catch((err) => {
    log(`request failed: ${err?.stack ?? err}`);
    if (!res.headersSent) sendJson(res, 500, { error: 'server_error' });
    else res.destroy();
  });
});

server.listen(settings.port, HOST, () => {
  const { port } = server.address();
  issuer = `http://${HOST}:${port}${settings.issuerPath}`;
  current = buildProvider(keys);
  const { provider } = current;
  emit({
    ready: true,
    port,
    issuer,
    jwks_uri: provider.urlFor('jwks'),
    token_endpoint: provider.urlFor('token'),
    authorization_endpoint: provider.urlFor('authorization'),
    registration_endpoint: provider.urlFor('registration'),
    discovery_urls: discoveryUrls(port),
    client_id: settings.clientId,
    resources: settings.resources,
    alg: settings.alg,
    signing_kid: signingKid(keys, settings.alg),
    admin: `http://${HOST}:${port}/__admin`,
  });
});
server.on('error', (err) => fatal(`listen failed: ${err.message}`));

exitOnSignals(() => new Promise((resolve) => {
  server.close(resolve);
  server.closeAllConnections();
}));

const handleInteraction = interactionHandler(() => current.provider, {
  accountId: settings.accountId,
  log,
});

/** Route one request; see the layout at the top of this file. */
async function route(req, res) {
  const url = new URL(req.url, `http://${HOST}`);
  const path = url.pathname;
  if (settings.verbose) log(`${req.method} ${req.url}`);

  if (path.startsWith('/__admin/')) return admin(req, res, url);

  const target = wellKnownTarget(path);
  if (target === null) return sendJson(res, 404, { error: 'not_found' });
  const effectivePath = target ?? path;

  const category = categorize(effectivePath);
  stats[category] = (stats[category] ?? 0) + 1;
  const fault = faults.get(category) ?? faults.get('all');
  if (fault) {
    if (fault.delayMs) await sleep(fault.delayMs);
    if (fault.status) {
      return sendJson(res, fault.status, { error: 'injected_fault', error_description: `${category} fault injected by test` });
    }
  }

  if (category === 'interaction') return handleInteraction(req, res);

  const prefix = settings.issuerPath;
  if (prefix && !(effectivePath === prefix || effectivePath.startsWith(`${prefix}/`))) {
    return sendJson(res, 404, { error: 'not_found' });
  }
  if (prefix) {
    // oidc-provider derives its mount path from originalUrl minus url (as under express).
    req.originalUrl = effectivePath + url.search;
    req.url = (effectivePath.slice(prefix.length) || '/') + url.search;
  } else if (target) {
    req.url = effectivePath + url.search;
  }
  return current.callback(req, res);
}

/**
 * Map a discovery URL to the provider's own (appended) form. Returns undefined for non-discovery
 * paths, the provider path to serve for an enabled form, and null for a disabled form (404), so
 * tests can check a client's fallback order (RFC 8414 §3.1, OIDC Discovery §4).
 */
function wellKnownTarget(path) {
  const p = settings.issuerPath;
  for (const [doc, kind] of [['oauth-authorization-server', 'oauth'], ['openid-configuration', 'oidc']]) {
    const inserted = `/.well-known/${doc}${p}`;
    const appended = `${p}/.well-known/${doc}`;
    const insertOn = settings.wellKnown.has(`${kind}-insert`);
    const appendOn = settings.wellKnown.has(`${kind}-append`);
    if (path === inserted && path === appended) return insertOn || appendOn ? appended : null;
    if (path === inserted) return insertOn ? appended : null;
    if (path === appended) return appendOn ? appended : null;
  }
  return undefined;
}

function discoveryUrls(port) {
  const base = `http://${HOST}:${port}`;
  const p = settings.issuerPath;
  const all = {
    'oauth-insert': `${base}/.well-known/oauth-authorization-server${p}`,
    'oidc-insert': `${base}/.well-known/openid-configuration${p}`,
    'oidc-append': `${base}${p}/.well-known/openid-configuration`,
    'oauth-append': `${base}${p}/.well-known/oauth-authorization-server`,
  };
  return [...new Set(WELL_KNOWN_FORMS.filter((f) => settings.wellKnown.has(f)).map((f) => all[f]))];
}

function categorize(path) {
  const rel = path.slice(settings.issuerPath.length);
  if (path.includes('/.well-known/')) return 'discovery';
  if (rel.startsWith('/interaction/')) return 'interaction';
  if (rel === '/jwks') return 'jwks';
  if (rel === '/token') return 'token';
  if (rel === '/auth' || rel.startsWith('/auth/')) return 'authorize';
  if (rel === '/reg' || rel.startsWith('/reg/')) return 'registration';
  return 'other';
}

/** Test controls. Loopback only, like the rest of this server. */
async function admin(req, res, url) {
  const q = url.searchParams;
  const flag = (name) => ['1', 'true', 'yes'].includes(q.get(name) ?? '');
  switch (`${req.method} ${url.pathname}`) {
    case 'POST /__admin/rotate': {
      keys = rotateKeys(keys, { retire: flag('retire') });
      if (opts.keys) saveKeys(opts.keys, keys);
      current = buildProvider(keys);
      const kid = signingKid(keys, settings.alg);
      log(`rotated keys; signing kid ${kid}`);
      return sendJson(res, 200, { rotated: true, signing_kid: kid, kids: keys.map((k) => k.kid) });
    }
    case 'POST /__admin/fault': {
      const target = q.get('target') ?? 'all';
      const status = Number(q.get('status') ?? 0);
      const delayMs = Number(q.get('delay_ms') ?? 0);
      if (status || delayMs) faults.set(target, { status, delayMs });
      else faults.delete(target);
      return sendJson(res, 200, { faults: Object.fromEntries(faults) });
    }
    case 'DELETE /__admin/fault':
      faults.clear();
      return sendJson(res, 200, { faults: {} });
    case 'GET /__admin/stats':
      return sendJson(res, 200, { ...stats });
    case 'DELETE /__admin/stats':
      for (const k of Object.keys(stats)) delete stats[k];
      return sendJson(res, 200, {});
    default:
      return sendJson(res, 404, { error: 'unknown_admin_route' });
  }
}

function buildProvider(signingKeys) {
  const provider = new Provider(issuer, buildConfig(signingKeys));
  provider.on('server_error', (_ctx, err) => log(`server_error: ${err?.stack ?? err}`));
  for (const event of ['authorization.error', 'grant.error', 'registration_create.error', 'discovery.error', 'jwks.error']) {
    provider.on(event, (_ctx, err) => log(`${event}: ${err?.error ?? ''} ${err?.error_description ?? err?.message ?? ''}`));
  }
  // Advertise the whole catalog in discovery (oidc-provider lists only its OIDC scopes).
  provider.use(async (ctx, next) => {
    await next();
    if (ctx.oidc?.route === 'discovery' && ctx.status === 200 && ctx.body) {
      ctx.body.scopes_supported = allScopes;
    }
  });
  return { provider, callback: provider.callback() };
}

function buildConfig(signingKeys) {
  const { resources } = settings;
  const oidcScopes = catalog.oidc_scopes;
  return {
    jwks: { keys: structuredClone(signingKeys) },
    cookies: { keys: cookieKeys },
    // Statics are the OIDC scopes only; resource scopes are governed by getResourceServerInfo,
    // so a client is never limited to the resource scopes it registered with (step-up works).
    scopes: oidcScopes,
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name'],
    },
    clients: [{
      client_id: settings.clientId,
      client_secret: settings.clientSecret,
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      scope: oidcScopes.join(' '),
    }],
    async findAccount(_ctx, sub) {
      return {
        accountId: sub,
        async claims() {
          return { sub, email: `${sub}@example.test`, email_verified: true, name: 'Test User' };
        },
      };
    },
    interactions: {
      url: (_ctx, interaction) => `${settings.issuerPath}/interaction/${interaction.uid}`,
    },
    // OAuth 2.1: code flow only (no implicit), PKCE for every authorization code flow.
    responseTypes: ['code'],
    pkce: { required: () => true },
    issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    // Registration metadata may carry resource scopes (the MCP SDK registers with the scope it
    // will request); keep only the statics so registration succeeds. A dummy extra property
    // turns on this pre-validation hook.
    extraClientMetadata: {
      properties: ['x_peer_test'],
      validator(_ctx, key, _value, metadata) {
        if (key !== 'x_peer_test' || typeof metadata.scope !== 'string') return;
        const kept = metadata.scope.split(' ').filter((s) => oidcScopes.includes(s));
        if (kept.length) metadata.scope = kept.join(' ');
        else delete metadata.scope;
      },
    },
    clientBasedCORS: () => true,
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      registration: { enabled: true },
      introspection: { enabled: true },
      revocation: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: async (_ctx, _client, oneOf) => oneOf ?? resources.find((r) => r !== '*'),
        useGrantedResource: async () => true,
        getResourceServerInfo,
      },
    },
    formats: { customizers: { jwt: customizeJwt } },
    ttl: {
      Session: 3600,
      Interaction: 600,
      Grant: 3600,
      AuthorizationCode: 60,
      RefreshToken: 86400,
      IdToken: 3600,
    },
  };
}

/** RFC 8707 resource indicator -> resource server: JWT access tokens with aud = the resource. */
async function getResourceServerInfo(ctx, indicator) {
  if (!settings.resources.includes(indicator) && !settings.resources.includes('*')) {
    throw new errors.InvalidTarget(`unknown resource ${indicator}`);
  }
  checkRequestedScope(ctx?.oidc?.params?.scope);
  return {
    scope: catalog.resource_scopes.join(' '),
    audience: indicator,
    accessTokenTTL: settings.accessTokenTtl,
    accessTokenFormat: 'jwt',
    jwt: { sign: { alg: settings.alg } },
  };
}

/**
 * Optional real-server strictness: reject unknown scopes (oidc-provider drops them silently)
 * and over-long scope parameters (hosted servers cap `scope` at 1-2 KB).
 */
function checkRequestedScope(scope) {
  if (typeof scope !== 'string') return;
  if (settings.maxScopeLength !== undefined && scope.length > settings.maxScopeLength) {
    throw new errors.InvalidRequest(`scope parameter longer than ${settings.maxScopeLength} characters`);
  }
  if (settings.strictScopes) {
    const unknown = scope.split(' ').filter((s) => s && !knownScopes.has(s));
    if (unknown.length) throw new errors.InvalidScope('requested scope is not recognised', unknown.join(' '));
  }
}

function customizeJwt(_ctx, _token, jwt) {
  if (settings.typ) jwt.header = { ...jwt.header, typ: settings.typ };
  if (settings.scopeClaim === 'scp') {
    jwt.payload.scp = jwt.payload.scope ? jwt.payload.scope.split(' ') : [];
    delete jwt.payload.scope;
  }
}

function loadKeysOrDie(path) {
  try {
    return loadOrCreateKeys(path);
  } catch (err) {
    return fatal(`cannot load keys: ${err.message}`);
  }
}

function sendJson(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}

function fatal(message) {
  log(message);
  process.exit(1);
}
