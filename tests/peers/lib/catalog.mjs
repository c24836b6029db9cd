// The scope catalog the authorization server knows about.
//
// The default is shaped like a reworked cloud scope model: the OIDC scopes, three umbrella scopes
// and 120 fine-grained scopes (30 services x read/write x project/organization level). A catalog
// file can replace it.

import { readFileSync } from 'node:fs';

/** Scopes oidc-provider treats as OpenID Connect scopes (they never reach a resource token). */
export const OIDC_SCOPES = ['openid', 'profile', 'email', 'offline_access'];

const KNOWN_OIDC = new Set([...OIDC_SCOPES, 'address', 'phone']);

export const UMBRELLA_SCOPES = ['all', 'project:all', 'organization:all'];

export const SERVICES = [
  'databases', 'storage', 'functions', 'auth', 'logs', 'metrics', 'backups', 'secrets',
  'networking', 'domains', 'certificates', 'deployments', 'builds', 'branches', 'edge',
  'queues', 'cron', 'webhooks', 'realtime', 'search', 'vectors', 'analytics', 'billing',
  'members', 'roles', 'api_keys', 'audit', 'integrations', 'settings', 'usage',
];

/** The built-in catalog: `{ oidc_scopes, resource_scopes }`. */
export function defaultCatalog() {
  const fine = [];
  for (const level of ['project', 'organization']) {
    for (const service of SERVICES) {
      fine.push(`${level}:${service}.read`, `${level}:${service}.write`);
    }
  }
  return { oidc_scopes: [...OIDC_SCOPES], resource_scopes: [...UMBRELLA_SCOPES, ...fine] };
}

// RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/;

/**
 * Load a catalog file. Accepted shapes:
 *  - `{ "oidc_scopes": [...], "resource_scopes": [...] }`
 *  - `[ "openid", "project:all", ... ]` (OIDC scopes are recognised by name)
 *  - `{ "scopes": [...] }` (same as the array form)
 * Throws if the file cannot be read or parsed, or holds an invalid scope token.
 */
export function loadCatalog(path) {
  const raw = JSON.parse(readFileSync(path, 'utf8'));
  const list = Array.isArray(raw) ? raw : raw.scopes;
  let catalog;
  if (Array.isArray(list)) {
    catalog = {
      oidc_scopes: list.filter((s) => KNOWN_OIDC.has(s)),
      resource_scopes: list.filter((s) => !KNOWN_OIDC.has(s)),
    };
  } else {
    catalog = { oidc_scopes: raw.oidc_scopes ?? [], resource_scopes: raw.resource_scopes ?? [] };
  }
  for (const scope of [...catalog.oidc_scopes, ...catalog.resource_scopes]) {
    if (typeof scope !== 'string' || !SCOPE_TOKEN.test(scope)) {
      throw new Error(`catalog ${path}: invalid scope token ${JSON.stringify(scope)}`);
    }
  }
  // oidc-provider always needs openid for its OIDC machinery.
  if (!catalog.oidc_scopes.includes('openid')) catalog.oidc_scopes.unshift('openid');
  return catalog;
}
