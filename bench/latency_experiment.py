#!/usr/bin/env python3
"""Where does mcp-warden's added latency at c=1 come from? Runs the bare
warp+reqwest proxy with one of mcp-warden's per-request costs switched on at a
time (`bare-proxy --with ...`) next to mcp-warden itself, interleaved, and
prints p50/p99 and the proxy's CPU per request. Needs what bench/run.sh builds.

    latency_experiment.py [ROUNDS] [SECONDS] [CONNS]
"""
import sys

import bench


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 4
    secs = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    conns = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    try:
        demo = bench.DemoAS()
        hyper = bench.start_hyper()
        w = bench.Warden("exp", demo, hyper.url)
        token = w.token()
        variants = {"direct": (hyper.url, None, hyper.pid)}
        for feat in ["", "timeout", "headers", "take-until", "timeout,headers,take-until"]:
            p = bench.Proc("bare", [bench.BARE, "--upstream", hyper.url, "--port", "0"] + (["--with", feat] if feat else []))
            port = int(p.wait_stdout(r'\{"port":(\d+)\}').group(1))
            variants["bare" + (" +" + feat if feat else "")] = (f"http://127.0.0.1:{port}/mcp", None, p.pid)
        variants["mcp-warden"] = (w.url, token, w.proc.pid)
        for name, (u, t, pid) in variants.items():
            bench.wrk(u, conns, 1, token=t)
        res = bench.rounds_of(list(variants), rounds,
                              lambda c: bench.wrk(variants[c][0], conns, secs, token=variants[c][1], cpu_pid=variants[c][2]))
        print(f"c={conns}, {rounds} rounds × {secs} s; medians (min–max)")
        print(f"{'configuration':40} {'p50 µs':>18} {'p99 µs':>20} {'CPU µs/req':>18} {'req/s':>20}")
        for c, xs in res.items():
            print(f"{c:40} {bench.spread([x['p50'] for x in xs]):>18} {bench.spread([x['p99'] for x in xs]):>20} "
                  f"{bench.spread([x['cpu_us_per_req'] for x in xs], '{:.1f}'):>18} {bench.spread([x['rps'] for x in xs]):>20}")
    finally:
        bench.stop_all()


if __name__ == "__main__":
    main()
