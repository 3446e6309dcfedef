#!/usr/bin/env bash
# Runs the workpool crate's tests under ThreadSanitizer and AddressSanitizer (with its leak
# checker), as design.md describes: stable Rust with RUSTC_BOOTSTRAP, std uninstrumented,
# and scripts/tsan.supp for std's own primitives. The crate's unsafe code lives in
# crates/workpool/src/queue/raw/; run this after changing it or the queues around it.
#
#   ./scripts/sanitize.sh           # both
#   ./scripts/sanitize.sh thread    # one of them
#
# Every test file under crates/workpool/tests runs under both, found by this script itself, so
# a new test file is never silently left out. Under TSan, the files in tsan_skip are left
# out: their jobs append to logs or send on channels kept under std primitives, which TSan
# cannot see (std is not instrumented), so every such access is reported. They run under
# ASan with the rest.
set -euo pipefail
cd "$(dirname "$0")/.."

target=x86_64-unknown-linux-gnu
export RUSTC_BOOTSTRAP=1
export TSAN_OPTIONS="halt_on_error=1 suppressions=$PWD/scripts/tsan.supp"
export ASAN_OPTIONS="detect_leaks=1"

tsan_skip=" periodic rate_limit retry "
tsan_tests=()
for file in crates/workpool/tests/*.rs; do
    name=$(basename "$file" .rs)
    case "$tsan_skip" in
        *" $name "*) echo "ThreadSanitizer leaves out tests/$name.rs (std primitives)" ;;
        *) tsan_tests+=("$name") ;;
    esac
done

for sanitizer in ${@:-thread address}; do
    echo "== $sanitizer sanitizer"
    if [ "$sanitizer" = thread ]; then
        tests=(--lib)
        for t in "${tsan_tests[@]}"; do tests+=(--test "$t"); done
    else
        tests=(--lib --tests)
        # The fuzz model's hostile payloads whose destructor panics twice are leaked on
        # purpose (unwind::forget_payload), and a capture whose destructor panics as its job
        # returns leaks the job's return value (rust-lang/rust#47949): both would read as
        # leaks here, so LeakSanitizer runs the model without those two categories.
        export FUZZ_OFF=payload_drop,capture_drop
    fi
    RUSTFLAGS="-Zsanitizer=$sanitizer -Cunsafe-allow-abi-mismatch=sanitizer" \
        cargo test -p workpool "${tests[@]}" --target "$target" --target-dir "target/san-$sanitizer"
done
