//! A pipeline of pools, as in the seeds: an I/O stage on a wide pool, a CPU stage on a
//! core-sized one, and an I/O stage again. Items flow through bounded buffers, a failing item
//! comes out with its index and stage, and per-stage stats show where the time went. A second
//! run over an endless source is cancelled midway, and every item it pulled is reported.
//!
//! Run with `cargo run -p workpool --example pipeline`.

// Tests and examples are not the library: they may name std's primitives (see clippy.toml).
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use std::thread::sleep;
use std::time::{Duration, Instant};

use workpool::{Pipeline, Pool};

/// Stands in for reading a file: waits like a disk or a network would, then returns 64 KiB.
/// File 7 is missing.
fn read(file: u32) -> Result<Vec<u8>, String> {
    sleep(Duration::from_millis(3));
    if file == 7 {
        return Err(format!("file-{file}.bin: no such file"));
    }
    let mut x = u64::from(file) * 2 + 1;
    Ok((0..64 * 1024)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect())
}

/// CPU work: FNV-1a over the bytes, several rounds (about a millisecond).
fn digest(bytes: Vec<u8>) -> (usize, u64) {
    let mut hash = 0xcbf2_9ce4_8422_2325_u64;
    for _ in 0..16 {
        for &b in &bytes {
            hash = (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    (bytes.len(), hash)
}

/// Stands in for writing the result somewhere.
fn store((len, hash): (usize, u64)) -> String {
    sleep(Duration::from_millis(1));
    format!("{len} bytes, digest {hash:016x}")
}

fn main() {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let io = Pool::builder()
        .workers(16)
        .thread_name("io")
        .build()
        .expect("an I/O pool");
    let cpu = Pool::builder()
        .workers(cores)
        .thread_name("cpu")
        .build()
        .expect("a CPU pool");

    let t0 = Instant::now();
    let mut run = Pipeline::new(0..24u32)
        .try_stage("read", &io, read)
        .stage("digest", &cpu, digest)
        .stage("store", &io, store)
        .run();
    for result in run.by_ref() {
        match result {
            Ok(line) => println!("{:>4} ms  {line}", t0.elapsed().as_millis()),
            Err(error) => println!("{:>4} ms  error: {error}", t0.elapsed().as_millis()),
        }
    }
    println!("\nstage    in  out  failed  busy      queue wait");
    for s in run.stats().stages {
        println!(
            "{:<7} {:>3}  {:>3}  {:>6}  {:>6.1} ms  {:>6.1} ms",
            s.name,
            s.items_in,
            s.items_out,
            s.failed,
            s.busy.as_secs_f64() * 1e3,
            s.queue_wait.as_secs_f64() * 1e3,
        );
    }

    // An endless source, cancelled from another thread after ten results: the source is
    // pulled no more, and every item already pulled still comes out, as a value or as
    // cancelled at the stage it did not run.
    let mut run = Pipeline::new(0u32..)
        .try_stage("read", &io, |file| read(file % 7 + 8))
        .stage("digest", &cpu, digest)
        .unordered()
        .run();
    let canceller = run.canceller();
    let first: Vec<_> = run.by_ref().take(10).collect();
    std::thread::spawn(move || canceller.cancel())
        .join()
        .expect("the canceller thread");
    let rest: Vec<_> = run.by_ref().collect();
    let cancelled = rest.iter().filter(|r| r.is_err()).count();
    let stats = run.stats();
    println!(
        "\ncancelled run: {} pulled, {} taken before the cancel, {} finished after it, {} \
         reported cancelled",
        stats.pulled,
        first.len(),
        rest.len() - cancelled,
        cancelled
    );
    assert_eq!(stats.pulled as usize, first.len() + rest.len());
}
