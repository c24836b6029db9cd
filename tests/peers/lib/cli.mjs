// Small helpers shared by the peer scripts: argument parsing with environment fallbacks,
// the one machine-readable stdout line, and logging to stderr.
//
// stdout is reserved for JSON lines that a Rust test parses; everything human goes to stderr.

import { parseArgs } from 'node:util';

/**
 * Parse `argv` against `options` (node:util parseArgs format). An option `--foo-bar` that is not
 * on the command line falls back to the environment variable `<PREFIX>_FOO_BAR`; for `multiple`
 * options the variable holds a comma list. Exits with status 2 on a usage error.
 */
export function parseCli(options, envPrefix, argv = process.argv.slice(2)) {
  let values;
  try {
    ({ values } = parseArgs({ args: argv, options, strict: true, allowPositionals: false }));
  } catch (err) {
    log(`usage error: ${err.message}`);
    process.exit(2);
  }
  for (const [name, spec] of Object.entries(options)) {
    if (values[name] !== undefined) continue;
    const envName = `${envPrefix}_${name.toUpperCase().replaceAll('-', '_')}`;
    const raw = process.env[envName];
    if (raw === undefined || raw === '') continue;
    if (spec.type === 'boolean') values[name] = !['0', 'false', 'no'].includes(raw.toLowerCase());
    else if (spec.multiple) values[name] = raw.split(',').map((s) => s.trim()).filter(Boolean);
    else values[name] = raw;
  }
  return values;
}

/** Split repeatable, possibly comma-separated values into one flat list. */
export function flatList(values) {
  return (values ?? []).flatMap((v) => v.split(',')).map((s) => s.trim()).filter(Boolean);
}

/** Parse a port argument; `0` (the default) asks the OS for a free port. */
export function parsePort(raw) {
  const port = Number(raw ?? 0);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    log(`invalid port: ${raw}`);
    process.exit(2);
  }
  return port;
}

/** Print one JSON object as a single stdout line. */
export function emit(obj) {
  process.stdout.write(`${JSON.stringify(obj)}\n`);
}

/** Log a line to stderr, prefixed with the script name. */
export function log(...parts) {
  const name = process.argv[1]?.split('/').pop() ?? 'peer';
  process.stderr.write(`[${name}] ${parts.join(' ')}\n`);
}

/**
 * Exit cleanly on SIGTERM / SIGINT: run `close` (bounded by `graceMs`), then exit 0.
 */
export function exitOnSignals(close, graceMs = 2000) {
  let closing = false;
  const handler = (sig) => {
    if (closing) return;
    closing = true;
    log(`received ${sig}, shutting down`);
    const timer = setTimeout(() => process.exit(0), graceMs);
    timer.unref();
    Promise.resolve()
      .then(close)
      .catch((err) => log(`error during shutdown: ${err?.message ?? err}`))
      .finally(() => process.exit(0));
  };
  process.on('SIGTERM', handler);
  process.on('SIGINT', handler);
}
