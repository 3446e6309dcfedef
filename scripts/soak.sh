#!/usr/bin/env bash
# The long reliability run (issue 14, "keep it so"): the soak example (10,000,000 jobs with
# random panics, cancels, priorities, retries, timeouts and resizes, through pools ended by
# each shutdown mode in turn, resident memory sampled), then a long run of the fuzz model
# (tests/fuzz_ops.rs). Prints the operations run, the cases and the findings; exits non-zero
# if either found anything.
#
#   scripts/soak.sh            about 10 minutes on a 2-core machine
#   scripts/soak.sh --quick    about 20 seconds
#
# Environment: CARGO (default cargo; e.g. CARGO=cargo-locked), SOAK_JOBS, SOAK_PHASES,
# SOAK_RSS_FACTOR, SOAK_SEED, SOAK_MIN_SECS (see examples/soak.rs; the full run soaks for at
# least 450 s), FUZZ_SECS (the fuzz run's length: 90 s, quick 15 s), FUZZ_OFF (hostile
# categories to leave out), FUZZ_SEED (see tests/fuzz_ops.rs).
set -uo pipefail
cd "$(dirname "$0")/.."

cargo=${CARGO:-cargo}
quick=0
soak_args=()
for arg in "$@"; do
    case "$arg" in
        --quick) quick=1 ;;
        *) soak_args+=("$arg") ;;
    esac
done
if [ "$quick" = 1 ]; then
    soak_args=(--quick "${soak_args[@]}")
    fuzz_secs=${FUZZ_SECS:-15}
else
    soak_args=(--min-secs "${SOAK_MIN_SECS:-450}" "${soak_args[@]}")
    fuzz_secs=${FUZZ_SECS:-90}
fi

log=$(mktemp -d)
trap 'rm -rf "$log"' EXIT
start=$(date +%s)

echo "== soak: $cargo run --release -p workpool --example soak -- ${soak_args[*]}"
$cargo run --release -q -p workpool --example soak -- "${soak_args[@]}" 2>&1 | tee "$log/soak"
soak_status=${PIPESTATUS[0]}

echo "== fuzz model: FUZZ_MAX_SECS=$fuzz_secs $cargo test --release -p workpool --test fuzz_ops"
# Shrinking is capped at a minute. The watchdog's bound stays the default (240 s): a case
# that rightly waits out a century of pool time takes up to about three minutes.
PROPTEST_CASES=1000000 FUZZ_MAX_SECS=$fuzz_secs FUZZ_SUMMARY=1 \
    FUZZ_HANG_SECS=${FUZZ_HANG_SECS:-240} PROPTEST_MAX_SHRINK_TIME=${PROPTEST_MAX_SHRINK_TIME:-60000} \
    $cargo test --release -q -p workpool --test fuzz_ops \
    -- --nocapture 2>&1 | tee "$log/fuzz" | grep -E '^fuzz_ops|broken promise|minimal case|HANG|panicked at'
fuzz_status=${PIPESTATUS[0]}

soak_ops=$(sed -n 's/^soak: operations \([0-9]*\).*/\1/p' "$log/soak" | tail -1)
soak_jobs=$(sed -n 's/.*jobs accepted \([0-9]*\).*/\1/p' "$log/soak" | tail -1)
soak_findings=$(sed -n 's/^soak: findings \([0-9]*\)/\1/p' "$log/soak" | tail -1)
fuzz_cases=$(sed -n 's/^fuzz_ops: cases \([0-9]*\).*/\1/p' "$log/fuzz" | tail -1)
fuzz_ops=$(sed -n 's/^fuzz_ops: cases [0-9]* operations \([0-9]*\).*/\1/p' "$log/fuzz" | tail -1)
fuzz_findings=$([ "$fuzz_status" = 0 ] && echo 0 || echo 1)

echo "== summary ($(($(date +%s) - start)) s)"
echo "soak:  operations ${soak_ops:-?}, jobs ${soak_jobs:-?}, findings ${soak_findings:-?} (exit $soak_status)"
grep -E '^soak: rss' "$log/soak" || true
echo "fuzz:  cases ${fuzz_cases:-?}, operations ${fuzz_ops:-?}, findings $fuzz_findings (exit $fuzz_status)"
if [ "$soak_status" != 0 ] || [ "$fuzz_status" != 0 ]; then
    echo "soak.sh: FINDINGS (see above)"
    exit 1
fi
echo "soak.sh: no findings"
