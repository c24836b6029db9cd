#!/usr/bin/env bash
# mcp-warden benchmarks (issue 9): one entry point, not part of the test command.
#
#   bench/run.sh [--quick] [--only 1,2,...] [--rounds N] [--duration S]
#   bench/run.sh --soak [--minutes N]     (the 10-minute soak: bench/soak.py)
#
# Installs the load generators if missing (Debian `wrk`, `hey`; as root),
# builds mcp-warden and the benchmark peers in release mode, then runs
# bench/bench.py, which starts everything itself on 127.0.0.1 and writes
# bench/RESULTS.md (and bench/results.json with every run's raw figures).
set -euo pipefail
export BENCH_T0=$(date +%s.%N)
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
cd "$root"

missing=()
for tool in wrk hey; do command -v "$tool" >/dev/null || missing+=("$tool"); done
if ((${#missing[@]})); then
  if [[ $(id -u) == 0 ]]; then
    echo "installing ${missing[*]} (apt-get)" >&2
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "missing ${missing[*]}: run  sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi

echo "building mcp-warden (release)" >&2
cargo build --release --quiet
# A private copy: other work may rebuild target/release while this runs.
mkdir -p "$here/target/bin"
cp target/release/mcp-warden "$here/target/bin/mcp-warden"
echo "building the benchmark peers (bench/helpers, target dir bench/target)" >&2
CARGO_TARGET_DIR="$here/target" cargo build --release --quiet --manifest-path "$here/helpers/Cargo.toml"

# The Python MCP peer (row 1): the test suite's venv, else a venv of our own
# from the same pinned requirements; row 1 is skipped if neither works.
if [[ ! -x tests/peers/.venv/bin/python && ! -x "$here/.venv/bin/python" && -f tests/peers/requirements.txt ]]; then
  echo "installing the Python MCP peer into bench/.venv" >&2
  if ! { python3 -m venv "$here/.venv" && "$here/.venv/bin/pip" install -q -r tests/peers/requirements.txt; } >&2; then
    echo "could not install the Python MCP peer: row 1 will be skipped" >&2
    rm -rf "$here/.venv"
  fi
fi

# 1,000 SSE streams through the gateway need ≈ 2,000 descriptors in it.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
if [[ ${1:-} == --soak ]]; then
  shift
  exec python3 "$here/soak.py" "$@"
fi
exec python3 "$here/bench.py" "$@"
