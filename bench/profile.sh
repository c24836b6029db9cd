#!/usr/bin/env bash
# CPU profile of mcp-warden vs the bare warp+reqwest proxy under the same load
# (wrk -t2 -c32, authenticated tools/call, trivial hyper upstream), normalised
# per request: bench/profile.txt. Needs `perf` (Debian linux-perf) and what
# bench/run.sh builds (run it, or its build steps, first).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
command -v perf >/dev/null || { [[ $(id -u) == 0 ]] && apt-get install -y -qq linux-perf >/dev/null; }
freq=${FREQ:-2000}
secs=${SECS:-6}
conns=${CONNS:-32}
threads=$(( conns == 1 ? 1 : 2 ))
work=$(mktemp -d /tmp/warden-profile-XXXXXX)
python3 "$here/bench.py" --serve >"$work/serve.json" 2>"$work/serve.err" &
serve=$!
trap 'kill $serve 2>/dev/null; wait $serve 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 100); do [[ -s "$work/serve.json" ]] && break; sleep 0.1; done
get() { python3 -c "import json,sys; print(json.load(open('$work/serve.json'))['$1'])"; }
export BENCH_TOKEN=$(get token)
declare -A reqs
for who in bare warden; do
  url=$(get "$who"); pid=$(get "${who}_pid")
  wrk -t$threads -c$conns -d3s -s "$here/lua/bench.lua" "$url" >/dev/null   # warm-up
  perf record -F "$freq" -g --call-graph dwarf,16384 -p "$pid" -o "$work/$who.data" -- sleep $((secs + 1)) >/dev/null 2>&1 &
  rec=$!
  sleep 0.3
  reqs[$who]=$(wrk -t$threads -c$conns -d${secs}s -s "$here/lua/bench.lua" "$url" | sed -nE 's/.*"requests":([0-9]+).*/\1/p')
  wait $rec
  perf script -i "$work/$who.data" 2>/dev/null >"$work/$who.txt"
done
{
  echo "# perf profile: bare proxy vs mcp-warden, wrk -t$threads -c$conns ${secs}s each ($(date -u '+%F %T UTC'))"
  echo "# requests during the profile: bare ${reqs[bare]}, mcp-warden ${reqs[warden]}"
  python3 "$here/perfcmp.py" "$freq" "$work/bare.txt" "${reqs[bare]}" "$work/warden.txt" "${reqs[warden]}"
} | tee "$here/profile-c$conns.txt"

# The 401 path (no token), mcp-warden alone: bench/profile-401.txt
unset BENCH_TOKEN
url=$(get warden); pid=$(get warden_pid)
wrk -t2 -c32 -d2s -s "$here/lua/bench.lua" "$url" >/dev/null
perf record -F "$freq" -g --call-graph dwarf,16384 -p "$pid" -o "$work/401.data" -- sleep $((secs + 1)) >/dev/null 2>&1 &
rec=$!
sleep 0.3
n=$(wrk -t2 -c32 -d${secs}s -s "$here/lua/bench.lua" "$url" | sed -nE 's/.*"requests":([0-9]+).*/\1/p')
wait $rec
perf script -i "$work/401.data" 2>/dev/null >"$work/401.txt"
{
  echo "# perf profile: mcp-warden's 401 challenge path, wrk -t2 -c32 ${secs}s ($(date -u '+%F %T UTC')), $n requests"
  python3 "$here/perfcmp.py" --challenge "$freq" "$work/401.txt" "$n"
} | tee "$here/profile-401.txt"
