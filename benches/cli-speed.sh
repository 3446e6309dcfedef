#!/usr/bin/env bash
# Speed of `workpool run` against `xargs -P` and GNU parallel: 2,000 `true` commands, two at a
# time, each run through `sh -c` by all three. Timed with hyperfine; not a test.
#
# Needs hyperfine and GNU parallel, from Debian's packages:
#     apt-get install -y hyperfine parallel
#
# Usage: benches/cli-speed.sh            (RUNS=N to change the number of timed runs, default 5)
# Targets: workpool at least 0.9x the throughput of xargs -P 2, and at least 5x GNU parallel's.
set -euo pipefail
cd "$(dirname "$0")/.."

for tool in hyperfine parallel; do
    if ! command -v "$tool" >/dev/null; then
        echo "cli-speed.sh needs $tool: apt-get install -y hyperfine parallel" >&2
        exit 1
    fi
done

cargo build --release --quiet -p workpool-cli
bin="$PWD/target/release/workpool"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
seq 2000 | sed "s/.*/true/" >"$tmp/jobs.txt"

hyperfine --warmup 1 --runs "${RUNS:-5}" --export-csv "$tmp/times.csv" \
    -n workpool "$bin run -j 2 --quiet -a $tmp/jobs.txt" \
    -n xargs "xargs -P 2 -I{} sh -c {} <$tmp/jobs.txt" \
    -n parallel "parallel --will-cite -j 2 <$tmp/jobs.txt"

# Throughput ratios from the mean times (a ratio above 1 means workpool is faster).
awk -F, '
    NR > 1 { mean[$1] = $2 }
    END {
        printf "workpool vs xargs -P 2:   %.2fx the throughput (target >= 0.9x)\n", mean["xargs"] / mean["workpool"]
        printf "workpool vs parallel -j 2: %.1fx the throughput (target >= 5x)\n", mean["parallel"] / mean["workpool"]
    }' "$tmp/times.csv"
