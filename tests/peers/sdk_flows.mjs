#!/usr/bin/env node
// Two more real MCP SDK client flows for mcp-warden's end-to-end tests (client.mjs covers the
// plain ones). Prints exactly one JSON line, like every peer script; exit 0 on success.
//
//   --flow client-credentials --url URL [--client-id ID] [--client-secret S] [--scope "a b"]
//       The SDK's own ClientCredentialsProvider (client/auth-extensions) as the transport's
//       authProvider: the first request goes out without a token, the SDK reads the 401's
//       resource_metadata, fetches the PRM, discovers the authorization server and asks its token
//       endpoint for a client_credentials token with `resource` = the PRM's resource (verbatim) and
//       `scope` = clientMetadata.scope (it ignores the challenge's and the PRM's scopes). Then
//       tools/list, one tools/call (--tool, --tool-args; default echo), DELETE if stateful.
//
//   --flow session --url URL --token JWT [--duration S] [--steps N]
//       Sessions and streams against server-everything: initialize (Mcp-Session-Id), the SDK's
//       standalone GET SSE stream (opened after notifications/initialized), a server notification
//       on that stream (toggle-simulated-logging sends a log message at once, then every 5 s; it
//       is toggled off again), trigger-long-running-operation with a progress token (progress
//       notifications on the POST's SSE response, each timed), then DELETE and one more request
//       with the old session id.
//
// Every HTTP exchange with --url is recorded (method, status, content type, the session id sent
// and received, milliseconds since start) and returned as `exchanges`.

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { ClientCredentialsProvider } from '@modelcontextprotocol/sdk/client/auth-extensions.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { LoggingMessageNotificationSchema } from '@modelcontextprotocol/sdk/types.js';

import { emit, log, parseCli } from './lib/cli.mjs';

const opts = parseCli({
  flow: { type: 'string' },
  url: { type: 'string' },
  token: { type: 'string' },
  'client-id': { type: 'string' },
  'client-secret': { type: 'string' },
  scope: { type: 'string' },
  tool: { type: 'string' },
  'tool-args': { type: 'string' },
  duration: { type: 'string' },
  steps: { type: 'string' },
  'timeout-ms': { type: 'string' },
}, 'SDK_FLOWS');

const started = performance.now();
const now = () => Math.round(performance.now() - started);
const exchanges = [];
const tokenRequests = [];
/** Messages seen on the standalone GET SSE stream: [{at_ms, method}]. */
const getStreamEvents = [];

const timeoutMs = Number(opts['timeout-ms'] ?? 25000);
setTimeout(() => fail(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs).unref();

try {
  if (!opts.url) throw new Error('--url is required');
  let result;
  if (opts.flow === 'client-credentials') result = await clientCredentialsFlow();
  else if (opts.flow === 'session') result = await sessionFlow();
  else throw new Error('--flow must be client-credentials or session');
  emit({ ok: true, ...result, exchanges, token_requests: tokenRequests });
  process.exit(0);
} catch (err) {
  fail(err);
}

async function clientCredentialsFlow() {
  const provider = new ClientCredentialsProvider({
    clientId: opts['client-id'] ?? 'warden-test',
    clientSecret: opts['client-secret'] ?? 'warden-secret',
    scope: opts.scope,
  });
  const transport = new StreamableHTTPClientTransport(new URL(opts.url), {
    authProvider: provider,
    fetch: recordingFetch,
  });
  const client = newClient();
  await client.connect(transport);
  const { tools } = await client.listTools();
  const toolName = opts.tool ?? 'echo';
  const called = await client.callTool({ name: toolName, arguments: JSON.parse(opts['tool-args'] ?? '{"message":"hi"}') });
  if (called.isError) throw new Error(`tool ${toolName} failed: ${JSON.stringify(called.content)}`);
  const sessionId = transport.sessionId ?? null;
  let terminated = null;
  if (sessionId) {
    await transport.terminateSession();
    terminated = true;
  }
  await client.close();
  const token = provider.tokens()?.access_token;
  return {
    tools: tools.map((t) => t.name),
    tool_text: called.content?.find((c) => c.type === 'text')?.text ?? null,
    server_info: client.getServerVersion() ?? null,
    session_id: sessionId,
    session_terminated: terminated,
    token_claims: token ? decodeJwt(token) : null,
  };
}

async function sessionFlow() {
  if (!opts.token) throw new Error('--token is required');
  const duration = Number(opts.duration ?? 3);
  const steps = Number(opts.steps ?? 3);
  const headers = { Authorization: `Bearer ${opts.token}` };
  const transport = new StreamableHTTPClientTransport(new URL(opts.url), {
    requestInit: { headers },
    fetch: recordingFetch,
  });
  const client = newClient();
  const logs = [];
  client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => {
    logs.push({ at_ms: now(), level: n.params.level, data: n.params.data });
  });
  await client.connect(transport);
  const sessionId = transport.sessionId ?? null;

  // The SDK opens the GET stream in the background after notifications/initialized.
  const get = await waitFor(() => exchanges.find((e) => e.method === 'GET'), 5000);

  // A server-initiated notification with no related request travels on the GET stream.
  const toggledAt = now();
  await client.callTool({ name: 'toggle-simulated-logging', arguments: {} });
  await waitFor(() => logs[0], 4000).catch(() => undefined);
  await client.callTool({ name: 'toggle-simulated-logging', arguments: {} });

  const progress = [];
  const callStarted = now();
  const result = await client.callTool(
    { name: 'trigger-long-running-operation', arguments: { duration, steps } },
    undefined,
    {
      timeout: (duration + 10) * 1000,
      onprogress: (p) => progress.push({ at_ms: now(), progress: p.progress, total: p.total ?? null }),
    },
  );
  const callEnded = now();

  await transport.terminateSession();
  const deleteExchange = exchanges.findLast((e) => e.method === 'DELETE') ?? null;

  // The old session id once more, as a raw request: the upstream must have forgotten it.
  const after = await fetch(opts.url, {
    method: 'POST',
    headers: {
      ...headers,
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-session-id': sessionId ?? '',
      'mcp-protocol-version': transport.protocolVersion ?? '2025-11-25',
    },
    body: JSON.stringify({ jsonrpc: '2.0', id: 99, method: 'tools/list', params: {} }),
  });
  await after.text().catch(() => '');
  await client.close();

  return {
    session_id: sessionId,
    protocol_version: transport.protocolVersion ?? null,
    get_stream: get,
    logging_toggled_at_ms: toggledAt,
    logs,
    get_stream_events: getStreamEvents,
    call_started_ms: callStarted,
    call_ended_ms: callEnded,
    progress,
    tool_text: result.content?.find((c) => c.type === 'text')?.text ?? null,
    delete: deleteExchange,
    after_delete_status: after.status,
  };
}

function newClient() {
  return new Client({ name: 'mcp-warden-sdk-flows', version: '0.0.0' }, { capabilities: {} });
}

/** fetch that records every exchange with the MCP URL (and token endpoint calls). */
async function recordingFetch(input, init) {
  const url = String(input instanceof Request ? input.url : input);
  const method = init?.method ?? 'GET';
  const sent = new Headers(init?.headers ?? {});
  let res = await fetch(input, init);
  if (url === opts.url && method === 'GET' && res.ok && res.body) res = tapEvents(res, getStreamEvents);
  const entry = {
    method,
    status: res.status,
    content_type: res.headers.get('content-type'),
    session_id_sent: sent.get('mcp-session-id'),
    session_id_received: res.headers.get('mcp-session-id'),
    www_authenticate: res.headers.get('www-authenticate'),
    at_ms: now(),
  };
  if (url === opts.url) {
    exchanges.push(entry);
  } else if (method === 'POST' && (init?.body instanceof URLSearchParams || typeof init?.body === 'string')) {
    const params = Object.fromEntries(new URLSearchParams(String(init.body)));
    if (params.grant_type) {
      delete params.client_secret;
      tokenRequests.push({ url, status: res.status, params });
    }
  }
  return res;
}

/** Pass an SSE body through unchanged, noting the JSON-RPC method of each `data:` line. */
function tapEvents(res, into) {
  const decoder = new TextDecoder();
  let buffer = '';
  const tap = new TransformStream({
    transform(chunk, controller) {
      buffer += decoder.decode(chunk, { stream: true });
      let i;
      while ((i = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, i).replace(/\r$/, '');
        buffer = buffer.slice(i + 1);
        if (line.startsWith('data:')) {
          try {
            into.push({ at_ms: now(), method: JSON.parse(line.slice(5)).method ?? null });
          } catch {
            // not JSON (e.g. a priming event): ignore
          }
        }
      }
      controller.enqueue(chunk);
    },
  });
  return new Response(res.body.pipeThrough(tap), { status: res.status, statusText: res.statusText, headers: res.headers });
}

async function waitFor(check, ms) {
  const deadline = performance.now() + ms;
  for (;;) {
    const v = check();
    if (v) return v;
    if (performance.now() > deadline) throw new Error(`condition not met within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function decodeJwt(token) {
  const parts = String(token).split('.');
  if (parts.length !== 3) return null;
  try {
    return JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
  } catch {
    return null;
  }
}

function fail(err) {
  emit({
    ok: false,
    error: String(err?.message ?? err) + (err?.cause ? `: ${err.cause.message ?? err.cause}` : ''),
    status: typeof err?.code === 'number' ? err.code : null,
    exchanges,
    token_requests: tokenRequests,
  });
  log(err?.stack ?? String(err));
  process.exit(1);
}
