#!/usr/bin/env python3
"""mcp-warden benchmark orchestrator (issue 9). Started by bench/run.sh, which
builds everything first; standard library only.

Everything runs on 127.0.0.1, each load is bounded in time, and every process
started here is stopped here (by its own pid).

    bench.py [--quick] [--rounds N] [--duration S] [--only 1,2,...] [--out FILE]
"""

import argparse
import asyncio
import base64
import http.client
import itertools
import json
import os
import platform
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
# run.sh copies the freshly built binary here, so that a concurrent rebuild
# of target/release cannot change it in the middle of a run.
WARDEN = os.environ.get("BENCH_WARDEN") or os.path.join(HERE, "target", "bin", "mcp-warden")
HELPERS = os.path.join(HERE, "target", "release")
HYPER = os.path.join(HELPERS, "hyper-upstream")
BARE = os.path.join(HELPERS, "bare-proxy")
LUA = os.path.join(HERE, "lua", "bench.lua")
PYPEER = os.path.join(ROOT, "tests", "peers", "pyserver.py")
CURATED = ["openid", "profile", "email", "all", "project:all", "organization:all"]
ECHO_BODY = '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"message":"hello"}}}'

COMMANDS = []  # exact commands, for RESULTS.md
PROCS = []  # every process started here


def log(*a):
    print(time.strftime("%H:%M:%S"), *a, file=sys.stderr, flush=True)


def note_command(cmd, env=None):
    shown = " ".join(cmd)
    if env:
        shown = " ".join(f"{k}={v}" for k, v in env.items()) + " " + shown
    shown = re.sub(r"eyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+", "$TOKEN", shown)
    shown = re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", shown)
    shown = re.sub(r"/tmp/[\w.\-/]+", "/tmp/…", shown)
    if shown not in COMMANDS:
        COMMANDS.append(shown)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------- processes


class Proc:
    """A child process whose stdout/stderr go to files."""

    def __init__(self, name, cmd, env=None, cwd=None):
        self.name = name
        self.dir = tempfile.mkdtemp(prefix=f"bench-{name}-")
        self.out_path = os.path.join(self.dir, "stdout")
        self.err_path = os.path.join(self.dir, "stderr")
        full_env = dict(os.environ)
        full_env.update(env or {})
        note_command(cmd)
        self.t0 = time.perf_counter()
        self.p = subprocess.Popen(
            cmd,
            stdout=open(self.out_path, "wb"),
            stderr=open(self.err_path, "wb"),
            stdin=subprocess.DEVNULL,
            env=full_env,
            cwd=cwd,
        )
        PROCS.append(self)

    @property
    def pid(self):
        return self.p.pid

    def stdout(self):
        with open(self.out_path, "r", errors="replace") as f:
            return f.read()

    def stderr(self):
        with open(self.err_path, "r", errors="replace") as f:
            return f.read()

    def wait_stdout(self, pattern, timeout=30.0):
        deadline = time.time() + timeout
        while time.time() < deadline:
            m = re.search(pattern, self.stdout(), re.S)
            if m:
                return m
            if self.p.poll() is not None:
                break
            time.sleep(0.02)
        raise RuntimeError(
            f"{self.name}: no {pattern!r} in output (exit {self.p.poll()}):\n{self.stdout()[-2000:]}\n{self.stderr()[-2000:]}"
        )

    def rss_kib(self):
        return rss_kib(self.pid)

    def stop(self, sig=signal.SIGTERM, timeout=10):
        if self.p.poll() is None:
            try:
                os.kill(self.pid, sig)
                self.p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self.p.wait()
            except ProcessLookupError:
                pass
        if self in PROCS:
            PROCS.remove(self)
        shutil.rmtree(self.dir, ignore_errors=True)


def stop_all():
    for p in list(PROCS):
        try:
            p.stop(timeout=5)
        except Exception:
            pass


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def proc_status(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return line.split(":", 1)[1].strip()
    return ""


class RssSampler:
    """Samples a process's VmRSS every `every` seconds in a thread; `.max`."""

    def __init__(self, pid, every=0.25):
        self.pid, self.every, self.max, self.samples = pid, every, 0, []
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self):
        while not self._stop.is_set():
            try:
                v = rss_kib(self.pid)
            except OSError:
                break
            self.samples.append(v)
            self.max = max(self.max, v)
            self._stop.wait(self.every)

    def stop(self):
        self._stop.set()
        self._t.join()
        return self.max


# ---------------------------------------------------------------- HTTP bits


def req(method, url, body=None, headers=None, timeout=5.0):
    u = urllib.parse.urlsplit(url)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    try:
        path = u.path + (("?" + u.query) if u.query else "")
        c.request(method, path or "/", body=body, headers=headers or {})
        r = c.getresponse()
        return r.status, dict(r.getheaders()), r.read()
    finally:
        c.close()


def wait_http(url, status=200, timeout=30.0):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            s, _, b = req("GET", url, timeout=2)
            if s == status:
                return b
            last = f"status {s}: {b[:200]!r}"
        except OSError as e:
            last = str(e)
        time.sleep(0.02)
    raise RuntimeError(f"{url} never answered {status}: {last}")


# ---------------------------------------------------------------- peers


class DemoAS:
    """`mcp-warden demo --port 0`: used here for its authorization server (and
    its MCP upstream for the SSE rows); its own gateway stays idle."""

    def __init__(self):
        self.proc = Proc("demo", [WARDEN, "demo", "--port", "0"])
        m = self.proc.wait_stdout(
            r"authorization server\s+(http://127\.0\.0\.1:(\d+))\s+\(\d+ scopes; client (\S+) / (\S+)\)"
        )
        self.issuer, self.port, self.client_id, self.secret = m.group(1), int(m.group(2)), m.group(3), m.group(4)
        self.upstream = self.proc.wait_stdout(r"MCP upstream\s+(\S+)").group(1)
        doc = json.loads(wait_http(self.issuer + "/.well-known/oauth-authorization-server"))
        self.token_endpoint = doc["token_endpoint"]

    def token(self, resource, scope="all project:all"):
        form = urllib.parse.urlencode(
            {"grant_type": "client_credentials", "resource": resource, "scope": scope}
        ).encode()
        basic = base64.b64encode(f"{self.client_id}:{self.secret}".encode()).decode()
        s, _, b = req(
            "POST",
            self.token_endpoint,
            body=form,
            headers={"authorization": "Basic " + basic, "content-type": "application/x-www-form-urlencoded"},
        )
        if s != 200:
            raise RuntimeError(f"token endpoint: {s} {b[:300]!r}")
        return json.loads(b)["access_token"]

    def stop(self):
        self.proc.stop()


def start_hyper():
    p = Proc("hyper", [HYPER, "--port", "0"])
    port = int(p.wait_stdout(r'\{"port":(\d+)\}').group(1))
    p.url = f"http://127.0.0.1:{port}/mcp"
    return p


def start_bare(upstream):
    p = Proc("bare", [BARE, "--upstream", upstream, "--port", "0"])
    port = int(p.wait_stdout(r'\{"port":(\d+)\}').group(1))
    p.url = f"http://127.0.0.1:{port}/mcp"
    return p


def python_peer():
    """The interpreter of the Python MCP peer, or None when `mcp` is missing."""
    for py in (
        os.environ.get("BENCH_PYTHON", ""),
        os.path.join(ROOT, "tests", "peers", ".venv", "bin", "python"),
        os.path.join(HERE, ".venv", "bin", "python"),
    ):
        if py and os.path.exists(py) and os.path.exists(PYPEER):
            r = subprocess.run([py, "-c", "import mcp.server.mcpserver, uvicorn"], capture_output=True)
            if r.returncode == 0:
                return py
    return None


def start_pyserver(py):
    p = Proc("pyserver", [py, PYPEER, "--port", "0", "--stateless"])
    p.url = json.loads(p.wait_stdout(r"(\{.*\"ready\".*\})").group(1))["url"]
    return p


def warden_config(public, admin, issuer, upstream, cache=None, level="info", override=None, resources=None):
    cache = cache or {}
    cache_lines = "\n".join(f'{k} = "{v}"' for k, v in cache.items())
    ov = json.dumps(override or [])
    res = resources or [("bench", "/mcp", upstream)]
    blocks = []
    for name, path, up in res:
        blocks.append(
            f"""
[[resource]]
name = "{name}"
path = "{path}"
issuer = "{issuer}"
upstream = "{up}"

[resource.scopes]
preferred = {json.dumps(CURATED)}
override = {ov}
"""
        )
    return f"""# generated by bench/bench.py
[public]
listen = "127.0.0.1:{public}"
url = "http://127.0.0.1:{public}"

[admin]
listen = "127.0.0.1:{admin}"

[cache]
{cache_lines}

[log]
level = "{level}"
{''.join(blocks)}"""


class Warden:
    def __init__(self, name, demo, upstream, cache=None, env=None, resources=None, wait=True):
        self.public, self.admin = free_port(), free_port()
        self.dir = tempfile.mkdtemp(prefix=f"bench-warden-{name}-")
        self.config = os.path.join(self.dir, "config.toml")
        self.demo, self.upstream, self.cache_settings, self.resources = demo, upstream, cache, resources
        with open(self.config, "w") as f:
            f.write(warden_config(self.public, self.admin, demo.issuer, upstream, cache, resources=resources))
        self.base = f"http://127.0.0.1:{self.public}"
        self.url = self.base + "/mcp"
        self.admin_url = f"http://127.0.0.1:{self.admin}"
        self.prm = self.base + "/.well-known/oauth-protected-resource/mcp"
        self.proc = Proc(f"warden-{name}", [WARDEN, "--config", self.config], env=env)
        if wait:
            wait_http(self.admin_url + "/readyz")

    def write_config(self, override):
        text = warden_config(
            self.public, self.admin, self.demo.issuer, self.upstream, self.cache_settings,
            override=override, resources=self.resources,
        )
        with open(self.config, "w") as f:
            f.write(text)

    def token(self, path="/mcp"):
        return self.demo.token(self.base + path)

    def metrics(self):
        return wait_http(self.admin_url + "/metrics").decode()

    def stop(self):
        self.proc.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


# ---------------------------------------------------------------- load


def cpu_ticks(pid):
    """utime + stime of a process, in clock ticks."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


CLK_TCK = os.sysconf("SC_CLK_TCK")


def wrk(url, conns, seconds, token=None, method="POST", body=None, delay_ms=0, threads=None, timeout="10s", cpu_pid=None):
    threads = threads or (1 if conns == 1 else 2)
    env = {"BENCH_METHOD": method}
    if token:
        env["BENCH_TOKEN"] = token
    if body:
        env["BENCH_BODY"] = body
    if delay_ms:
        env["BENCH_DELAY_MS"] = str(delay_ms)
    cmd = ["wrk", f"-t{threads}", f"-c{conns}", f"-d{seconds}s", "--timeout", timeout, "-s", LUA, url]
    note_command(cmd, {k: ("$TOKEN" if k == "BENCH_TOKEN" else v) for k, v in env.items() if k != "BENCH_BODY"})
    full = dict(os.environ)
    full.update(env)
    c0 = cpu_ticks(cpu_pid) if cpu_pid else 0
    r = subprocess.run(cmd, capture_output=True, text=True, env=full, timeout=seconds + 60)
    c1 = cpu_ticks(cpu_pid) if cpu_pid else 0
    m = re.search(r"BENCHJSON (\{.*\})", r.stdout)
    if not m:
        raise RuntimeError(f"wrk failed: {r.stdout}\n{r.stderr}")
    d = json.loads(m.group(1))
    d["rps"] = d["requests"] / (d["duration_us"] / 1e6)
    if cpu_pid:
        # CPU time the proxy process spent per request (µs), from /proc/PID/stat.
        d["cpu_us_per_req"] = (c1 - c0) * 1e6 / CLK_TCK / max(d["requests"], 1)
    d["errors"] = sum(d[k] for k in ("errors_connect", "errors_read", "errors_write", "errors_status", "errors_timeout"))
    return d


DEFAULT_OUT = os.path.join(HERE, "RESULTS.md")
BENCHMARKS = os.path.join(os.path.dirname(HERE), "BENCHMARKS.md")


def splice_into_benchmarks(marker, report):
    """Replaces what lies between `<!-- MARKER begin -->` and `<!-- MARKER
    end -->` in BENCHMARKS.md with `report`, its headings one level down.
    Only complete runs are spliced (the callers decide)."""
    begin, end = f"<!-- {marker} begin -->", f"<!-- {marker} end -->"
    with open(BENCHMARKS) as f:
        text = f.read()
    if begin not in text or end not in text:
        log(f"BENCHMARKS.md has no {begin} … {end} markers: not spliced")
        return
    if report.startswith("# "):  # BENCHMARKS.md has its own heading for it
        report = report.split("\n", 1)[1].lstrip("\n")
    body = re.sub(r"^(#+) ", lambda m: "#" + m.group(1) + " ", report, flags=re.M)
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    with open(BENCHMARKS, "w") as f:
        f.write(head + begin + "\n" + body.rstrip() + "\n" + end + tail)
    log(f"spliced into {BENCHMARKS}")


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def spread(xs, fmt="{:.0f}"):
    if not xs:
        return "n/a"
    return f"{fmt.format(med(xs))} ({fmt.format(min(xs))}–{fmt.format(max(xs))})"


def balanced_orders(configs, rounds):
    """One order per round, cycling through every permutation of `configs`:
    each config runs in every position and after every other config equally
    often (a plain rotation always runs B after A, and on a shared machine
    the position after a given run is not neutral)."""
    perms = list(itertools.permutations(configs))
    return [list(perms[r % len(perms)]) for r in range(rounds)]


def rounds_of(configs, rounds, run):
    """Runs every config once per round, in balanced orders
    ([`balanced_orders`]), and returns {config: [result, ...]}."""
    out = {c: [] for c in configs}
    for r, order in enumerate(balanced_orders(configs, rounds)):
        for c in order:
            out[c].append(run(c))
        log(f"  round {r + 1}/{rounds}: " + ", ".join(
            f"{c}={out[c][-1]['rps']:.0f}/s p50={out[c][-1]['p50']:.0f}µs" for c in configs))
    return out


def verdict(ok):
    return "**met**" if ok else "**missed**"


# ---------------------------------------------------------------- rows


class Bench:
    def __init__(self, args):
        self.a = args
        self.md = []  # sections of RESULTS.md
        self.summary = []  # (row, figure, target, met)
        self.raw = {}

    def section(self, text):
        self.md.append(text)

    # -- 1
    def row1_python(self, demo, hyper_unused):
        py = python_peer()
        if not py:
            self.section("## 1. Authenticated MCP throughput, Python MCP server (c=32)\n\n"
                         "Skipped: the Python MCP peer (`mcp` package) is not installed "
                         "(`tests/peers/.venv`; `./scripts/test` installs it).\n")
            self.summary.append(("1 Python upstream c=32", "skipped (no `mcp` package)", "≥ 0.90", None))
            return
        ver = subprocess.run([py, "-c", "import importlib.metadata as m; print(m.version('mcp'), m.version('uvicorn'))"],
                             capture_output=True, text=True).stdout.split()
        self.versions["python mcp / uvicorn"] = " / ".join(ver)
        log("row 1: Python MCP server, c=32")
        pys = start_pyserver(py)
        w = Warden("py", demo, pys.url)
        token = w.token()
        # Sanity: the call works both ways and returns the echo.
        for url, tok in ((pys.url, None), (w.url, token)):
            h = {"content-type": "application/json", "accept": "application/json, text/event-stream"}
            if tok:
                h["authorization"] = "Bearer " + tok
            s, _, b = req("POST", url, body=ECHO_BODY, headers=h)
            if s != 200 or b"Echo: hello" not in b:
                raise RuntimeError(f"python peer via {url}: {s} {b[:300]!r}")
        wrk(pys.url, 32, 2)  # warm-up
        wrk(w.url, 32, 2, token=token)
        cfg = {"direct": (pys.url, None), "mcp-warden": (w.url, token)}
        res = rounds_of(list(cfg), self.a.rounds, lambda c: wrk(cfg[c][0], 32, self.a.duration, token=cfg[c][1]))
        self.raw["row1"] = res
        d = [x["rps"] for x in res["direct"]]
        g = [x["rps"] for x in res["mcp-warden"]]
        per_round = [b / a for a, b in zip(d, g)]
        ratio = med(g) / med(d)
        errs = sum(x["errors"] for v in res.values() for x in v)
        self.section(
            "## 1. Authenticated MCP throughput through mcp-warden to the Python MCP server (c=32)\n\n"
            "Upstream: `tests/peers/pyserver.py --stateless` (PyPI `mcp` "
            f"{self.versions['python mcp / uvicorn']}, `MCPServer`, stateless JSON, one uvicorn worker), "
            "`tools/call` of `echo`. mcp-warden verifies a real RS256 token from the demo authorization server on every request "
            "(verified-token cache warm).\n\n"
            "| configuration | req/s median (min–max) | p50 µs | p99 µs |\n|---|---|---|---|\n"
            f"| direct | {spread(d)} | {med([x['p50'] for x in res['direct']]):.0f} | {med([x['p99'] for x in res['direct']]):.0f} |\n"
            f"| through mcp-warden | {spread(g)} | {med([x['p50'] for x in res['mcp-warden']]):.0f} | {med([x['p99'] for x in res['mcp-warden']]):.0f} |\n\n"
            f"Ratio (median/median): **{ratio:.3f}** (per-round ratios {min(per_round):.3f}–{max(per_round):.3f}); "
            f"target ≥ 0.90: {verdict(ratio >= 0.90)}. Non-2xx or socket errors: {errs}.\n"
        )
        self.summary.append(("1 Python upstream c=32, warden/direct", f"{ratio:.3f}", "≥ 0.90", ratio >= 0.90))
        w.stop()
        pys.stop()

    # -- 10 (issue 9's "authenticated workload" row)
    def row10_python_oauth(self, demo, hyper):
        py = python_peer()
        if not py:
            self.section("## 10. Authenticated workload vs a Python MCP server doing its own OAuth\n\nSkipped: no `mcp` package.\n")
            return
        log("row 10: Python MCP server doing its own OAuth vs mcp-warden, c=32")
        doc = json.loads(wait_http(demo.issuer + "/.well-known/oauth-authorization-server"))
        p = Proc("pyauth", [py, os.path.join(HERE, "pyauth_server.py"), "--issuer", demo.issuer, "--jwks", doc["jwks_uri"]])
        url = json.loads(p.wait_stdout(r"(\{.*\"ready\".*\})").group(1))["url"]
        ptok = demo.token(url)
        h = {"content-type": "application/json", "accept": "application/json, text/event-stream"}
        assert req("POST", url, body=ECHO_BODY, headers=h)[0] == 401
        h["authorization"] = "Bearer " + ptok
        assert req("POST", url, body=ECHO_BODY, headers=h)[0] == 200
        w = self.w
        token = w.token()
        cfg = {"python, own OAuth": (url, ptok), "mcp-warden → hyper": (w.url, token)}
        for c, (u, t) in cfg.items():
            wrk(u, 32, 2, token=t)
        res = rounds_of(list(cfg), self.a.rounds, lambda c: wrk(cfg[c][0], 32, self.a.duration, token=cfg[c][1]))
        p.stop()
        self.raw["row10"] = res
        rps = {c: [x["rps"] for x in v] for c, v in res.items()}
        ratio = med(rps["mcp-warden → hyper"]) / med(rps["python, own OAuth"])
        errs = sum(x["errors"] for v in res.values() for x in v)
        rows = "".join(f"| {c} | {spread(rps[c])} | {med([x['p50'] for x in res[c]]):.0f} | {med([x['p99'] for x in res[c]]):.0f} |\n" for c in cfg)
        self.section(
            "## 10. Authenticated workload: mcp-warden vs a Python MCP server doing its own OAuth (c=32)\n\n"
            "Reference: `bench/pyauth_server.py`, the Python peer (`mcp` `MCPServer`, stateless JSON, uvicorn defaults) with "
            "`AuthSettings` and a PyJWT/JWKS `TokenVerifier` (RS256 signature, issuer, audience, expiry on every request; "
            "keys cached by `PyJWKClient`), called directly with a valid token. mcp-warden: the same authenticated "
            "`tools/call` verified and proxied to the trivial hyper upstream.\n\n"
            "| configuration | req/s median (min–max) | p50 µs | p99 µs |\n|---|---|---|---|\n" + rows +
            f"\nmcp-warden / Python-with-OAuth: **{ratio:.0f}×** (issue 9 expects ≥ 30×: {verdict(ratio >= 30)}). Errors: {errs}.\n"
        )
        self.summary.append(("10 authenticated workload vs Python own OAuth", f"{ratio:.0f}×", "≥ 30× (report)", ratio >= 30))

    # -- 2, 3, 9
    def rows_trivial(self, demo, hyper):
        bare = start_bare(hyper.url)
        w = self.w
        token = self.token
        cfg = {"direct": (hyper.url, None), "bare": (bare.url, None), "mcp-warden": (w.url, token)}
        pids = {"direct": hyper.pid, "bare": bare.pid, "mcp-warden": w.proc.pid}
        for c, (u, t) in cfg.items():
            wrk(u, 32, 2, token=t)  # warm-up
        # -- 2
        log("row 2: trivial upstream, c=32")
        res = rounds_of(list(cfg), self.a.rounds,
                        lambda c: wrk(cfg[c][0], 32, self.a.duration, token=cfg[c][1], cpu_pid=pids[c]))
        self.raw["row2"] = res
        rps = {c: [x["rps"] for x in v] for c, v in res.items()}
        ratio = med(rps["mcp-warden"]) / med(rps["bare"])
        per_round = [g / b for g, b in zip(rps["mcp-warden"], rps["bare"])]
        errs = sum(x["errors"] for v in res.values() for x in v)
        cpu = {c: [x["cpu_us_per_req"] for x in v] for c, v in res.items()}
        lines = "".join(
            f"| {name} | {spread(rps[c])} | {med([x['p50'] for x in res[c]]):.0f} | {med([x['p99'] for x in res[c]]):.0f} | {spread(cpu[c], '{:.1f}')} |\n"
            for c, name in (("direct", "hyper upstream, direct"), ("bare", "bare warp+reqwest proxy"),
                            ("mcp-warden", "mcp-warden (authenticated)")))
        self.section(
            "## 2. Throughput to a trivial upstream (c=32): mcp-warden vs a bare warp+reqwest proxy\n\n"
            "Upstream: `bench/helpers` `hyper-upstream` (hyper 1, HTTP/1.1, fixed JSON-RPC result). "
            "Bare proxy: `bench/helpers` `bare-proxy` (warp 0.4 + reqwest 0.13, same versions and client settings as "
            "mcp-warden, streams both bodies, no auth, no metrics, no logging). mcp-warden: `log.level = \"info\"`, metrics on, "
            "token verified (cached) on every request, identity headers added.\n\n"
            "| configuration | req/s median (min–max) | p50 µs | p99 µs | CPU µs per request in that process (hyper: the upstream itself) |\n|---|---|---|---|---|\n" + lines +
            f"\nCPU per request is the process's utime+stime over the run (`/proc/PID/stat`) divided by the requests served: "
            f"mcp-warden spends **{med(cpu['mcp-warden']):.1f} µs** per request where the bare proxy spends **{med(cpu['bare']):.1f} µs** "
            f"(+{med(cpu['mcp-warden']) - med(cpu['bare']):.1f} µs, ×{med(cpu['mcp-warden']) / med(cpu['bare']):.2f}); on this 2-core machine the load "
            "generator and the upstream share the same cores, so throughput ratios follow total CPU per request.\n"
            f"\nRatio mcp-warden / bare (median/median): **{ratio:.3f}** (per-round {min(per_round):.3f}–{max(per_round):.3f}); "
            f"target ≥ 0.85: {verdict(ratio >= 0.85)}. Bare / direct: {med(rps['bare']) / med(rps['direct']):.3f}. "
            f"Non-2xx or socket errors: {errs}.\n"
        )
        self.summary.append(("2 trivial upstream c=32, warden/bare", f"{ratio:.3f}", "≥ 0.85", ratio >= 0.85))

        # -- 3
        log("row 3: added latency at c=1")
        res = rounds_of(list(cfg), self.a.rounds,
                        lambda c: wrk(cfg[c][0], 1, self.a.duration, token=cfg[c][1], cpu_pid=pids[c]))
        self.raw["row3"] = res
        added = {}
        for c in ("bare", "mcp-warden"):
            for p in ("p50", "p99"):
                added[(c, p)] = [x[p] - d[p] for x, d in zip(res[c], res["direct"])]
        rows = ""
        for c, name in (("direct", "hyper upstream, direct"), ("bare", "bare warp+reqwest proxy"), ("mcp-warden", "mcp-warden")):
            p50 = [x["p50"] for x in res[c]]
            p99 = [x["p99"] for x in res[c]]
            a50 = spread(added[(c, "p50")]) if c != "direct" else "—"
            a99 = spread(added[(c, "p99")]) if c != "direct" else "—"
            rows += (f"| {name} | {spread([x['rps'] for x in res[c]])} | {spread(p50)} | {spread(p99)} | {a50} | {a99} | "
                     f"{spread([x['cpu_us_per_req'] for x in res[c]], '{:.1f}')} |\n")
        w50, w99 = med(added[("mcp-warden", "p50")]), med(added[("mcp-warden", "p99")])
        self.section(
            "## 3. Added latency at c=1 over direct (trivial upstream)\n\n"
            "wrk `-t1 -c1`; \"added\" is computed per round against the direct run of the same round, then the median "
            "(min–max) is taken over rounds. All figures in µs.\n\n"
            "| configuration | req/s | p50 | p99 | added p50 | added p99 | CPU µs per request (that process) |\n|---|---|---|---|---|---|---|\n" + rows +
            f"\nmcp-warden added p50 **{w50:.0f} µs** (target ≤ 60: {verdict(w50 <= 60)}), added p99 **{w99:.0f} µs** "
            f"(target ≤ 300: {verdict(w99 <= 300)}); the bare proxy adds {med(added[('bare', 'p50')]):.0f} µs p50 / "
            f"{med(added[('bare', 'p99')]):.0f} µs p99.\n"
        )
        self.summary.append(("3 added latency c=1 p50", f"{w50:.0f} µs (bare {med(added[('bare', 'p50')]):.0f} µs)", "≤ 60 µs", w50 <= 60))
        self.summary.append(("3 added latency c=1 p99", f"{w99:.0f} µs (bare {med(added[('bare', 'p99')]):.0f} µs)", "≤ 300 µs", w99 <= 300))

        # -- 9
        if self.want(9):
            log("row 9: growth at 1, 8, 32, 128 connections")
            conns = [1, 8, 32, 128]
            grid = {}
            pair = (("bare", cfg["bare"], bare), ("mcp-warden", cfg["mcp-warden"], w.proc))
            for r in range(self.a.growth_rounds):
                for i, c in enumerate(conns if r % 2 == 0 else list(reversed(conns))):
                    # Which of the two runs first alternates too.
                    for name, (u, t), proc in (pair if (r + i) % 2 == 0 else pair[::-1]):
                        s = RssSampler(proc.pid)
                        x = wrk(u, c, self.a.growth_duration, token=t)
                        x["rss_max_kib"] = s.stop()
                        x["rss_end_kib"] = rss_kib(proc.pid)
                        grid.setdefault((name, c), []).append(x)
                log(f"  round {r + 1}/{self.a.growth_rounds}: " + ", ".join(
                    f"c={c} warden {grid[('mcp-warden', c)][-1]['rps']:.0f}/s bare {grid[('bare', c)][-1]['rps']:.0f}/s" for c in conns))
            self.raw["row9"] = {f"{k[0]} c={k[1]}": v for k, v in grid.items()}
            rows = ""
            for c in conns:
                g, b = grid[("mcp-warden", c)], grid[("bare", c)]
                rows += (f"| {c} | {spread([x['rps'] for x in g])} | {spread([x['rps'] for x in b])} | "
                         f"{med([x['rps'] for x in g]) / med([x['rps'] for x in b]):.3f} | "
                         f"{med([x['p50'] for x in g]):.0f} / {med([x['p99'] for x in g]):.0f} | "
                         f"{spread([x['rss_max_kib'] / 1024 for x in g], '{:.1f}')} | "
                         f"{spread([x['rss_max_kib'] / 1024 for x in b], '{:.1f}')} |\n")
            self.section(
                "## 9. Growth: throughput and RSS at 1, 8, 32, 128 connections (trivial upstream)\n\n"
                f"{self.a.growth_duration} s per run; RSS is the peak VmRSS sampled every 250 ms during the run "
                "(mcp-warden process only, MiB). The same mcp-warden process serves every run.\n\n"
                "| connections | mcp-warden req/s | bare proxy req/s | ratio | mcp-warden p50 / p99 µs | mcp-warden RSS MiB | bare RSS MiB |\n"
                "|---|---|---|---|---|---|---|\n" + rows
            )
        bare.stop()

    # -- 4
    def row4_prm_401(self, demo, hyper):
        log("row 4: PRM and 401 challenge throughput, c=32")
        w = self.w
        s, _, b = req("POST", w.url, body=ECHO_BODY, headers={"content-type": "application/json"})
        assert s == 401, s
        cfg = {
            "hyper GET": (hyper.url, "GET"),
            "PRM GET": (w.prm, "GET"),
            "hyper POST": (hyper.url, "POST"),
            "401 POST": (w.url, "POST"),
        }
        for c, (u, m) in cfg.items():
            wrk(u, 32, 2, method=m)
        res = rounds_of(list(cfg), self.a.rounds, lambda c: wrk(cfg[c][0], 32, self.a.duration, method=cfg[c][1]))
        self.raw["row4"] = res
        rps = {c: [x["rps"] for x in v] for c, v in res.items()}
        prm = med(rps["PRM GET"]) / med(rps["hyper GET"])
        chal = med(rps["401 POST"]) / med(rps["hyper POST"])
        non_ok = {c: sum(x["errors_status"] for x in res[c]) for c in cfg}
        rows = "".join(f"| {c} | {spread(rps[c])} | {med([x['p50'] for x in res[c]]):.0f} | {med([x['p99'] for x in res[c]]):.0f} |\n"
                       for c in cfg)
        self.section(
            "## 4. PRM endpoint and 401 challenge throughput (c=32) vs the minimal hyper server\n\n"
            "PRM: `GET /.well-known/oauth-protected-resource/mcp` (200, 6 curated scopes of the 127-scope catalog). "
            "401: `POST /mcp` with a JSON-RPC body and no token (401 with `WWW-Authenticate: Bearer resource_metadata=…, scope=…`; "
            f"all {sum(x['requests'] for x in res['401 POST'])} answers were non-2xx by design, as wrk counts them). "
            "Reference: the hyper server answering the same method.\n\n"
            "| configuration | req/s median (min–max) | p50 µs | p99 µs |\n|---|---|---|---|\n" + rows +
            f"\nPRM / hyper: **{prm:.3f}** (target ≥ 0.80: {verdict(prm >= 0.80)}); "
            f"401 / hyper: **{chal:.3f}** (target ≥ 0.70: {verdict(chal >= 0.70)}).\n"
        )
        self.summary.append(("4 PRM / hyper c=32", f"{prm:.3f}", "≥ 0.80", prm >= 0.80))
        self.summary.append(("4 401 challenge / hyper c=32", f"{chal:.3f}", "≥ 0.70", chal >= 0.70))

    # -- 5
    def row5_outage(self, hyper):
        a = self.a
        settings = {"ttl": "10s", "max_stale": "24h", "fetch_timeout": "2s", "retry_min": "1s", "retry_max": "8s"}
        rate_delay = a.outage_delay_ms
        log(f"row 5: authorization-server outage, c=8, {a.outage_duration} s, {a.outage_rounds} round(s)")
        rounds = []
        for r in range(a.outage_rounds):
            demo = DemoAS()
            w = Warden("outage", demo, hyper.url, cache=settings)
            token = w.token()
            wrk(w.url, 8, 2, token=token)
            healthy = wrk(w.url, 8, a.outage_duration, token=token, delay_ms=rate_delay)
            before = parse_metrics(w.metrics())
            port = demo.port
            demo.stop()
            hole = Blackhole(port)
            t_out = time.monotonic()
            outage = wrk(w.url, 8, a.outage_duration, token=token, delay_ms=rate_delay)
            window = time.monotonic() - t_out
            after = parse_metrics(w.metrics())
            status = json.loads(req("GET", w.admin_url + "/status")[2] or b"{}")
            accepts = hole.stop()
            ready = req("GET", w.admin_url + "/readyz")[0]
            w.stop()
            refresh_fail = {k: after.get(k, 0) - before.get(k, 0) for k in after if "result=\"failure\"" in k and "refresh_total" in k}
            stale = sum(v - before.get(k, 0) for k, v in after.items() if k.startswith("mcp_warden_discovery_stale_serves_total"))
            bound = backoff_bound(window, settings)
            rounds.append({
                "healthy": healthy, "outage": outage, "accepts": [round(t - t_out, 2) for t in accepts],
                "window_s": window, "bound": bound, "refresh_failures": refresh_fail, "stale_serves": stale,
                "readyz_during_outage": ready,
            })
            log(f"  round {r + 1}: healthy p99 {healthy['p99']:.0f}µs, outage p99 {outage['p99']:.0f}µs, "
                f"errors {healthy['errors']}/{outage['errors']}, attempts {len(accepts)} (bound {bound['total']})")
        self.raw["row5"] = rounds
        hp = [x["healthy"]["p99"] for x in rounds]
        op = [x["outage"]["p99"] for x in rounds]
        per_round = [o / h for o, h in zip(op, hp)]
        ratio = med(op) / med(hp)
        fails = sum(x["outage"]["errors"] + x["healthy"]["errors"] for x in rounds)
        attempts = [len(x["accepts"]) for x in rounds]
        bound = rounds[0]["bound"]
        att_ok = all(len(x["accepts"]) <= x["bound"]["total"] for x in rounds)
        rows = ""
        for i, x in enumerate(rounds):
            rows += (f"| {i + 1} | {x['healthy']['rps']:.0f} | {x['outage']['rps']:.0f} | {x['healthy']['p50']:.0f} / {x['outage']['p50']:.0f} | "
                     f"{x['healthy']['p99']:.0f} / {x['outage']['p99']:.0f} | {x['healthy']['max'] / 1000:.1f} / {x['outage']['max'] / 1000:.1f} | "
                     f"{x['healthy']['errors']} / {x['outage']['errors']} | {len(x['accepts'])} ≤ {x['bound']['total']} | "
                     f"{', '.join(f'{t:g}' for t in x['accepts'])} |\n")
        settings_str = ", ".join(f'{k} = "{v}"' for k, v in settings.items())
        moved = sorted(
            k.replace("mcp_warden_", "") + f" {v:g}" for k, v in rounds[0]["refresh_failures"].items() if v
        )
        self.section(
            "## 5. Authorization-server outage at steady load (c=8)\n\n"
            f"Per round: a fresh demo authorization server and a fresh mcp-warden with `[cache] {settings_str}`; "
            f"{a.outage_duration} s healthy, then the authorization server process is killed and its port taken over by a listener "
            f"that accepts every connection and never reads or answers (`Blackhole` in bench.py), and the same load runs another "
            f"{a.outage_duration} s, so both cached documents pass their TTL during the outage and are served stale. Load: wrk "
            f"`-t2 -c8`, each connection pausing {rate_delay} ms between requests (a steady ≈ {8 * 1000 / max(rate_delay, 1):.0f} req/s "
            "offered at most), authenticated `tools/call` through mcp-warden to the hyper upstream, `--timeout 10s`.\n\n"
            "| round | healthy req/s | outage req/s | p50 µs healthy / outage | p99 µs healthy / outage | max ms healthy / outage | failed healthy / outage | connections to the dead server ≤ schedule | their times (s after the outage began) |\n"
            "|---|---|---|---|---|---|---|---|---|\n" + rows +
            f"\np99 outage / healthy (median/median): **{ratio:.2f}×** (per-round {min(per_round):.2f}–{max(per_round):.2f}); "
            f"target ≤ 1.2×: {verdict(ratio <= 1.2)}. Failed requests (non-2xx, socket errors, timeouts) over every run: **{fails}** "
            f"(target 0: {verdict(fails == 0)}). Connection attempts to the dead server: **{', '.join(map(str, attempts))}** per round vs the "
            f"backoff schedule's maximum of **{bound['total']}** in a {bound['window']:.0f} s window "
            f"({bound['per_cache']} per cache × 2 caches, discovery and JWKS: {bound['explain']}): {verdict(att_ok)}. "
            f"mcp-warden's refresh failure counters over the outage (round 1): {'; '.join(moved) or 'none'}; "
            f"discovery stale serves: {rounds[0]['stale_serves']:g}; "
            f"`/readyz` during the outage answered {rounds[0]['readyz_during_outage']}.\n"
        )
        self.summary.append(("5 outage p99 / healthy", f"{ratio:.2f}×", "≤ 1.2×", ratio <= 1.2))
        self.summary.append(("5 outage failed requests", str(fails), "0", fails == 0))
        self.summary.append(("5 outage connection attempts", f"{'/'.join(map(str, attempts))} (schedule ≤ {bound['total']})", "≤ schedule", att_ok))

    # -- 6
    def row6_memory(self, demo):
        log("row 6: memory")
        n = self.a.streams
        results, idle = {}, {}
        for kind in ("count", "get"):
            # A fresh gateway per kind, so each peak starts from idle.
            w = Warden("sse", demo, demo.upstream)
            time.sleep(1.0)
            idle.setdefault("start", []).append(rss_kib(w.proc.pid))
            token = w.token()
            h = {"content-type": "application/json", "accept": "application/json, text/event-stream", "authorization": "Bearer " + token}
            s, _, b = req("POST", w.url, body=ECHO_BODY, headers=h)
            assert s == 200, (s, b)
            time.sleep(0.5)
            idle.setdefault("warm", []).append(rss_kib(w.proc.pid))
            res = asyncio.run(open_streams(w.public, w.proc.pid, "/mcp", token, n, kind, self.a.stream_hold))
            time.sleep(1.0)
            res["after_kib"] = rss_kib(w.proc.pid)
            results[kind] = res
            w.stop()
            log(f"  {kind}: {res['open']} streams open, warden RSS {res['rss_max'] / 1024:.1f} MiB")
            # The same streams through the bare warp+reqwest proxy, for reference.
            bare = start_bare(demo.upstream)
            port = int(bare.url.split(":")[2].split("/")[0])
            time.sleep(0.5)
            res_b = asyncio.run(open_streams(port, bare.pid, "/mcp", token, n, kind, self.a.stream_hold))
            res_b["idle_kib"] = rss_kib(bare.pid)
            results["bare " + kind] = res_b
            bare.stop()
            log(f"  bare {kind}: {res_b['open']} streams open, bare RSS {res_b['rss_max'] / 1024:.1f} MiB")
        self.raw["row6"] = {"idle_kib": idle, "streams": results}
        c, g = results["count"], results["get"]
        idle_start = med(idle["start"])
        idle_warm = med(idle["warm"])
        idle_ok = max(idle["start"]) / 1024 <= 20
        sse_ok = max(c["rss_max"], g["rss_max"]) / 1024 <= 64 and c["open"] == n and g["open"] == n
        bc, bg = results["bare count"], results["bare get"]
        self.section(
            "## 6. Memory (RSS of the mcp-warden process)\n\n"
            "A fresh mcp-warden (per stream kind) in front of the demo MCP upstream (the `mcp-warden demo` process's, stateless), "
            f"`log.level = \"info\"`. {n} concurrent streams are opened by an asyncio client (`open_streams` in bench.py), each "
            f"authenticated, and held {self.a.stream_hold} s after the last one received its first event, while VmRSS is sampled "
            "every 250 ms. Reference: the same streams through the bare warp+reqwest proxy.\n\n"
            "| state | mcp-warden VmRSS MiB | bare proxy VmRSS MiB |\n|---|---|---|\n"
            f"| idle, 1 s after /readyz | **{idle_start / 1024:.1f}** ({min(idle['start']) / 1024:.1f}–{max(idle['start']) / 1024:.1f}) | {bc['rss_start'] / 1024:.1f} |\n"
            f"| idle after the first authenticated request | {idle_warm / 1024:.1f} | |\n"
            f"| {c['open']}/{n} open SSE streams, `tools/call count` (n=2, interval 60 s: idle streams) | **{c['rss_max'] / 1024:.1f}** (peak) | {bc['rss_max'] / 1024:.1f} ({bc['open']} open) |\n"
            f"| then all closed | {c['after_kib'] / 1024:.1f} | |\n"
            f"| {g['open']}/{n} open SSE streams, `GET /mcp` (the upstream pings every 200 ms on each: {g['events']} events received while held) | **{g['rss_max'] / 1024:.1f}** (peak) | {bg['rss_max'] / 1024:.1f} ({bg['open']} open) |\n"
            f"| then all closed | {g['after_kib'] / 1024:.1f} | |\n\n"
            f"Per open stream: ≈ {(c['rss_max'] - c['rss_start']) / n:.1f} KiB (count) / {(g['rss_max'] - g['rss_start']) / n:.1f} KiB (GET); "
            f"bare proxy ≈ {(bc['rss_max'] - bc['rss_start']) / n:.1f} / {(bg['rss_max'] - bg['rss_start']) / n:.1f} KiB. "
            f"Targets: idle ≤ 20 MiB: {verdict(idle_ok)}; ≤ 64 MiB with {n} streams: {verdict(sse_ok)}.\n"
        )
        self.summary.append(("6 RSS idle", f"{idle_start / 1024:.1f} MiB", "≤ 20 MiB", idle_ok))
        self.summary.append((f"6 RSS {n} SSE streams", f"{c['rss_max'] / 1024:.1f} / {g['rss_max'] / 1024:.1f} MiB (count / GET; bare proxy {bc['rss_max'] / 1024:.1f} / {bg['rss_max'] / 1024:.1f})", "≤ 64 MiB", sse_ok))

    # -- 7
    def row7_reload(self, demo, hyper):
        log("row 7: config write → visible on the PRM")
        w = Warden("reload", demo, hyper.url)
        results = {}
        for mode in ("in place", "rename"):
            times = []
            for i in range(self.a.edits):
                override = ["all", "project:all"] if i % 2 == 0 else []
                want = override or CURATED
                text = warden_config(w.public, w.admin, demo.issuer, hyper.url, None, override=override)
                time.sleep(0.6)  # let the previous edit settle
                if mode == "in place":
                    t0 = time.perf_counter()
                    with open(w.config, "w") as f:
                        f.write(text)
                else:
                    tmp = w.config + ".tmp"
                    with open(tmp, "w") as f:
                        f.write(text)
                    t0 = time.perf_counter()
                    os.rename(tmp, w.config)
                conn = http.client.HTTPConnection("127.0.0.1", w.public, timeout=2)
                seen = None
                while time.perf_counter() - t0 < 5:
                    conn.request("GET", "/.well-known/oauth-protected-resource/mcp")
                    r = conn.getresponse()
                    doc = json.loads(r.read())
                    if doc.get("scopes_supported") == want:
                        seen = time.perf_counter() - t0
                        break
                    time.sleep(0.001)
                conn.close()
                times.append(seen * 1000 if seen is not None else float("inf"))
            results[mode] = times
            log(f"  {mode}: median {med(times):.0f} ms, max {max(times):.0f} ms")
        m = parse_metrics(w.metrics())
        w.stop()
        self.raw["row7"] = results
        ok = {k: med(v) <= 200 and max(v) <= 500 for k, v in results.items()}
        reloads = {k: v for k, v in m.items() if k.startswith("mcp_warden_config_reloads_total") and v}
        rows = "".join(f"| {k} | **{med(v):.0f}** | {min(v):.0f} | **{max(v):.0f}** | {verdict(ok[k])} |\n" for k, v in results.items())
        self.section(
            "## 7. Config write → visible on the PRM\n\n"
            f"{self.a.edits} edits per mode, alternating `override = [\"all\", \"project:all\"]` and `override = []`; the clock starts "
            "when the write returns (in place: `open(w)`+`write`+`close`; rename: `rename()` of a fully written temporary file) and "
            "stops when `GET /.well-known/oauth-protected-resource/mcp` (polled every ≈1 ms on a kept-alive connection) shows the new "
            "`scopes_supported`. The watcher debounces 100 ms (`src/watch.rs` `DEBOUNCE`).\n\n"
            "| mode | median ms | min ms | max ms | target median ≤ 200, max ≤ 500 |\n|---|---|---|---|---|\n" + rows +
            f"\nReload counters afterwards: {', '.join(f'`{k}` {v:g}' for k, v in reloads.items())}.\n"
        )
        for k, v in results.items():
            self.summary.append((f"7 config → PRM ({k})", f"median {med(v):.0f} ms, max {max(v):.0f} ms", "≤ 200 / 500 ms", ok[k]))

    # -- 8
    def row8_startup(self, demo, hyper):
        log("row 8: start → ready")
        notify, readyz = [], []
        for i in range(self.a.starts):
            # READY=1 over the sd_notify socket.
            sockdir = tempfile.mkdtemp(prefix="bench-notify-")
            path = os.path.join(sockdir, "notify.sock")
            s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            s.bind(path)
            s.settimeout(10)
            w = Warden("start", demo, hyper.url, env={"NOTIFY_SOCKET": path}, wait=False)
            t0 = w.proc.t0
            got = None
            while True:
                data = s.recv(4096)
                if b"READY=1" in data:
                    got = time.perf_counter() - t0
                    break
            s.close()
            shutil.rmtree(sockdir, ignore_errors=True)
            notify.append(got * 1000)
            w.stop()
            # /readyz polled every ≈1 ms.
            w = Warden("start", demo, hyper.url, wait=False)
            t0 = w.proc.t0
            while time.perf_counter() - t0 < 10:
                try:
                    c = socket.create_connection(("127.0.0.1", w.admin), timeout=1)
                    c.sendall(b"GET /readyz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
                    head = c.recv(64)
                    c.close()
                    if head.startswith(b"HTTP/1.1 200"):
                        readyz.append((time.perf_counter() - t0) * 1000)
                        break
                except OSError:
                    pass
                time.sleep(0.001)
            w.stop()
        self.raw["row8"] = {"notify_ms": notify, "readyz_ms": readyz}
        ok = med(notify) <= 150 and med(readyz) <= 150
        self.section(
            "## 8. Start → ready (local authorization server)\n\n"
            f"{self.a.starts} starts each: the clock starts just before `exec` (Python `subprocess.Popen`) of "
            "`mcp-warden --config …` against the demo authorization server on loopback (first discovery + JWKS fetch included), "
            "and stops at the `READY=1` datagram on `NOTIFY_SOCKET`, or at the first `200` from the admin `/readyz` (polled every ≈1 ms).\n\n"
            "| signal | median ms (min–max) |\n|---|---|\n"
            f"| sd_notify `READY=1` | **{spread(notify, '{:.1f}')}** |\n"
            f"| `/readyz` 200 | **{spread(readyz, '{:.1f}')}** |\n\n"
            f"Target ≤ 150 ms: {verdict(ok)}.\n"
        )
        self.summary.append(("8 start → ready", f"READY=1 {med(notify):.1f} ms, /readyz {med(readyz):.1f} ms (max {max(notify + readyz):.1f})", "≤ 150 ms", ok))

    def want(self, row):
        return not self.a.only or row in self.a.only


# ---------------------------------------------------------------- helpers


def parse_metrics(text):
    out = {}
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        try:
            k, v = line.rsplit(" ", 1)
            out[k] = float(v)
        except ValueError:
            pass
    return out


def backoff_bound(window, s):
    """The most connection attempts one cache may make in `window` seconds of
    outage under the documented schedule, taking every jitter at its minimum
    and the first attempt at the very start: each attempt lasts
    `fetch_timeout` (the listener accepts and never answers), then waits
    backoff(failures) = max(retry_min, min(retry_max, retry_min·2^(f-1))·U[0.5, 1])."""
    def secs(d):
        return float(d[:-1]) if d.endswith("s") else float(d)
    ft, rmin, rmax = secs(s["fetch_timeout"]), secs(s["retry_min"]), secs(s["retry_max"])
    t, f, n = 0.0, 0, 0
    while t < window:
        n += 1
        f += 1
        base = min(rmax, rmin * 2 ** (f - 1))
        t += ft + max(rmin, min(rmax, base * 0.5))
    return {"per_cache": n, "total": 2 * n, "window": window,
            "explain": f"attempts at most every fetch_timeout {ft:g} s + backoff ≥ {rmin:g}, {rmin:g}, {2 * rmin:g}, {4 * rmin:g} … ≥ {rmax / 2:g} s"}


class Blackhole:
    """A listener that accepts every connection and never reads or answers;
    records when each connection arrived."""

    def __init__(self, port):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        deadline = time.time() + 5
        while True:
            try:
                self.sock.bind(("127.0.0.1", port))
                break
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.05)
        self.sock.listen(128)
        self.sock.settimeout(0.2)
        self.accepts, self.held = [], []
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self):
        while not self._stop.is_set():
            try:
                c, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                break
            self.accepts.append(time.monotonic())
            self.held.append(c)

    def stop(self):
        self._stop.set()
        self._t.join()
        for c in self.held:
            c.close()
        self.sock.close()
        return self.accepts


async def open_streams(port, pid, path, token, n, kind, hold):
    """Opens `n` concurrent SSE streams through mcp-warden, holds them `hold`
    seconds while sampling the gateway's RSS, then closes them."""
    if kind == "count":
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                           "params": {"name": "count", "arguments": {"n": 2, "interval_ms": 60000}}})
        req = (f"POST {path} HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\nauthorization: Bearer {token}\r\n"
               f"content-type: application/json\r\naccept: application/json, text/event-stream\r\n"
               f"content-length: {len(body)}\r\n\r\n{body}")
    else:
        req = (f"GET {path} HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\nauthorization: Bearer {token}\r\n"
               f"accept: text/event-stream\r\n\r\n")
    opened = 0
    events = 0
    stop = asyncio.Event()
    writers = []
    first_event = asyncio.Semaphore(0)

    async def one():
        nonlocal opened, events
        r, w = await asyncio.open_connection("127.0.0.1", port, limit=1 << 16)
        writers.append(w)
        w.write(req.encode())
        await w.drain()
        head = await r.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200") or b"text/event-stream" not in head.lower():
            raise RuntimeError(f"stream refused: {head[:200]!r}")
        opened += 1
        got_first = False
        while not stop.is_set():
            chunk = await r.read(65536)
            if not chunk:
                break
            events += chunk.count(b"\n\n")
            if not got_first:
                got_first = True
                first_event.release()

    rss_start = rss_kib(pid)
    tasks = []
    for i in range(n):
        tasks.append(asyncio.create_task(one()))
        if i % 50 == 49:
            await asyncio.sleep(0.02)
    deadline = time.time() + 60
    got = 0
    while got < n and time.time() < deadline:
        try:
            await asyncio.wait_for(first_event.acquire(), timeout=1)
            got += 1
        except asyncio.TimeoutError:
            if all(t.done() for t in tasks):
                break
    sampler = RssSampler(pid)
    events_before = events
    await asyncio.sleep(hold)
    rss_max = sampler.stop()
    held_open = opened
    held_events = events - events_before
    stop.set()
    for w in writers:
        w.close()
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    failures = [t for t in tasks if t.done() and not t.cancelled() and t.exception()]
    return {"open": held_open, "first_events": got, "events": held_events, "rss_max": rss_max, "rss_start": rss_start,
            "failures": len(failures)}


def machine(args):
    def sh(cmd):
        try:
            return subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=20).stdout.strip()
        except Exception as e:
            return f"({e})"
    model = re.search(r"Model name:\s*(.*)", sh("lscpu"))
    mem = re.search(r"MemTotal:\s*(\d+)", open("/proc/meminfo").read())
    return {
        "nproc": sh("nproc"),
        "cpu": model.group(1) if model else "?",
        "memory": f"{int(mem.group(1)) / 1024 / 1024:.1f} GiB" if mem else "?",
        "kernel": platform.release(),
        "os": sh(". /etc/os-release && echo $PRETTY_NAME"),
        "rustc": sh("rustc --version"),
        "mcp-warden": sh(f"{WARDEN} --version") + " (git " + sh(f"git -C {ROOT} rev-parse --short HEAD") +
                      (", work tree modified" if sh(f"git -C {ROOT} status --porcelain --untracked-files=no -- src Cargo.toml Cargo.lock") else "") + ")",
        "wrk": sh("dpkg-query -W -f '${Version}' wrk"),
        "hey": sh("dpkg-query -W -f '${Version}' hey"),
        "python": sh("python3 --version"),
    }


def busy_report():
    """Processes not started by this run using ≥ 20 % CPU."""
    out = subprocess.run(["ps", "-eo", "pid,ppid,ni,pcpu,etime,args", "--sort=-pcpu"], capture_output=True, text=True).stdout.splitlines()
    mine = {str(os.getpid())} | {str(p.pid) for p in PROCS}
    busy = []
    for line in out[1:10]:
        parts = line.split(None, 5)
        if len(parts) < 6 or parts[0] in mine or parts[1] in mine or parts[0] == "PID":
            continue
        if "/bench/" in parts[5] or parts[5].startswith("ps "):
            continue
        if float(parts[3]) >= 20:
            busy.append(f"pid {parts[0]} nice {parts[2]} {parts[3]}% `{parts[5][:90]}`")
    return busy


class LoadWatcher:
    """Samples the load average and other (foreign) busy processes every
    `every` seconds, to say how shared the machine was during the run."""

    def __init__(self, every=20):
        self.loads, self.foreign = [], {}
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, args=(every,), daemon=True)
        self._t.start()

    def _run(self, every):
        while not self._stop.wait(every if self.loads else 0):
            self.loads.append(os.getloadavg()[0])
            for b in busy_report():
                cmd = re.sub(r"\s.*", "", b.split("`")[1]) if "`" in b else b
                name = os.path.basename(cmd)
                if "rustc" in name or "cargo" in name:
                    name = "rustc/cargo (builds by other work)"
                self.foreign[name] = self.foreign.get(name, 0) + 1

    def stop(self):
        self._stop.set()
        self._t.join()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="short smoke run")
    ap.add_argument("--rounds", type=int)
    ap.add_argument("--duration", type=int)
    ap.add_argument("--only", default="")
    ap.add_argument("--out", default=DEFAULT_OUT)
    ap.add_argument("--serve", action="store_true",
                    help="start the peers, print their URLs and a token as JSON, and wait (for profiling)")
    a = ap.parse_args()
    if a.serve:
        return serve()
    q = a.quick
    # Many short interleaved runs: on a shared machine, conditions drift
    # within tens of seconds.
    # 12 = 2 x 3!: rows 2 and 3 (three configurations) see every order twice.
    a.rounds = a.rounds or (2 if q else 12)
    a.growth_rounds = 2 if q else 6
    a.duration = a.duration or (2 if q else 5)
    a.growth_duration = 2 if q else 6
    a.outage_duration = 10 if q else 60
    a.outage_rounds = 1 if q else int(os.environ.get("BENCH_OUTAGE_ROUNDS", "5"))
    a.outage_delay_ms = 4
    a.streams = 1000
    a.stream_hold = 3 if q else 8
    a.edits = 6 if q else 20
    a.starts = 3 if q else 10
    a.only = {int(x) for x in a.only.split(",") if x}
    started = time.time()
    t0_env = float(os.environ.get("BENCH_T0", started))
    b = Bench(a)
    b.versions = {}
    info = machine(a)
    load_start = os.getloadavg()
    busy_start = busy_report()
    b.watch = LoadWatcher()
    log("machine:", info)
    if busy_start:
        log("busy processes:", busy_start)
    try:
        demo = DemoAS()
        hyper = start_hyper()
        b.w = Warden("main", demo, hyper.url)
        b.token = b.w.token()
        # The authenticated path works and the token never reaches the upstream.
        s, _, body = req("POST", b.w.url, body=ECHO_BODY, headers={
            "content-type": "application/json", "authorization": "Bearer " + b.token})
        assert s == 200 and b'"ok"' in body, (s, body)
        if b.want(6):
            b.row6_memory(demo)  # first: the machine's memory is quietest
        if b.want(8):
            b.row8_startup(demo, hyper)
        if b.want(7):
            b.row7_reload(demo, hyper)
        if b.want(2) or b.want(3) or b.want(9):
            b.rows_trivial(demo, hyper)
        if b.want(4):
            b.row4_prm_401(demo, hyper)
        if b.want(1):
            b.token = b.w.token()
            b.row1_python(demo, hyper)
        if b.want(10):
            b.row10_python_oauth(demo, hyper)
        b.idle_after_load = rss_kib(b.w.proc.pid)
        warden_stderr = b.w.proc.stderr()
        b.w.stop()
        demo.stop()
        if b.want(5):
            b.row5_outage(hyper)
        hyper.stop()
    finally:
        stop_all()
    load_end = os.getloadavg()
    busy_end = busy_report()
    b.watch.stop()
    elapsed = time.time() - started
    total = time.time() - t0_env
    write_results(a, b, info, load_start, load_end, busy_start, busy_end, elapsed, total, warden_stderr)
    if not a.quick and not a.only and a.out == DEFAULT_OUT:
        splice_into_benchmarks("bench/run.sh", open(a.out).read())
    with open(os.path.join(HERE, "results.json"), "w") as f:
        json.dump({"machine": info, "raw": b.raw, "summary": b.summary}, f, indent=1, default=str)
    log(f"done in {elapsed:.0f} s; wrote {a.out}")


def serve():
    try:
        demo = DemoAS()
        hyper = start_hyper()
        bare = start_bare(hyper.url)
        w = Warden("serve", demo, hyper.url)
        print(json.dumps({"hyper": hyper.url, "bare": bare.url, "warden": w.url, "prm": w.prm,
                          "warden_pid": w.proc.pid, "bare_pid": bare.pid, "hyper_pid": hyper.pid,
                          "admin": w.admin_url, "token": w.token(), "demo": demo.issuer}), flush=True)
        while True:
            time.sleep(1)
    finally:
        stop_all()


def write_results(a, b, info, load_start, load_end, busy_start, busy_end, elapsed, total, warden_stderr):
    L = []
    L.append("# mcp-warden benchmark results\n")
    L.append(f"Generated by `bench/run.sh{' --quick' if a.quick else ''}` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; "
             f"measurements took {elapsed / 60:.1f} min, the whole `bench/run.sh` (builds included) {total / 60:.1f} min. "
             "Everything ran on 127.0.0.1 on the machine below, side by side in one run; every throughput and latency figure "
             f"is the median of {a.rounds} interleaved runs (each round runs every configuration once; the orders cycle "
             "through every permutation, so each configuration runs in every position and after every other one equally "
             f"often; row 9: {a.growth_rounds} rounds, the pair's order alternating), with the min–max spread in "
             "parentheses. Ratios are of medians.\n")
    L.append("## Summary\n\n| row | figure | target | |\n|---|---|---|---|\n" + "".join(
        f"| {r} | {f} | {t} | {'met' if m else ('—' if m is None else '**missed**')} |\n" for r, f, t, m in b.summary))
    L.append("## Machine\n\n| | |\n|---|---|\n" + "".join(f"| {k} | {v} |\n" for k, v in {**info, **b.versions}.items()) +
             f"| load average at start / end | {' '.join(f'{x:.2f}' for x in load_start)} / {' '.join(f'{x:.2f}' for x in load_end)} |\n")
    wl = b.watch
    if wl.loads:
        L.append(f"Load average (1 min) sampled every 20 s during the run ({len(wl.loads)} samples): median {med(wl.loads):.2f}, "
                 f"min {min(wl.loads):.2f}, max {max(wl.loads):.2f}. Other processes seen using ≥ 20 % CPU at those samples: "
                 + (", ".join(f"{k} ({v}×)" for k, v in sorted(wl.foreign.items(), key=lambda kv: -kv[1])) or "none") + ".\n")
    if busy_start or busy_end:
        L.append("Other busy processes on the machine (shared) during this run:\n\n" +
                 "".join(f"- at start: {x}\n" for x in busy_start) + "".join(f"- at end: {x}\n" for x in busy_end) + "\n"
                 "Throughput and latency ratios are of interleaved runs, so such load affects both sides of each ratio; "
                 "absolute figures are lower than on an idle machine.\n")
    else:
        L.append("No other busy process was seen at the start or the end of the run.\n")
    L.extend(b.md)
    if getattr(b, "idle_after_load", None):
        L.append(f"The main mcp-warden process's RSS after rows 2–4, 9 (idle again): {b.idle_after_load / 1024:.1f} MiB.\n")
    warn = [l for l in warden_stderr.splitlines() if " WARN " in l or " ERROR " in l]
    L.append(f"Warnings/errors logged by the main mcp-warden process over the run: {len(warn)}"
             + (": " + "; ".join(f"`{w[:160]}`" for w in warn[:5]) if warn else "") + ".\n")
    L.append("Token verification cost (RS256 cold vs cached, ES256, EdDSA, 1 vs 50 keys, 1 vs 10,000 tokens) is measured "
             "in-process by the criterion benches, reported in their own section.\n")
    analysis = os.path.join(HERE, "ANALYSIS.md")
    if os.path.exists(analysis):
        L.append(open(analysis).read())
    L.append("## How to run\n\n```sh\nbench/run.sh            # full run (≈ " + f"{total / 60:.0f}" + " min here)\n"
             "bench/run.sh --quick    # smoke run of the harness (short runs, fewer rounds)\n"
             "bench/run.sh --only 2,3 # some rows only\n```\n\n"
             "`run.sh` installs `wrk` and `hey` with apt-get when missing (as root), builds mcp-warden "
             "(`cargo build --release`) and the benchmark peers (`cargo build --release` in `bench/helpers`, target dir "
             "`bench/target`), then runs `bench/bench.py`, which starts every process itself on loopback, stops them at the "
             "end, and writes this file and `bench/results.json` (every run's raw figures).\n\n"
             "Commands run (ports, temporary paths and the token elided):\n\n```\n" + "\n".join(COMMANDS) + "\n```\n")
    with open(a.out, "w") as f:
        f.write("\n".join(L))


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    try:
        main()
    finally:
        stop_all()
