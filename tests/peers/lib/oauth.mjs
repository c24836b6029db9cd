// The browser side of the authorization-code flow, for the MCP SDK's OAuth client: an
// OAuthClientProvider that keeps everything in memory and, instead of opening a browser,
// records the authorize URL; and a follower that walks that URL through the authorization
// server's automatic login/consent (redirect: 'manual' plus a small cookie jar) until it lands
// on the redirect URI with a code.

import { randomBytes } from 'node:crypto';

/** In-memory OAuthClientProvider (SDK client/auth.js interface). */
export class AutoOAuthProvider {
  /**
   * @param {string} redirectUrl where the authorization server sends the code (never served)
   * @param {string|undefined} fallbackScope clientMetadata.scope, used by the SDK only when
   *   neither the challenge nor the PRM name a scope
   */
  constructor(redirectUrl, fallbackScope) {
    this.redirectUrlValue = redirectUrl;
    this.fallbackScope = fallbackScope;
    this.client = undefined;
    this.tokenSet = undefined;
    this.verifier = undefined;
    this.lastState = undefined;
    /** The authorize URL waiting to be followed, set by redirectToAuthorization. */
    this.pending = undefined;
    /** Every authorize URL the SDK asked us to open, in order. */
    this.authorizeUrls = [];
  }

  get redirectUrl() { return this.redirectUrlValue; }

  get clientMetadata() {
    return {
      client_name: 'mcp-warden peer client',
      redirect_uris: [this.redirectUrlValue],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
      ...(this.fallbackScope ? { scope: this.fallbackScope } : {}),
    };
  }

  state() {
    this.lastState = randomBytes(16).toString('base64url');
    return this.lastState;
  }

  clientInformation() { return this.client; }

  saveClientInformation(info) { this.client = info; }

  tokens() { return this.tokenSet; }

  saveTokens(tokens) { this.tokenSet = tokens; }

  redirectToAuthorization(url) {
    this.pending = new URL(url);
    this.authorizeUrls.push(this.pending.href);
  }

  saveCodeVerifier(verifier) { this.verifier = verifier; }

  codeVerifier() {
    if (!this.verifier) throw new Error('no code verifier saved');
    return this.verifier;
  }

  invalidateCredentials(scope) {
    if (scope === 'all' || scope === 'client') this.client = undefined;
    if (scope === 'all' || scope === 'tokens') this.tokenSet = undefined;
    if (scope === 'all' || scope === 'verifier') this.verifier = undefined;
  }
}

/** Cookies for one host: enough for oidc-provider's interaction and session cookies. */
export class CookieJar {
  constructor() { this.cookies = new Map(); } // `${name};${path}` -> { name, value, path }

  store(setCookies) {
    for (const line of setCookies) {
      const [pair, ...attrs] = line.split(';').map((s) => s.trim());
      const eq = pair.indexOf('=');
      if (eq <= 0) continue;
      const cookie = { name: pair.slice(0, eq), value: pair.slice(eq + 1), path: '/' };
      let expired = false;
      for (const attr of attrs) {
        const [k, v = ''] = attr.split('=');
        const key = k.toLowerCase();
        if (key === 'path' && v.startsWith('/')) cookie.path = v;
        if (key === 'max-age' && Number(v) <= 0) expired = true;
        if (key === 'expires' && Date.parse(v) <= Date.now()) expired = true;
      }
      const id = `${cookie.name};${cookie.path}`;
      if (expired) this.cookies.delete(id);
      else this.cookies.set(id, cookie);
    }
  }

  headerFor(url) {
    const { pathname } = new URL(url);
    const matches = [...this.cookies.values()].filter((c) => pathname === c.path
      || pathname.startsWith(c.path.endsWith('/') ? c.path : `${c.path}/`));
    return matches.map((c) => `${c.name}=${c.value}`).join('; ');
  }
}

/**
 * Follow `authorizeUrl` through redirects (at most `maxHops`) until one points at
 * `redirectUri`; return the `code` from it. Throws with the error (and its status) when the
 * authorization server answers with an error redirect or a non-redirect response.
 */
export async function followAuthorize(authorizeUrl, redirectUri, { expectedState, maxHops = 12 } = {}) {
  const jar = new CookieJar();
  let next = new URL(authorizeUrl);
  for (let hop = 0; hop < maxHops; hop += 1) {
    const cookie = jar.headerFor(next);
    const res = await fetch(next, { redirect: 'manual', headers: cookie ? { cookie } : {} });
    jar.store(res.headers.getSetCookie());
    const location = res.headers.get('location');
    if (res.status < 300 || res.status >= 400 || !location) {
      const body = (await res.text().catch(() => '')).slice(0, 500);
      throw Object.assign(new Error(`authorize flow stopped at ${next.href}: HTTP ${res.status} ${body}`), { status: res.status });
    }
    await res.body?.cancel();
    const target = new URL(location, next);
    if (`${target.origin}${target.pathname}` === redirectUri.replace(/\?.*$/, '')) {
      const params = target.searchParams;
      if (params.get('error')) {
        throw Object.assign(new Error(`authorization error: ${params.get('error')}: ${params.get('error_description') ?? ''}`), {
          oauthError: params.get('error'),
        });
      }
      if (expectedState !== undefined && params.get('state') !== expectedState) {
        throw new Error('authorization response state mismatch');
      }
      const code = params.get('code');
      if (!code) throw new Error(`redirect without code: ${target.href}`);
      return code;
    }
    next = target;
  }
  throw new Error(`authorize flow did not reach the redirect URI within ${maxHops} hops`);
}
