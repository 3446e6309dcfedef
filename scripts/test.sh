#!/usr/bin/env bash
# Runs the whole test suite: unit, behaviour, property and doc tests (and builds every
# example), then the shuttle models (the public API's races in tests/shuttle.rs, and the
# crate-internal ones of the task cell and the intake seal): a second build with shuttle's
# primitives swapped in, in its own target dir; then the loom models of the fast lanes' ring
# and of the park/wake handshake (src/fast/loom_model.rs), under loom's weak memory model (a
# third build, in release: loom explores many interleavings; a few seconds).
set -euo pipefail
cd "$(dirname "$0")/.."

cargo test --workspace
RUSTFLAGS="--cfg workpool_shuttle" cargo test -p workpool --test shuttle --target-dir target/shuttle
RUSTFLAGS="--cfg workpool_shuttle" cargo test -p workpool --lib --target-dir target/shuttle shuttle_model
RUSTFLAGS="--cfg workpool_loom" cargo test -p workpool --lib --release --target-dir target/loom loom_model
