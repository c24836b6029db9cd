#!/usr/bin/env python3
"""mcp-warden soak test (issue 10, item 4). Part of the bench suite, not of CI.

Runs one mcp-warden for `--minutes` (default 10) at a steady, paced load while

- the demo authorization server flaps: it is frozen with SIGSTOP (its
  connections are accepted by the kernel and then hang, so every fetch ends
  at `fetch_timeout`) and thawed with SIGCONT on an irregular schedule
  (seeded); it cannot be killed or moved because its signing keys and its
  issuer URL are made at start, and refusing connections on its port would
  need a firewall rule, so this harness only freezes it;
- the config file is rewritten every 10 s (two valid scope overrides in turn,
  in place or by rename), and every sixth rewrite (once a minute) is invalid
  (an override matching nothing in the catalog, a TOML syntax error, an
  unknown key) and must be rejected while the metadata keeps the last good
  scopes;
- a thread fetches the Protected Resource Metadata every second (always 200,
  always a scope set that was validly configured), and every 5 s a burst of
  20 connections without a token / with bad tokens (401 expected), abandoned
  or half-sent requests and idle connections exercises connection and task
  cleanup.

The load is wrk `-t2 -c8` with a per-request pause (`--delay-ms`) on an
authenticated `tools/call` through mcp-warden to the trivial hyper upstream,
in segments of `--segment` seconds, each with a token minted during an up
phase of the authorization server (demo tokens live 300 s). The process is
sampled every 10 s (RSS, HWM, descriptors, threads, live Tokio tasks, refresh
and reload counters).

Verdicts: zero failed requests that should have succeeded; every valid
rewrite visible on the metadata within 1 s and every invalid one rejected;
flat RSS; descriptors and live tasks back to their idle baseline after the
load; the flapping seen (refresh failures and successes) with no retry storm.
Writes a Markdown report (`--out`, default bench/SOAK.md) and the raw samples
as JSON (`--json`, default next to the report, bench/soak.json); exits 1 if
any verdict fails.

Needs what bench/run.sh builds (bench/target/release/hyper-upstream, wrk) and
an mcp-warden binary (`BENCH_WARDEN` or `--warden`; default
bench/target/bin/mcp-warden as run.sh copies it):

    BENCH_WARDEN=/tmp/soak-bin/mcp-warden bench/soak.py            # 10 minutes
    bench/soak.py --minutes 2 --out /tmp/SOAK.md                    # short check
"""

import argparse
import asyncio
import base64
import collections
import hashlib
import http.client
import json
import os
import random
import re
import shlex
import shutil
import signal
import statistics
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bench  # noqa: E402

CACHE = {"ttl": "5s", "max_stale": "24h", "fetch_timeout": "1s", "retry_min": "500ms", "retry_max": "4s"}
JWKS_COOLDOWN_S = 30.0  # the default `cache.jwks_cooldown`: unknown-kid refetches
SCOPES_A = ["all", "project:all"]  # override; from the demo's catalog
SCOPES_B = []  # no override: the curated `preferred` list is advertised
INVALID_KINDS = ["override matching nothing", "TOML syntax error", "unknown key"]
PRM_PATH = "/.well-known/oauth-protected-resource/mcp"


def advertised(override):
    return list(override) if override else list(bench.CURATED)


def log(*a):
    bench.log(*a)


# ---------------------------------------------------------------- shared state


class Run:
    """Everything the threads share. Times are seconds since `t0`."""

    def __init__(self, args):
        self.a = args
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.t0 = None
        self.harness_errors = []  # exceptions in the harness's own threads

    def now(self):
        return time.monotonic() - self.t0

    def fail(self, where, e):
        with self.lock:
            self.harness_errors.append(f"{where}: {type(e).__name__}: {e}")
        log(f"harness error in {where}: {e!r}")


def guarded(run, name, fn):
    def body():
        try:
            fn()
        except Exception as e:  # recorded and reported as a failed verdict
            run.fail(name, e)
    t = threading.Thread(target=body, name=name, daemon=True)
    t.start()
    return t


# ---------------------------------------------------------------- tokens


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def unb64(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def bad_signature(tok):
    h, p, s = tok.split(".")
    sig = bytearray(unb64(s))
    sig[len(sig) // 2] ^= 0x01
    return f"{h}.{p}.{b64url(bytes(sig))}"


def unknown_kid(tok):
    h, p, s = tok.split(".")
    head = json.loads(unb64(h))
    head["kid"] = "soak-unknown-kid"
    return f"{b64url(json.dumps(head, separators=(',', ':')).encode())}.{p}.{s}"


class Tokens:
    """The current access token; minted only while the authorization server
    is up (by the flapper, right after it thaws the server)."""

    def __init__(self, demo, resource):
        self.demo, self.resource = demo, resource
        self.cond = threading.Condition()
        self.token, self.minted = None, None
        self.mints, self.mint_errors = 0, []

    def mint(self):
        try:
            tok = self.demo.token(self.resource)
        except Exception as e:
            self.mint_errors.append(f"{type(e).__name__}: {e}")
            return False
        with self.cond:
            self.token, self.minted = tok, time.monotonic()
            self.mints += 1
            self.cond.notify_all()
        return True

    def age(self):
        return time.monotonic() - self.minted if self.minted else float("inf")

    def fresh(self, max_age, timeout):
        """The current token once it is at most `max_age` seconds old."""
        with self.cond:
            if not self.cond.wait_for(lambda: self.age() <= max_age, timeout=timeout):
                raise RuntimeError(f"no token younger than {max_age} s within {timeout} s (mint errors: {self.mint_errors[-3:]})")
            return self.token, self.age()


# ---------------------------------------------------------------- flapping AS


class Flapper:
    """Freezes (SIGSTOP) and thaws (SIGCONT) the demo process on an irregular,
    seeded schedule: up 2–6 s, down 2–6 s, every fourth down phase 8–14 s
    (longer than the 5 s TTL, so both documents go stale and the backoff
    climbs to retry_max). After each thaw it mints a token when the current
    one is older than 40 s."""

    def __init__(self, run, demo, tokens, rng):
        self.run, self.demo, self.tokens, self.rng = run, demo, tokens, rng
        self.up = True
        self.phases = []  # {"state", "start", "end"}

    def _phase(self, state):
        t = self.run.now()
        if self.phases:
            self.phases[-1]["end"] = t
        self.phases.append({"state": state, "start": t, "end": None})

    def loop(self):
        pid = self.demo.proc.pid
        self._phase("up")
        n = 0
        try:
            while not self.run.stop.wait(self.rng.uniform(2, 6)):
                os.kill(pid, signal.SIGSTOP)
                self.up = False
                self._phase("down")
                n += 1
                down = self.rng.uniform(8, 14) if n % 4 == 0 else self.rng.uniform(2, 6)
                self.run.stop.wait(down)
                os.kill(pid, signal.SIGCONT)
                self.up = True
                self._phase("up")
                if self.tokens.age() > 40:
                    self.tokens.mint()
        finally:
            self.thaw()
            self.phases[-1]["end"] = self.run.now()

    def thaw(self):
        try:
            os.kill(self.demo.proc.pid, signal.SIGCONT)
        except ProcessLookupError:
            pass
        self.up = True


# ---------------------------------------------------------------- config writes


class Configs:
    """Rewrites the config every `every` seconds; valid rewrites alternate the
    override between SCOPES_A and SCOPES_B (their advertised sets must be on
    the metadata within 1 s), every sixth rewrite is invalid (must be
    rejected, the metadata keeping the last good scopes). Writes alternate
    in place (open/truncate/write/close) and rename (temporary file in the
    same directory + os.replace) in pairs."""

    def __init__(self, run, w, flapper, every=10.0):
        self.run, self.w, self.flapper, self.every = run, w, flapper, every
        self.good = advertised(SCOPES_B)  # what the initial config advertises
        self.pending = None  # scopes of a valid write not yet confirmed
        self.next_override = SCOPES_A
        self.writes = []

    def text(self, override, invalid=None):
        w = self.w
        t = bench.warden_config(w.public, w.admin, w.demo.issuer, w.upstream, CACHE, override=override)
        t = t.replace("# generated by bench/bench.py", f"# generated by bench/soak.py at t={self.run.now():.1f} s")
        if invalid == "override matching nothing":
            t = bench.warden_config(w.public, w.admin, w.demo.issuer, w.upstream, CACHE,
                                    override=["soak:no-such-scope"])
        elif invalid == "TOML syntax error":
            t = t.replace("[resource.scopes]", "[resource.scopes", 1)
        elif invalid == "unknown key":
            t = t.replace("[admin]\n", "soak_unknown_key = true\n\n[admin]\n", 1)
        return t

    def write(self, text, mode):
        path = self.w.config
        if mode == "in place":
            with open(path, "w") as f:
                f.write(text)
        else:
            tmp = path + ".soak-tmp"
            with open(tmp, "w") as f:
                f.write(text)
            os.replace(tmp, path)
        return time.perf_counter()

    def loop(self):
        k = 0
        while not self.run.stop.wait(max(0.0, (k + 1) * self.every - self.run.now())):
            k += 1
            mode = "rename" if (k // 2) % 2 else "in place"
            if k % 6 == 3:
                self.invalid(k, mode, INVALID_KINDS[(k // 6) % len(INVALID_KINDS)])
            else:
                self.valid(k, mode)

    def valid(self, k, mode):
        override = self.next_override
        want = advertised(override)
        rec = {"k": k, "t": round(self.run.now(), 2), "kind": "valid", "mode": mode, "override": override,
               "as_up": self.flapper.up}
        self.pending = want
        t_write = self.write(self.text(override), mode)
        conn = http.client.HTTPConnection("127.0.0.1", self.w.public, timeout=2)
        seen, polls = None, 0
        try:
            while time.perf_counter() - t_write < 5:
                polls += 1
                conn.request("GET", PRM_PATH)
                r = conn.getresponse()
                body = r.read()
                if r.status == 200 and json.loads(body).get("scopes_supported") == want:
                    seen = time.perf_counter() - t_write
                    break
                time.sleep(0.002)
        finally:
            conn.close()
        if seen is not None:
            self.good = want
            self.next_override = SCOPES_B if override == SCOPES_A else SCOPES_A
        self.pending = None
        rec["visible_ms"] = None if seen is None else round(seen * 1000, 1)
        rec["polls"] = polls
        self.writes.append(rec)

    def invalid(self, k, mode, kind):
        rec = {"k": k, "t": round(self.run.now(), 2), "kind": "invalid", "invalid": kind, "mode": mode,
               "as_up": self.flapper.up}
        before = reload_counts(self.w)
        t_write = self.write(self.text(self.next_override, invalid=kind), mode)
        rejected_after = None
        while time.perf_counter() - t_write < 5:
            if reload_counts(self.w)["rejected"] > before["rejected"]:
                rejected_after = time.perf_counter() - t_write
                break
            time.sleep(0.01)
        rec["rejected_ms"] = None if rejected_after is None else round(rejected_after * 1000, 1)
        s, _, body = bench.req("GET", self.w.prm)
        rec["prm_status"] = s
        rec["prm_kept_good"] = s == 200 and json.loads(body).get("scopes_supported") == self.good
        st = json.loads(bench.req("GET", self.w.admin_url + "/status")[2])
        last = st.get("last_reload") or {}
        rec["status_result"] = last.get("result")
        rec["status_error"] = (last.get("errors") or [""])[0][:240]
        self.writes.append(rec)


def reload_counts(w):
    m = parse(bench.req("GET", w.admin_url + "/metrics")[2].decode())
    return {r: msum(m, "mcp_warden_config_reloads_total", result=r) for r in ("success", "rejected", "unchanged")}


# ---------------------------------------------------------------- PRM poller


class PrmPoller:
    """GETs the metadata every second on a fresh connection: must be 200 and
    show the last good scopes (or those of a valid write in progress)."""

    def __init__(self, run, w, configs):
        self.run, self.w, self.configs = run, w, configs
        self.count, self.errors, self.latency_ms = 0, [], []

    def loop(self):
        while not self.run.stop.wait(1.0):
            ok_sets = [self.configs.good, self.configs.pending]
            t = time.perf_counter()
            try:
                s, _, body = bench.req("GET", self.w.prm, timeout=5)
                scopes = json.loads(body).get("scopes_supported") if s == 200 else None
            except Exception as e:
                s, scopes = f"{type(e).__name__}: {e}", None
            self.latency_ms.append((time.perf_counter() - t) * 1000)
            self.count += 1
            ok_sets += [self.configs.good, self.configs.pending]
            if s != 200 or scopes not in ok_sets:
                self.errors.append({"t": round(self.run.now(), 2), "status": s, "scopes": scopes})


# ---------------------------------------------------------------- probe bursts

# 20 connections per burst: 16 requests that must get 401, 2 valid requests
# abandoned right after sending, 1 half-sent request, 1 idle connection.
BURST = (["no token"] * 4 + ["no token, SSE GET"] * 4 + ["not a JWT"] * 3 + ["bad signature"] * 3 +
         ["unknown kid"] * 2 + ["valid, abandoned"] * 2 + ["half-sent"] + ["idle"])
EXPECT_401 = {"no token", "no token, SSE GET", "not a JWT", "bad signature", "unknown kid"}


class Prober:
    def __init__(self, run, w, tokens, every=5.0):
        self.run, self.w, self.tokens, self.every = run, w, tokens, every
        self.bursts = 0
        self.results = collections.Counter()  # (kind, outcome) -> n
        self.unexpected = []

    def request(self, kind, token):
        port = self.w.public
        auth = {
            "no token": None, "no token, SSE GET": None, "not a JWT": "not-a-jwt",
            "bad signature": bad_signature(token), "unknown kid": unknown_kid(token),
            "valid, abandoned": token, "half-sent": token,
        }.get(kind)
        head = f"host: 127.0.0.1:{port}\r\n" + (f"authorization: Bearer {auth}\r\n" if auth else "")
        if kind == "no token, SSE GET":
            return f"GET /mcp HTTP/1.1\r\n{head}accept: text/event-stream\r\n\r\n".encode()
        return (f"POST /mcp HTTP/1.1\r\n{head}content-type: application/json\r\n"
                f"accept: application/json, text/event-stream\r\ncontent-length: {len(bench.ECHO_BODY)}\r\n\r\n"
                f"{bench.ECHO_BODY}").encode()

    async def one(self, kind, token):
        r, wr = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", self.w.public), 5)
        try:
            if kind == "idle":
                await asyncio.sleep(0.5)
                return "closed idle"
            data = self.request(kind, token)
            if kind == "half-sent":
                wr.write(data[: len(data) // 3])
                await wr.drain()
                await asyncio.sleep(0.2)
                return "closed half-sent"
            wr.write(data)
            await wr.drain()
            if kind == "valid, abandoned":
                return "abandoned"
            head = await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), 5)
            return int(head.split(b" ", 2)[1])
        finally:
            wr.close()
            try:
                await wr.wait_closed()
            except OSError:
                pass

    async def burst(self, token):
        res = await asyncio.gather(*(self.one(k, token) for k in BURST), return_exceptions=True)
        for kind, out in zip(BURST, res):
            if isinstance(out, BaseException):
                out = f"{type(out).__name__}: {out}"
            self.results[(kind, out)] += 1
            if (kind in EXPECT_401 and out != 401) or (kind not in EXPECT_401 and not isinstance(out, str)) \
                    or (isinstance(out, str) and ":" in out):
                self.unexpected.append({"t": round(self.run.now(), 2), "kind": kind, "outcome": out})

    def loop(self):
        while not self.run.stop.wait(self.every):
            token = self.tokens.token
            asyncio.run(self.burst(token))
            self.bursts += 1


# ---------------------------------------------------------------- sampling


def parse(text):
    """Prometheus text → [(name, {labels}, value)]."""
    out = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        try:
            key, v = line.rsplit(" ", 1)
            v = float(v)
        except ValueError:
            continue
        labels = {}
        if "{" in key:
            name, rest = key.split("{", 1)
            for part in rest.rstrip("}").split('",'):
                if "=" in part:
                    k, val = part.split("=", 1)
                    labels[k.strip()] = val.strip().strip('"')
        else:
            name = key
        out.append((name, labels, v))
    return out


def msum(m, name, **labels):
    return sum(v for n, l, v in m if n == name and all(l.get(k) == x for k, x in labels.items()))


def tcp_table(pid):
    out = {}
    for fn in ("tcp", "tcp6"):
        try:
            with open(f"/proc/{pid}/net/{fn}") as f:
                lines = f.read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            p = line.split()
            out[p[9]] = (int(p[1].rsplit(":", 1)[1], 16), int(p[2].rsplit(":", 1)[1], 16), p[3])
    return out


FD_KINDS = ["listeners", "public clients", "admin clients", "upstream", "authorization server", "other tcp",
            "other sockets", "non-socket"]


def fds(pid, ports):
    """Open descriptors of `pid`, by kind (TCP sockets by their ports)."""
    tcp = tcp_table(pid)
    c = collections.Counter({k: 0 for k in FD_KINDS})
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if not target.startswith("socket:["):
            c["non-socket"] += 1
            continue
        t = tcp.get(target[8:-1])
        if t is None:
            c["other sockets"] += 1
        elif t[2] == "0A":
            c["listeners"] += 1
        elif t[0] == ports["public"]:
            c["public clients"] += 1
        elif t[0] == ports["admin"]:
            c["admin clients"] += 1
        elif t[1] == ports["upstream"]:
            c["upstream"] += 1
        elif t[1] == ports["as"]:
            c["authorization server"] += 1
        else:
            c["other tcp"] += 1
    d = dict(c)
    d["total"] = sum(c.values())
    return d


def snapshot(run, w, ports):
    pid = w.proc.pid
    s = {"t": round(run.now(), 2) if run.t0 else None}
    s["rss_kib"] = int(bench.proc_status(pid, "VmRSS").split()[0])
    s["hwm_kib"] = int(bench.proc_status(pid, "VmHWM").split()[0])
    s["threads"] = int(bench.proc_status(pid, "Threads"))
    s["fds"] = fds(pid, ports)
    m = parse(bench.req("GET", w.admin_url + "/metrics")[2].decode())
    s["tasks"] = msum(m, "mcp_warden_runtime_alive_tasks")
    for doc in ("discovery", "jwks"):
        for res in ("success", "failure"):
            s[f"{doc}_{res}"] = msum(m, f"mcp_warden_{doc}_refresh_total", result=res)
    s["jwks_kid_miss"] = msum(m, "mcp_warden_jwks_refresh_total", trigger="kid_miss")
    s["discovery_failure_reasons"] = {l["reason"]: v for n, l, v in m
                                      if n == "mcp_warden_discovery_refresh_failures_total" and v}
    s["stale_serves"] = msum(m, "mcp_warden_discovery_stale_serves_total")
    for r in ("success", "rejected", "unchanged"):
        s[f"reloads_{r}"] = msum(m, "mcp_warden_config_reloads_total", result=r)
    s["generation"] = msum(m, "mcp_warden_config_generation")
    s["upstream_requests"] = msum(m, "mcp_warden_upstream_requests_total")
    s["upstream_by_status"] = {l["status"]: v for n, l, v in m if n == "mcp_warden_upstream_requests_total" and v}
    s["verifications"] = {l["result"]: v for n, l, v in m if n == "mcp_warden_token_verifications_total" and v}
    s["public_by_status"] = {}
    for n, l, v in m:
        if n == "mcp_warden_http_requests_total" and l.get("listener") == "public" and v:
            s["public_by_status"][l["status"]] = s["public_by_status"].get(l["status"], 0) + v
    return s


class Sampler:
    def __init__(self, run, w, ports, flapper, every):
        self.run, self.w, self.ports, self.flapper, self.every = run, w, ports, flapper, every
        self.samples = []

    def take(self):
        s = snapshot(self.run, self.w, self.ports)
        s["as_up"] = self.flapper.up
        self.samples.append(s)
        return s

    def loop(self):
        k = 0
        self.take()
        while not self.run.stop.wait(max(0.0, (k + 1) * self.every - self.run.now())):
            k += 1
            self.take()


# ---------------------------------------------------------------- analysis


def slope_per_min(points):
    """Least-squares slope of [(t_s, y)] in y per minute."""
    if len(points) < 2:
        return 0.0
    mt = statistics.fmean(t for t, _ in points)
    my = statistics.fmean(y for _, y in points)
    den = sum((t - mt) ** 2 for t, _ in points)
    return 0.0 if den == 0 else sum((t - mt) * (y - my) for t, y in points) / den * 60


def settle(run, w, ports, base, min_idle, deadline):
    """After the load: polls descriptors and live tasks every 250 ms; returns
    (the first snapshot at least `min_idle` s after the load that is back at
    the baseline, or the last one, seconds after the load, polls)."""
    t_end = time.monotonic()
    last, polls = None, []
    while True:
        el = time.monotonic() - t_end
        s = snapshot(run, w, ports)
        s["after_load_s"] = round(el, 2)
        polls.append({"after_s": round(el, 2), "fds": s["fds"]["total"], "tasks": s["tasks"],
                      "upstream": s["fds"]["upstream"], "as": s["fds"]["authorization server"]})
        last = s
        if el >= min_idle and back_to_base(s, base)[0]:
            return s, el, polls
        if el >= deadline:
            return last, el, polls
        time.sleep(0.25)


def pooled(s):
    return s["fds"]["upstream"] + s["fds"]["authorization server"]


def back_to_base(s, base):
    """Descriptors and tasks compared with the baseline, not counting idle
    pooled keep-alive connections to the upstream and the authorization
    server (reqwest keeps them 90 s, each with its own connection task),
    which are checked separately: the upstream ones must go when the upstream
    does; at most one per cache (discovery, JWKS) plus one unknown-kid
    refetch may stay to the authorization server."""
    fd_ok = s["fds"]["total"] - pooled(s) <= base["fds"]["total"] - pooled(base)
    task_ok = s["tasks"] - pooled(s) <= base["tasks"] - pooled(base)
    as_ok = s["fds"]["authorization server"] <= 3
    return fd_ok and task_ok and as_ok, fd_ok and as_ok, task_ok


def secs(d):
    return float(d[:-2]) / 1000 if d.endswith("ms") else float(d[:-1]) if d.endswith("s") else float(d)


def attempt_bound(phases, duration):
    """Most refresh attempts (discovery + JWKS) the documented schedule allows
    over these phases: per cache, one every 0.8 × ttl plus one per up phase,
    and in each down phase what bench.backoff_bound allows (attempts that
    hang for fetch_timeout, then jittered backoff at its minimum); plus the
    unknown-kid JWKS refetches (one per jwks_cooldown)."""
    ttl = secs(CACHE["ttl"])
    bb = {"fetch_timeout": f"{secs(CACHE['fetch_timeout'])}s", "retry_min": f"{secs(CACHE['retry_min'])}s",
          "retry_max": f"{secs(CACHE['retry_max'])}s"}
    per_cache = 0.0
    for p in phases:
        d = p["end"] - p["start"]
        if p["state"] == "up":
            per_cache += d / (0.8 * ttl) + 1
        else:
            per_cache += bench.backoff_bound(d + secs(CACHE["fetch_timeout"]), bb)["per_cache"]
    return int(2 * per_cache + duration / JWKS_COOLDOWN_S + 1)


def binary_info(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    mtime = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(os.stat(path).st_mtime))
    return f"`{path}` (sha256 {h.hexdigest()[:16]}…, built {mtime})"


def pct(a, b):
    return (b - a) / a * 100 if a else float("nan")


# ---------------------------------------------------------------- main


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--out", default=os.path.join(HERE, "SOAK.md"))
    ap.add_argument("--json", help="raw samples (default: soak.json next to --out)")
    ap.add_argument("--delay-ms", type=int, default=5, help="wrk per-connection pause between requests")
    ap.add_argument("--segment", type=int, default=60, help="seconds per wrk run (each with a fresh token)")
    ap.add_argument("--sample-every", type=float, help="seconds between samples (default 10, less for short runs)")
    ap.add_argument("--seed", type=int, default=10, help="seed of the flapping schedule")
    ap.add_argument("--warden", default=bench.WARDEN, help="mcp-warden binary (default $BENCH_WARDEN)")
    a = ap.parse_args()
    a.json = a.json or os.path.join(os.path.dirname(os.path.abspath(a.out)), "soak.json")
    for path in (a.out, a.json):
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    bench.WARDEN = a.warden
    duration = a.minutes * 60
    a.sample_every = a.sample_every or min(10.0, max(2.0, duration / 30))
    command = ((f"BENCH_WARDEN={shlex.quote(os.environ['BENCH_WARDEN'])} " if os.environ.get("BENCH_WARDEN") else "")
               + " ".join(shlex.quote(x) for x in [os.path.relpath(sys.argv[0], bench.ROOT)
                                                  if os.path.isabs(sys.argv[0]) else sys.argv[0]] + sys.argv[1:]))
    info = bench.machine(a)
    info["binary"] = binary_info(a.warden)
    load_start = os.getloadavg()
    busy_start = bench.busy_report()
    watch = bench.LoadWatcher()
    log("machine:", info)
    run = Run(a)
    rng = random.Random(a.seed)
    flapper = w = None
    try:
        demo = bench.DemoAS()
        hyper = bench.start_hyper()
        w = bench.Warden("soak", demo, hyper.url, cache=CACHE)
        ports = {"public": w.public, "admin": w.admin, "upstream": int(hyper.url.split(":")[2].split("/")[0]),
                 "as": demo.port}
        tokens = Tokens(demo, w.url)
        assert tokens.mint(), tokens.mint_errors
        h = {"content-type": "application/json", "authorization": "Bearer " + tokens.token}
        s, _, body = bench.req("POST", w.url, body=bench.ECHO_BODY, headers=h)
        assert s == 200 and b'"ok"' in body, (s, body)
        run.t0 = time.monotonic()
        # Warm-up at the load's shape (so the idle baseline includes a full
        # upstream pool), one probe burst, then the idle baseline.
        log("warm-up")
        warm = bench.wrk(w.url, 8, 3, token=tokens.token, delay_ms=a.delay_ms, threads=2)
        flapper = Flapper(run, demo, tokens, rng)
        prober = Prober(run, w, tokens)
        asyncio.run(prober.burst(tokens.token))
        warm_unexpected = list(prober.unexpected)
        prober.results.clear()
        prober.unexpected.clear()
        base = None
        deadline = time.monotonic() + 15
        prev = None
        while time.monotonic() < deadline:  # until two polls 0.5 s apart agree
            cur = snapshot(run, w, ports)
            if prev and cur["fds"] == prev["fds"] and cur["tasks"] == prev["tasks"] and cur["threads"] == prev["threads"]:
                base = cur
                break
            prev = cur
            time.sleep(0.5)
        base = base or cur
        log(f"idle baseline: RSS {base['rss_kib']} KiB, fds {base['fds']['total']}, tasks {base['tasks']:g}, "
            f"threads {base['threads']}")

        # ---- the soak
        run.t0 = time.monotonic()
        configs = Configs(run, w, flapper)
        poller = PrmPoller(run, w, configs)
        sampler = Sampler(run, w, ports, flapper, a.sample_every)
        threads = [guarded(run, n, f) for n, f in (("flapper", flapper.loop), ("configs", configs.loop),
                                                    ("prm", poller.loop), ("prober", prober.loop),
                                                    ("sampler", sampler.loop))]
        log(f"soak: {a.minutes:g} min, wrk -t2 -c8 pause {a.delay_ms} ms, segments of {a.segment} s")
        segments = []
        while True:
            left = duration - run.now()
            if left < 1:
                break
            seg = int(round(min(a.segment, left)))
            tok, age = tokens.fresh(max_age=120, timeout=60)
            t_start = run.now()
            r = bench.wrk(w.url, 8, seg, token=tok, delay_ms=a.delay_ms, threads=2, timeout="5s")
            r.update({"t_start": round(t_start, 2), "seconds": seg, "token_age_s": round(age, 1)})
            segments.append(r)
            log(f"  segment {len(segments)} t={t_start:.0f}s: {r['requests']} requests, errors {r['errors']}, "
                f"p99 {r['p99']:.0f} µs, max {r['max'] / 1000:.1f} ms; RSS {bench.rss_kib(w.proc.pid)} KiB, "
                f"AS flaps {sum(p['state'] == 'down' for p in flapper.phases)}")
        load_end = run.now()
        run.stop.set()
        for t in threads:
            t.join(timeout=30)
        flapper.thaw()
        log("load stopped; waiting for descriptors and tasks to return to the baseline")
        end, settle_s, settle_polls = settle(run, w, ports, base, min_idle=3.0, deadline=15.0)
        # Then stop the upstream: its idle pooled connections must go too.
        up_before = end["fds"]["upstream"]
        hyper.stop()
        t = time.monotonic()
        drained = None
        while time.monotonic() - t < 10:
            d = fds(w.proc.pid, ports)
            if d["upstream"] == 0:
                drained = {"after_s": round(time.monotonic() - t, 2), "fds": d,
                           "tasks": msum(parse(bench.req("GET", w.admin_url + "/metrics")[2].decode()),
                                         "mcp_warden_runtime_alive_tasks")}
                break
            time.sleep(0.1)
        final = snapshot(run, w, ports)
        warden_stderr = w.proc.stderr()
        w.stop()
        demo.stop()
    finally:
        if flapper:
            flapper.thaw()
        bench.stop_all()
        if w is not None:
            shutil.rmtree(w.dir, ignore_errors=True)
        watch.stop()
    load_end_avg = os.getloadavg()

    # ---------------------------------------------------------- verdicts
    samples = sampler.samples
    V = []  # (name, figure, ok)

    wrk_req = sum(s["requests"] for s in segments)
    wrk_err = {k: sum(s[k] for s in segments) for k in ("errors_status", "errors_connect", "errors_read",
                                                        "errors_write", "errors_timeout")}
    failed = sum(wrk_err.values())
    V.append(("authenticated requests failed (non-2xx, socket errors, timeouts)",
              f"{failed} of {wrk_req}" + (f" ({', '.join(f'{k[7:]} {v}' for k, v in wrk_err.items() if v)})" if failed else ""),
              failed == 0 and wrk_req > 0))
    V.append(("metadata polls not 200 or with scopes never validly configured",
              f"{len(poller.errors)} of {poller.count}", not poller.errors and poller.count > 0))
    n401 = sum(v for (k, o), v in prober.results.items() if k in EXPECT_401)
    got401 = sum(v for (k, o), v in prober.results.items() if k in EXPECT_401 and o == 401)
    V.append(("probe requests without / with bad tokens not answered 401, or probe connections failing",
              f"{len(prober.unexpected)} ({got401}/{n401} got 401 in {prober.bursts} bursts)",
              not prober.unexpected and prober.bursts > 0))
    valid = [x for x in configs.writes if x["kind"] == "valid"]
    invalid = [x for x in configs.writes if x["kind"] == "invalid"]
    vis = [x["visible_ms"] for x in valid if x["visible_ms"] is not None]
    V.append(("valid config rewrites visible on the metadata within 1 s",
              f"{sum(1 for x in vis if x <= 1000)}/{len(valid)}; write → visible median {bench.med(vis):.0f} ms, "
              f"max {max(vis) if vis else float('nan'):.0f} ms",
              bool(valid) and len(vis) == len(valid) and max(vis) <= 1000))
    inv_ok = [x for x in invalid if x["rejected_ms"] is not None and x["prm_kept_good"] and x["status_result"] == "rejected"]
    V.append(("invalid config rewrites rejected (counter + /status) with the last good scopes kept",
              f"{len(inv_ok)}/{len(invalid)}", bool(invalid) and len(inv_ok) == len(invalid)))
    rl = {r: final[f"reloads_{r}"] - base[f"reloads_{r}"] for r in ("success", "rejected", "unchanged")}
    V.append(("reload counters match the writes (success = valid writes, rejected = invalid writes)",
              f"success {rl['success']:g} / {len(valid)}, rejected {rl['rejected']:g} / {len(invalid)}, "
              f"unchanged {rl['unchanged']:g}",
              rl["success"] == len(valid) and rl["rejected"] == len(invalid)))

    warm_s = min(60.0, 0.2 * duration)
    win = min(60.0, 0.25 * duration)
    after = [s for s in samples if s["t"] >= warm_s]
    first = [s["rss_kib"] for s in after if s["t"] <= warm_s + win]
    last = [s["rss_kib"] for s in after if s["t"] >= duration - win]
    rss_first, rss_last = bench.med(first), bench.med(last)
    growth = pct(rss_first, rss_last)
    slope = slope_per_min([(s["t"], s["rss_kib"]) for s in after])
    span_min = (after[-1]["t"] - after[0]["t"]) / 60 if len(after) > 1 else 0
    trend = slope * span_min / rss_first * 100 if rss_first else float("nan")
    half = [(s["t"], s["rss_kib"]) for s in after if s["t"] >= (warm_s + duration) / 2]
    slope2 = slope_per_min(half)
    V.append(("RSS flat: median of the first vs the last window after warm-up (≤ +10 %), "
              "least-squares trend over the run (≤ +10 %)",
              f"{rss_first / 1024:.2f} → {rss_last / 1024:.2f} MiB ({growth:+.1f} %); slope {slope:+.1f} KiB/min "
              f"({trend:+.1f} % over {span_min:.1f} min; second half {slope2:+.1f} KiB/min)",
              growth <= 10 and trend <= 10))
    ok_back, fd_ok, task_ok = back_to_base(end, base)
    peak_fds = max(s["fds"]["total"] for s in samples)
    peak_tasks = max(s["tasks"] for s in samples)
    V.append(("descriptors back to the idle baseline after the load (idle pooled upstream / authorization-server "
              "connections apart; ≤ 3 of the latter)",
              f"baseline {base['fds']['total']} ({pooled(base)} pooled), peak {peak_fds}, "
              f"end {end['fds']['total']} ({pooled(end)} pooled) {end['after_load_s']:.1f} s after the load",
              fd_ok))
    V.append(("live Tokio tasks back to the idle baseline after the load (one per pooled connection apart)",
              f"baseline {base['tasks']:g}, peak {peak_tasks:g}, end {end['tasks']:g}", task_ok))
    V.append(("pooled upstream connections released when the upstream goes away",
              f"{up_before} → 0 in {drained['after_s']:.1f} s; then descriptors {drained['fds']['total']}, tasks {drained['tasks']:g}"
              if drained else f"{up_before} → still open after 10 s", drained is not None))
    d_ok = final["discovery_success"] - base["discovery_success"]
    d_fail = final["discovery_failure"] - base["discovery_failure"]
    j_ok = final["jwks_success"] - base["jwks_success"]
    j_fail = final["jwks_failure"] - base["jwks_failure"]
    V.append(("the flapping was seen: refresh failures and successes during the run (discovery, JWKS)",
              f"discovery {d_ok:g} ok / {d_fail:g} failed, JWKS {j_ok:g} ok / {j_fail:g} failed",
              d_ok > 0 and d_fail > 0 and j_ok > 0 and j_fail > 0))
    attempts = d_ok + d_fail + j_ok + j_fail
    bound = attempt_bound(flapper.phases, duration)
    V.append(("no retry storm: refresh attempts within the documented schedule for these flaps",
              f"{attempts:g} attempts in {load_end / 60:.1f} min ({attempts / (load_end / 60):.0f}/min), bound {bound}",
              attempts <= bound))
    V.append(("harness: no errors in its own threads, tokens minted", "; ".join(run.harness_errors + tokens.mint_errors) or "none",
              not run.harness_errors))
    all_ok = all(ok for _, _, ok in V)

    raw = {"command": command, "params": vars(a), "cache": CACHE, "machine": info, "baseline": base, "end": end,
           "settle_polls": settle_polls, "drained": drained, "final": final, "samples": samples,
           "segments": segments, "warm_up": warm, "writes": configs.writes, "phases": flapper.phases,
           "prm": {"count": poller.count, "errors": poller.errors, "latency_ms_median": bench.med(poller.latency_ms),
                   "latency_ms_max": max(poller.latency_ms, default=None)},
           "probes": {"bursts": prober.bursts, "results": {f"{k} → {o}": v for (k, o), v in sorted(prober.results.items(), key=str)},
                      "unexpected": prober.unexpected, "warm_up_unexpected": warm_unexpected},
           "tokens": {"mints": tokens.mints, "errors": tokens.mint_errors},
           "verdicts": [{"verdict": n, "figure": f, "ok": ok} for n, f, ok in V], "ok": all_ok}
    with open(a.json, "w") as f:
        json.dump(raw, f, indent=1, default=str)
    report(a, command, info, run, V, all_ok, raw, base, end, final, samples, segments, flapper, configs, prober,
           poller, warm_s, win, load_end, load_start, load_end_avg, busy_start, watch, warden_stderr, duration)
    print()
    for n, f, ok in V:
        print(f"{'PASS' if ok else 'FAIL'}  {n}: {f}")
    print(f"\nsoak {'PASSED' if all_ok else 'FAILED'}; wrote {a.out} and {a.json}")
    return 0 if all_ok else 1


def report(a, command, info, run, V, all_ok, raw, base, end, final, samples, segments, flapper, configs, prober,
           poller, warm_s, win, load_end, load_start, load_end_avg, busy_start, watch, warden_stderr, duration):
    L = []
    short = a.minutes < 10
    L.append(f"# mcp-warden soak test{' (short run)' if short else ''}\n")
    L.append(f"Generated by `bench/soak.py` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: "
             f"**{a.minutes:g} minute{'' if a.minutes == 1 else 's'}** of steady load with a flapping authorization server and the config rewritten "
             f"every 10 s (issue 10, item 4)." + (" Shorter than the 10-minute soak: a check of the harness, "
                                                  "not the soak's result." if short else "") + "\n")
    L.append(f"**Overall: {'PASSED' if all_ok else 'FAILED'}.**\n")
    L.append("```sh\n" + command + "\n```\n")
    L.append("## Verdicts\n\n| | verdict | figure |\n|---|---|---|\n" + "".join(
        f"| {'pass' if ok else '**FAIL**'} | {n} | {f} |\n" for n, f, ok in V))

    downs = [p for p in flapper.phases if p["state"] == "down"]
    down_s = sum(p["end"] - p["start"] for p in downs)
    valid = [x for x in configs.writes if x["kind"] == "valid"]
    invalid = [x for x in configs.writes if x["kind"] == "invalid"]
    wrk_req = sum(s["requests"] for s in segments)
    cache_str = ", ".join(f'{k} = "{v}"' for k, v in CACHE.items())
    L.append("## Set-up\n")
    L.append(
        "- Processes: `mcp-warden demo --port 0` (only its authorization server is used), `bench/target/release/hyper-upstream` "
        "(the trivial upstream), and one mcp-warden (`log.level = \"info\"`, one resource `/mcp` in front of hyper, "
        f"issuer = the demo's) with `[cache] {cache_str}` "
        "(background refresh every 4 s when healthy).\n"
        f"- Authorization server flapping (seed {a.seed}): the demo process is frozen with `SIGSTOP` and thawed with "
        "`SIGCONT` (connections are accepted by the kernel and then hang, so fetches end at `fetch_timeout`); up 2–6 s, "
        f"down 2–6 s, every fourth down phase 8–14 s. {len(downs)} down phases, {down_s:.0f} s down in all "
        f"({down_s / max(load_end, 1) * 100:.0f} % of the run). Refused connections are not simulated: the issuer must "
        "stay the demo's URL (its keys are made at start, so it cannot be restarted), and making its port refuse "
        "connections while it lives would need a firewall rule.\n"
        f"- Load: wrk `-t2 -c8 --timeout 5s`, each connection pausing {a.delay_ms} ms between requests, authenticated "
        f"`tools/call` POST through mcp-warden to hyper, in {len(segments)} segments of ≤ {a.segment} s, each with a token "
        f"minted during an up phase (max token age at a segment's start: "
        f"{max((s['token_age_s'] for s in segments), default=0):.0f} s; demo tokens live 300 s; {raw['tokens']['mints']} tokens minted). "
        f"{wrk_req} requests, {wrk_req / max(sum(s['seconds'] for s in segments), 1):.0f}/s on average.\n"
        f"- Config rewrites every 10 s: {len(valid)} valid (override {json.dumps(SCOPES_A)} and `[]` → curated "
        f"{json.dumps(bench.CURATED)} in turn), {len(invalid)} invalid (once a minute: "
        f"{', '.join(INVALID_KINDS)} in turn); in place and by rename (temporary file + `os.replace`) in pairs.\n"
        f"- Metadata GET every 1 s on a fresh connection ({poller.count} polls, median {bench.med(poller.latency_ms):.1f} ms, "
        f"max {max(poller.latency_ms, default=0):.1f} ms).\n"
        f"- Every 5 s a burst of {len(BURST)} connections ({prober.bursts} bursts): "
        + ", ".join(f"{n}× `{k}`" for k, n in collections.Counter(BURST).items()) +
        " (the first five kinds must get 401; the bad tokens are the current token with a flipped signature bit or an "
        "unknown `kid`).\n"
        f"- Sampling every {a.sample_every:g} s: `/proc/PID/status` VmRSS, VmHWM, Threads; `/proc/PID/fd` (sockets classified "
        "through `/proc/PID/net/tcp`); admin `/metrics` (`mcp_warden_runtime_alive_tasks`, refresh, stale-serve and "
        "reload counters). The idle baseline is taken before the soak, after a 3 s warm-up at the same load shape "
        "(so the upstream connection pool is as full as under load) and one probe burst, once two polls 0.5 s "
        f"apart agree. RSS windows: warm-up {warm_s:.0f} s, first window {warm_s:.0f}–{warm_s + win:.0f} s, last window "
        f"{duration - win:.0f}–{duration:.0f} s.\n")

    L.append("## Machine\n\n| | |\n|---|---|\n" + "".join(f"| {k} | {v} |\n" for k, v in info.items()) +
             f"| load average at start / end | {' '.join(f'{x:.2f}' for x in load_start)} / "
             f"{' '.join(f'{x:.2f}' for x in load_end_avg)} |\n")
    if watch.loads:
        L.append(f"Load average (1 min) every 20 s: median {bench.med(watch.loads):.2f}, max {max(watch.loads):.2f}. "
                 "Other processes seen using ≥ 20 % CPU: "
                 + (", ".join(f"{k} ({v}×)" for k, v in sorted(watch.foreign.items(), key=lambda kv: -kv[1])) or "none")
                 + (f"; at start: {'; '.join(busy_start)}" if busy_start else "") + ".\n")

    # Samples: about one row a minute (more for short runs).
    every = max(a.sample_every, duration / 10)
    rows, nxt = [], 0.0
    for s in samples:
        if s["t"] + 1e-6 >= nxt or s is samples[-1]:
            rows.append(s)
            nxt = s["t"] + every - a.sample_every / 2
    L.append("## Samples\n\n"
             f"{len(samples)} samples (every {a.sample_every:g} s; shown about every {every:.0f} s; all in `{os.path.basename(a.json)}`). "
             "Refresh counts are totals since start (ok/failed); fds: total (upstream sockets).\n\n"
             "| t s | AS | RSS MiB | HWM MiB | fds | threads | tasks | proxied | discovery ok/failed | JWKS ok/failed | stale serves | reloads ok/rejected | generation |\n"
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|\n" + "".join(
        f"| {s['t']:.0f} | {'up' if s['as_up'] else 'down'} | {s['rss_kib'] / 1024:.2f} | {s['hwm_kib'] / 1024:.2f} | "
        f"{s['fds']['total']} ({s['fds']['upstream']}) | {s['threads']} | {s['tasks']:g} | {s['upstream_requests']:g} | "
        f"{s['discovery_success']:g}/{s['discovery_failure']:g} | {s['jwks_success']:g}/{s['jwks_failure']:g} | "
        f"{s['stale_serves']:g} | {s['reloads_success']:g}/{s['reloads_rejected']:g} | {s['generation']:g} |\n"
        for s in rows))

    tbl = ("## Descriptors and tasks\n\n| | descriptors | of which: " + " / ".join(FD_KINDS) + " | live tasks | threads | RSS MiB |\n|---|---|---|---|---|---|\n")
    peak = max(samples, key=lambda s: s["fds"]["total"])
    for name, s in (("idle baseline (before the soak)", base), (f"peak descriptors (t = {peak['t']:.0f} s)", peak),
                    (f"end ({end['after_load_s']:.1f} s after the load)", end),
                    ("after the upstream was stopped", raw["final"])):
        tbl += (f"| {name} | {s['fds']['total']} | {' / '.join(str(s['fds'][k]) for k in FD_KINDS)} | {s['tasks']:g} | "
                f"{s['threads']} | {s['rss_kib'] / 1024:.2f} |\n")
    L.append(tbl)
    L.append(f"Peak live tasks during the soak: {max(s['tasks'] for s in samples):g}; peak threads: "
             f"{max(s['threads'] for s in samples)}; VmHWM at the end: {raw['final']['hwm_kib'] / 1024:.2f} MiB. Upstream "
             "and authorization-server sockets are reqwest's pooled keep-alive connections (idle timeout 90 s), one "
             "connection task each; they are left out of the baseline comparison (at most 3 may stay to the authorization "
             "server: one per cache plus an unknown-kid refetch), and the upstream ones must close when the upstream is "
             "stopped at the end.\n")

    L.append("## Load segments\n\n| # | t s | s | token age s | requests | req/s | p50 µs | p99 µs | max ms | non-2xx | socket errors | timeouts |\n"
             "|---|---|---|---|---|---|---|---|---|---|---|---|\n" + "".join(
                 f"| {i + 1} | {s['t_start']:.0f} | {s['seconds']} | {s['token_age_s']:.0f} | {s['requests']} | {s['rps']:.0f} | "
                 f"{s['p50']:.0f} | {s['p99']:.0f} | {s['max'] / 1000:.1f} | {s['errors_status']} | "
                 f"{s['errors_connect'] + s['errors_read'] + s['errors_write']} | {s['errors_timeout']} |\n"
                 for i, s in enumerate(segments)))
    mx = max((s["max"] for s in segments), default=0) / 1000
    L.append(f"Slowest request: {mx:.1f} ms (fetch_timeout is {CACHE['fetch_timeout']}: "
             + ("no request waited for the authorization server" if mx < secs(CACHE["fetch_timeout"]) * 1000 else
                "**at least one request took longer than a fetch**") + ").\n")

    L.append("## Config rewrites\n\n| # | t s | AS | kind | mode | result |\n|---|---|---|---|---|---|\n" + "".join(
        f"| {x['k']} | {x['t']:.0f} | {'up' if x['as_up'] else 'down'} | "
        + (f"valid: override {json.dumps(x['override'])} | {x['mode']} | visible after "
           + (f"**{x['visible_ms']:.0f} ms**" if x["visible_ms"] is not None else "**never (5 s)**") + " |\n"
           if x["kind"] == "valid" else
           f"invalid: {x['invalid']} | {x['mode']} | rejected after "
           + (f"{x['rejected_ms']:.0f} ms" if x["rejected_ms"] is not None else "**not rejected within 5 s**")
           + f"; metadata {'kept the last good scopes' if x['prm_kept_good'] else '**changed**'}; /status `{x['status_result']}`: "
           f"{x['status_error'][:140].replace('|', '/')} |\n")
        for x in configs.writes))
    lat = []
    for label, xs in (("in place", [x for x in valid if x["mode"] == "in place"]), ("rename", [x for x in valid if x["mode"] == "rename"]),
                      ("AS up", [x for x in valid if x["as_up"]]), ("AS down", [x for x in valid if not x["as_up"]])):
        v = [x["visible_ms"] for x in xs if x["visible_ms"] is not None]
        if v:
            lat.append(f"{label}: median {bench.med(v):.0f} ms, max {max(v):.0f} ms ({len(v)})")
    L.append("Write → visible: " + "; ".join(lat) + ".\n")
    L.append(f"Reload counters over the run: success {final['reloads_success'] - base['reloads_success']:g}, "
             f"rejected {final['reloads_rejected'] - base['reloads_rejected']:g}, unchanged "
             f"{final['reloads_unchanged'] - base['reloads_unchanged']:g}; final generation {final['generation']:g}.\n")

    d = {k: final[k] - base[k] for k in ("discovery_success", "discovery_failure", "jwks_success", "jwks_failure",
                                          "stale_serves", "jwks_kid_miss")}
    att = d["discovery_success"] + d["discovery_failure"] + d["jwks_success"] + d["jwks_failure"]
    L.append("## Authorization-server refreshes\n\n"
             f"Over {load_end / 60:.1f} min with {len(downs)} down phases: discovery {d['discovery_success']:g} ok / "
             f"{d['discovery_failure']:g} failed (reasons: {json.dumps(final['discovery_failure_reasons'])}), JWKS "
             f"{d['jwks_success']:g} ok / {d['jwks_failure']:g} failed (of which unknown-kid refetches {d['jwks_kid_miss']:g}), "
             f"stale discovery serves {d['stale_serves']:g}. {att:g} fetch attempts = {att / (load_end / 60):.1f}/min "
             f"(healthy rate with ttl {CACHE['ttl']}: 2 caches × 15/min = 30/min); the schedule's maximum for these phases "
             f"is {attempt_bound(flapper.phases, duration)} (`attempt_bound` in soak.py).\n")

    L.append("## Probe bursts\n\n| kind | outcome | count |\n|---|---|---|\n" + "".join(
        f"| {k} | {o} | {v} |\n" for (k, o), v in sorted(prober.results.items(), key=str)))
    if prober.unexpected:
        L.append("Unexpected: " + "; ".join(f"t={x['t']} {x['kind']} → {x['outcome']}" for x in prober.unexpected[:10]) + "\n")
    if poller.errors:
        L.append("Metadata poll errors: " + "; ".join(f"t={x['t']} {x['status']} {x['scopes']}" for x in poller.errors[:10]) + "\n")
    if tokens_errors := raw["tokens"]["errors"]:
        L.append("Token mint errors: " + "; ".join(tokens_errors[:5]) + "\n")

    # What mcp-warden logged, grouped.
    groups = collections.Counter()
    levels = collections.Counter()
    for line in warden_stderr.splitlines():
        line = re.sub(r"\x1b\[[0-9;]*m", "", line)
        lv = re.match(r"\S+\s+(TRACE|DEBUG|INFO|WARN|ERROR)\s", line)
        levels[lv.group(1) if lv else "other"] += 1
        m = re.match(r"\S+\s+(WARN|ERROR)\s+(\S+?):\s+(.*)", line)
        if m:
            msg = re.sub(r"\s\w+=.*", "", m.group(3))[:120]
            groups[(m.group(1), m.group(2), msg)] += 1
    L.append("## What mcp-warden logged\n\n"
             f"{len(warden_stderr.splitlines())} lines ({len(warden_stderr.encode()) / 1024:.1f} KiB) on stderr at "
             f"`log.level = \"info\"`: " + ", ".join(f"{k} {v}" for k, v in sorted(levels.items())) + ". WARN and ERROR, "
             "grouped:\n\n| level | target | message | count |\n|---|---|---|---|\n" + "".join(
        f"| {l} | `{t}` | {msg.replace('|', '/')} | {n} |\n" for (l, t, msg), n in groups.most_common(15)) +
        ("" if groups else "| | | none | |\n"))

    L.append("## How to run\n\n```sh\nBENCH_WARDEN=/path/to/mcp-warden bench/soak.py [--minutes 10] [--out bench/SOAK.md] "
             "[--json bench/soak.json] [--delay-ms 5] [--segment 60] [--seed 10]\n```\n\n"
             "It needs wrk and `bench/target/release/hyper-upstream` (built by `bench/run.sh`), starts every process itself on "
             "127.0.0.1, stops them at the end, and exits 1 if any verdict fails.\n")
    with open(a.out, "w") as f:
        f.write("\n".join(L))
    if a.minutes >= 10 and os.path.abspath(a.out) == os.path.join(HERE, "SOAK.md"):
        bench.splice_into_benchmarks("bench/soak.py", "\n".join(L))


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    try:
        sys.exit(main())
    finally:
        bench.stop_all()
