// Self-test of the peer harness (no gateway involved): `node --test tests/peers/selftest.mjs`.
// Spawns the real peers on loopback port 0, checks their ready lines, tokens and discovery URLs,
// and runs client.mjs (both token and --oauth modes). Every child is killed at the end; every
// wait is bounded.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const children = new Set();
const scratch = mkdtempSync(join(tmpdir(), 'peers-selftest-'));

after(async () => {
  await Promise.all([...children].map(stop));
  rmSync(scratch, { recursive: true, force: true });
});

/** Start a peer script and resolve with its ready line (bounded wait). */
function startPeer(script, args = [], timeoutMs = 15000) {
  const proc = spawn(process.execPath, [join(here, script), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(proc);
  let stderr = '';
  proc.stderr.on('data', (d) => { stderr += d; });
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`${script} not ready in ${timeoutMs} ms: ${stderr}`)), timeoutMs);
    proc.stdout.on('data', (d) => {
      out += d;
      const nl = out.indexOf('\n');
      if (nl >= 0) {
        clearTimeout(timer);
        resolve({ proc, info: JSON.parse(out.slice(0, nl)) });
      }
    });
    proc.on('exit', (code) => reject(new Error(`${script} exited ${code}: ${stderr}`)));
  });
}

function stop(proc) {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve(proc.exitCode);
  return new Promise((resolve) => {
    const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
    proc.once('exit', (code) => { clearTimeout(timer); children.delete(proc); resolve(code); });
    proc.kill('SIGTERM');
  });
}

/** Run client.mjs to completion; resolve with its exit code and parsed JSON line. */
function runClient(args, timeoutMs = 30000) {
  const proc = spawn(process.execPath, [join(here, 'client.mjs'), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(proc);
  let out = '';
  let err = '';
  proc.stdout.on('data', (d) => { out += d; });
  proc.stderr.on('data', (d) => { err += d; });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { proc.kill('SIGKILL'); reject(new Error(`client timed out: ${err}`)); }, timeoutMs);
    proc.on('exit', (code) => {
      clearTimeout(timer);
      children.delete(proc);
      try {
        resolve({ code, result: JSON.parse(out.trim().split('\n')[0]), stderr: err });
      } catch {
        reject(new Error(`client printed no JSON (exit ${code}): ${out} ${err}`));
      }
    });
  });
}

test('client_credentials token reaches server-everything with the expected claims', async () => {
  const ev = await startPeer('everything.mjs');
  assert.match(ev.info.url, /^http:\/\/127\.0\.0\.1:\d+\/mcp$/);
  const az = await startPeer('authz.mjs', ['--resource', ev.info.url]);
  const { code, result } = await runClient([
    '--url', ev.info.url, '--token-url', az.info.token_endpoint, '--resource', ev.info.url,
    '--scope', 'openid project:databases.read project:all not:a.scope',
  ]);
  assert.equal(code, 0, JSON.stringify(result));
  assert.equal(result.ok, true);
  assert.ok(result.tools.includes('echo'));
  assert.equal(result.echo, 'Echo: hi');
  assert.equal(result.session_terminated, true);
  assert.deepEqual(result.token_header, { alg: 'RS256', typ: 'at+jwt', kid: az.info.signing_kid });
  const claims = result.token_claims;
  assert.equal(claims.aud, ev.info.url);
  assert.equal(claims.iss, az.info.issuer);
  assert.equal(claims.client_id, 'warden-test');
  // Unknown and OIDC scopes are dropped silently from a resource token.
  assert.equal(claims.scope, 'project:databases.read project:all');
  await stop(az.proc);
  await stop(ev.proc);
});

test('server-everything is on loopback with a scrubbed environment', async () => {
  const ev = await startPeer('everything.mjs');
  const { result } = await runClient(['--url', ev.info.url, '--no-token', '--tool', 'get-env', '--tool-args', '{}']);
  assert.equal(result.ok, true);
  assert.deepEqual(Object.keys(JSON.parse(result.tool_text)).sort(), ['GZIP_ALLOWED_DOMAINS', 'PORT']);
  await stop(ev.proc);
});

test('issuer with a path serves all four discovery forms, and only those', async () => {
  const az = await startPeer('authz.mjs', ['--issuer-path', '/v1/oauth2/console']);
  const base = `http://127.0.0.1:${az.info.port}`;
  assert.equal(az.info.issuer, `${base}/v1/oauth2/console`);
  for (const path of [
    '/.well-known/oauth-authorization-server/v1/oauth2/console',
    '/.well-known/openid-configuration/v1/oauth2/console',
    '/v1/oauth2/console/.well-known/openid-configuration',
    '/v1/oauth2/console/.well-known/oauth-authorization-server',
  ]) {
    const res = await fetch(base + path);
    assert.equal(res.status, 200, path);
    const doc = await res.json();
    assert.equal(doc.issuer, az.info.issuer, path);
    assert.equal(doc.jwks_uri, az.info.jwks_uri, path);
    assert.ok(doc.scopes_supported.includes('project:databases.read'));
  }
  for (const path of ['/.well-known/oauth-authorization-server', '/.well-known/openid-configuration', '/jwks']) {
    assert.equal((await fetch(base + path)).status, 404, path);
  }
  await stop(az.proc);

  const only = await startPeer('authz.mjs', ['--issuer-path', '/t1', '--well-known', 'oidc-append']);
  const b2 = `http://127.0.0.1:${only.info.port}`;
  assert.equal((await fetch(`${b2}/.well-known/oauth-authorization-server/t1`)).status, 404);
  assert.equal((await fetch(`${b2}/t1/.well-known/openid-configuration`)).status, 200);
  await stop(only.proc);
});

test('keys persist across restarts and rotate on demand', async () => {
  const keys = join(scratch, 'keys.json');
  const first = await startPeer('authz.mjs', ['--keys', keys]);
  const kid = first.info.signing_kid;
  const rotated = await (await fetch(`${first.info.admin}/rotate`, { method: 'POST' })).json();
  assert.notEqual(rotated.signing_kid, kid);
  const published = (await (await fetch(first.info.jwks_uri)).json()).keys;
  assert.deepEqual(published.map((k) => k.kid), rotated.kids);
  assert.ok(published.every((k) => k.d === undefined), 'JWKS must not leak private parts');
  assert.equal(await stop(first.proc), 0);

  const second = await startPeer('authz.mjs', ['--keys', keys]);
  assert.equal(second.info.signing_kid, rotated.signing_kid);
  assert.equal(JSON.parse(readFileSync(keys, 'utf8')).keys.length, 4);
  await stop(second.proc);
});

test('--oauth runs discovery, registration, authorize and token against a stand-in resource server', async () => {
  const ev = await startPeer('everything.mjs');
  const az = await startPeer('authz.mjs', ['--issuer-path', '/oauth', '--resource', '*']);
  const rs = await standInResourceServer(az.info.issuer, ev.info.url);
  try {
    const { code, result } = await runClient(['--url', rs.url, '--oauth']);
    assert.equal(code, 0, JSON.stringify(result));
    assert.equal(result.echo, 'Echo: hi');
    assert.equal(result.scope, 'project:all');
    assert.equal(result.token_claims.aud, rs.url);
    assert.equal(result.token_claims.sub, 'test-user');
    assert.equal(result.refresh_token_issued, true);
    assert.equal(result.challenges[0].status, 401);
  } finally {
    await new Promise((resolve) => { rs.server.close(resolve); rs.server.closeAllConnections(); });
    await stop(az.proc);
    await stop(ev.proc);
  }
});

/**
 * The smallest resource server that makes the SDK start its OAuth flow: PRM + 401 challenge,
 * then a forward to server-everything. It does not verify tokens (that is the gateway's job).
 */
function standInResourceServer(issuer, upstream) {
  const up = new URL(upstream);
  const server = http.createServer(async (req, res) => {
    const base = `http://127.0.0.1:${server.address().port}`;
    if (req.url.startsWith('/.well-known/oauth-protected-resource')) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ resource: `${base}/mcp`, authorization_servers: [issuer], scopes_supported: ['project:all'] }));
      return;
    }
    if (!req.headers.authorization?.startsWith('Bearer ')) {
      res.writeHead(401, { 'www-authenticate': `Bearer resource_metadata="${base}/.well-known/oauth-protected-resource/mcp"` });
      res.end();
      return;
    }
    const headers = { ...req.headers, host: up.host };
    delete headers.authorization;
    const fwd = http.request({ host: up.hostname, port: up.port, path: up.pathname, method: req.method, headers }, (ur) => {
      res.writeHead(ur.statusCode, ur.headers);
      ur.pipe(res);
    });
    fwd.on('error', () => { res.writeHead(502); res.end(); });
    req.pipe(fwd);
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => resolve({ server, url: `http://127.0.0.1:${server.address().port}/mcp` }));
  });
}
