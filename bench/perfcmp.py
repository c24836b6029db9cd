#!/usr/bin/env python3
"""Compares `perf script` outputs of the bare proxy and mcp-warden taken under
the same load, normalised to CPU µs per request (samples / frequency /
requests). Used by bench/profile.sh.

    perfcmp.py FREQ BARE.txt BARE_REQUESTS WARDEN.txt WARDEN_REQUESTS
"""
import collections
import re
import sys


def load(path):
    samples, cur = [], None
    for line in open(path, errors="replace"):
        if not line.strip():
            if cur is not None:
                samples.append(cur)
            cur = None
            continue
        if line[0] not in " \t":
            cur = []
            continue
        m = re.match(r"\s*[0-9a-f]+ (.*?)(?:\+0x[0-9a-f]+)? \((.*)\)$", line.rstrip())
        if m and cur is not None:
            cur.append((m.group(1).replace(" (inlined)", ""), m.group(2)))
    if cur:
        samples.append(cur)
    return [s for s in samples if s]


GROUPS = [("mcp_warden", "mcp_warden"), ("moka", "moka"), ("crossbeam", "moka"), ("prometheus", "prometheus"),
          ("aws_lc", "aws-lc (SHA-256)"), ("tracing", "tracing"), ("httparse", "hyper"), ("hyper_util", "hyper"),
          ("hyper::", "hyper"), ("reqwest", "reqwest"), ("tower", "reqwest"), ("warp", "warp"), ("tokio", "tokio"),
          ("http::", "http (HeaderMap…)"), ("url::", "url/idna"), ("idna", "url/idna")]


def category(frames):
    sym, dso = frames[0]
    if "kernel" in dso:
        return "kernel"
    if re.search(r"malloc|free|memmove|memcpy|memset|unlink_chunk|realloc|memcmp|lll_lock", sym):
        return "libc malloc/memcpy"
    if "libc" in dso:
        return "libc other"
    for p, name in GROUPS:
        if p in sym:
            return name
    return "other Rust"


def children(samples, root, per):
    c, tot = collections.Counter(), 0
    for x in samples:
        syms = [f[0] for f in x]
        idx = [i for i, f in enumerate(syms) if re.search(root, f)]
        if not idx:
            continue
        i = max(idx)
        tot += 1
        c[syms[i - 1] if i > 0 else "(self)"] += 1
    return tot * per, [(k, v * per) for k, v in c.most_common(25)]


def main():
    freq = float(sys.argv[1])
    runs = {"bare": (load(sys.argv[2]), int(sys.argv[3])), "mcp-warden": (load(sys.argv[4]), int(sys.argv[5]))}
    per = {k: 1e6 / freq / n for k, (s, n) in runs.items()}
    print("CPU µs per request by where the sample landed (self time), perf at", int(freq), "Hz with DWARF call graphs")
    print("(perf's own overhead inflates every figure about equally; compare the columns)\n")
    cats = {k: collections.Counter(category(x) for x in s) for k, (s, n) in runs.items()}
    keys = sorted(set(cats["bare"]) | set(cats["mcp-warden"]), key=lambda k: -cats["mcp-warden"].get(k, 0))
    print(f"  {'':26} {'bare':>8} {'mcp-warden':>11} {'diff':>7}")
    tb, tw = len(runs["bare"][0]) * per["bare"], len(runs["mcp-warden"][0]) * per["mcp-warden"]
    print(f"  {'TOTAL':26} {tb:8.1f} {tw:11.1f} {tw - tb:+7.1f}")
    for k in keys:
        b, w = cats["bare"].get(k, 0) * per["bare"], cats["mcp-warden"].get(k, 0) * per["mcp-warden"]
        print(f"  {k:26} {b:8.1f} {w:11.1f} {w - b:+7.1f}")
    print()
    for name, root in (("bare", r"warp::filter::then::State<T,F> as core::future::future::Future>::poll"),
                       ("mcp-warden", r"^mcp_warden::gateway::authorize_and_forward")):
        tot, kids = children(runs[name][0], root, per[name])
        print(f"{name}: the request handler ({root.strip('^')}), inclusive {tot:.1f} µs per request; by direct callee:")
        for k, v in kids:
            if v >= 0.05:
                print(f"  {v:6.2f}  {k[:150]}")
        print()




def challenge_main(freq, path, requests):
    """Breakdown of mcp-warden's no-token 401 path (perfcmp.py --challenge FREQ FILE N)."""
    s = load(path)
    per = 1e6 / freq / requests
    cats = collections.Counter(category(x) for x in s)
    print(f"mcp-warden answering 401 (no token): {len(s) * per:.1f} µs CPU per request under perf")
    for k, v in cats.most_common():
        print(f"  {k:26} {v * per:6.2f}")
    for root in (r"^mcp_warden::gateway::authorize_and_forward", r"^mcp_warden::gateway::challenge_response"):
        tot, kids = children(s, root, per)
        print(f"\n{root.strip('^')}: inclusive {tot:.2f} µs per request; by direct callee:")
        for k, v in kids:
            if v >= 0.03:
                print(f"  {v:6.2f}  {k[:150]}")


if __name__ == "__main__":
    if sys.argv[1] == "--challenge":
        challenge_main(float(sys.argv[2]), sys.argv[3], int(sys.argv[4]))
    else:
        main()
