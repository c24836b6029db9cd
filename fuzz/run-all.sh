#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 600) and records the
# executions and outcome of each in fuzz/last-run.txt.
set -uo pipefail
cd "$(dirname "$0")"
seconds=${1:-600}
: > last-run.txt
for target in $(RUSTC_BOOTSTRAP=1 cargo fuzz list); do
    log=/tmp/fuzz-$target.log
    RUSTC_BOOTSTRAP=1 cargo fuzz run -O "$target" "corpus/$target" -- \
        -max_total_time="$seconds" -rss_limit_mb=4096 -print_final_stats=1 >"$log" 2>&1
    status=$?
    runs=$(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2}')
    echo "$target: exit $status, $runs executions in ${seconds}s" | tee -a last-run.txt
done
