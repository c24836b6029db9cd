// Signing keys for the authorization server: generated with node:crypto, optionally persisted
// as a private JWKS file so a restarted server keeps (and publishes) the same keys.
//
// Order matters: oidc-provider signs with the first key that fits the algorithm, so the newest
// key is kept first and older keys stay published (for tokens still in flight) until retired.

import { createHash, generateKeyPairSync } from 'node:crypto';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';

/** RFC 7638 JWK thumbprint (SHA-256, base64url), used as the `kid`. */
export function thumbprint(jwk) {
  const members = jwk.kty === 'RSA'
    ? { e: jwk.e, kty: jwk.kty, n: jwk.n }
    : { crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y };
  return createHash('sha256').update(JSON.stringify(members)).digest('base64url');
}

/** Generate one private signing JWK for `alg` (RS256 or ES256). */
export function generateKey(alg) {
  const { privateKey } = alg === 'ES256'
    ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
    : generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = privateKey.export({ format: 'jwk' });
  return { ...jwk, kid: thumbprint(jwk), alg, use: 'sig' };
}

/** A fresh key set: one RS256 and one ES256 key. */
export function generateKeySet() {
  return [generateKey('RS256'), generateKey('ES256')];
}

/** Write the private JWKS atomically (temp file + rename), readable by the owner only. */
export function saveKeys(path, keys) {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, `${JSON.stringify({ keys }, null, 2)}\n`, { mode: 0o600 });
  renameSync(tmp, path);
}

/**
 * Load the private JWKS from `path`, creating it with a fresh key set when absent.
 * Without a path the keys live in memory only. Throws if the file exists but is not a JWKS.
 */
export function loadOrCreateKeys(path) {
  if (path && existsSync(path)) {
    const { keys } = JSON.parse(readFileSync(path, 'utf8'));
    if (!Array.isArray(keys) || keys.length === 0) throw new Error(`${path}: no "keys" array`);
    return { keys, created: false };
  }
  const keys = generateKeySet();
  if (path) saveKeys(path, keys);
  return { keys, created: true };
}

/**
 * Rotate: put a new key for each algorithm in front. With `retire`, old keys are dropped from
 * the published set (tokens they signed no longer verify); otherwise they stay published.
 */
export function rotateKeys(keys, { retire = false } = {}) {
  const fresh = generateKeySet();
  return retire ? fresh : [...fresh, ...keys];
}

/** The kid that signs access tokens for `alg` (the first matching key). */
export function signingKid(keys, alg) {
  return keys.find((k) => k.alg === alg)?.kid;
}
