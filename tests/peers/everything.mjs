#!/usr/bin/env node
// Runs @modelcontextprotocol/server-everything in Streamable HTTP mode (endpoint /mcp, stateful,
// SSE responses) on loopback only, with a scrubbed environment, and prints one ready line.
//
// The upstream entry listens on all interfaces (`app.listen(PORT)`) and has a `get-env` tool that
// prints its whole environment, so before importing it this wrapper:
//  - wraps net.Server.prototype.listen to force host 127.0.0.1 (and refuses any other address),
//  - empties process.env except PORT (and GZIP_ALLOWED_DOMAINS=127.0.0.1, so the
//    gzip-file-as-resource tool, which fetches any URL by default, can only fetch loopback),
//  - sends the server's console.log chatter to stderr (stdout carries only the ready line).

import net from 'node:net';

import { emit, exitOnSignals, log, parseCli, parsePort } from './lib/cli.mjs';

const HOST = '127.0.0.1';

const opts = parseCli({ port: { type: 'string' } }, 'EVERYTHING');
const port = parsePort(opts.port);

// Keep stdout for our JSON line only.
console.log = (...args) => console.error(...args);
console.info = console.log;

// Minimal environment: the get-env tool must show nothing from the test machine.
for (const key of Object.keys(process.env)) delete process.env[key];
process.env.PORT = String(port);
process.env.GZIP_ALLOWED_DOMAINS = HOST;

let mainServer;
const originalListen = net.Server.prototype.listen;
net.Server.prototype.listen = function listenOnLoopback(...args) {
  forceLoopback(args);
  if (!mainServer) {
    mainServer = this;
    this.once('listening', () => {
      const addr = this.address();
      if (!addr || typeof addr === 'string' || addr.address !== HOST) {
        log(`refusing to run: listening on ${JSON.stringify(addr)}, not ${HOST}`);
        process.exit(1);
      }
      emit({ ready: true, port: addr.port, url: `http://${HOST}:${addr.port}/mcp` });
    });
  }
  return originalListen.apply(this, args);
};

/** Rewrite listen() arguments in place so the socket binds to HOST. */
function forceLoopback(args) {
  const [first] = args;
  if (first !== null && typeof first === 'object' && !Array.isArray(first)) {
    if ('path' in first) throw new Error('unix socket listen not expected');
    args[0] = { ...first, host: HOST };
    return;
  }
  const isPort = typeof first === 'number' || (typeof first === 'string' && /^\d+$/.test(first));
  if (first === undefined || typeof first === 'function') {
    args.unshift(0, HOST);
  } else if (isPort) {
    if (typeof args[1] === 'string') args[1] = HOST;
    else args.splice(1, 0, HOST);
  } else {
    throw new Error(`unexpected listen() arguments: ${JSON.stringify(first)}`);
  }
}

exitOnSignals(() => new Promise((resolve) => {
  if (!mainServer) return resolve();
  mainServer.close(resolve);
  mainServer.closeAllConnections?.();
  return undefined;
}));

await import('@modelcontextprotocol/server-everything/dist/transports/streamableHttp.js');
