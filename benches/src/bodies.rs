//! The job bodies. Every subject runs exactly these, so differences in the tables are
//! differences between the pools.

use std::hint::black_box;
use std::time::{Duration, Instant};

use crate::Latch;

/// The tiny job: count the latch down, nothing else. Its closure is one `&'static`
/// pointer, so the per-job cost measured is the pool's.
#[inline]
pub fn tiny(latch: &'static Latch) {
    latch.count_down();
}

/// The typed job: a few arithmetic instructions on the job's index, returning a `u64`.
#[inline]
pub fn typed(i: u64) -> u64 {
    black_box(i)
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .rotate_left(17)
}

/// CPU work: `rounds` steps of a 64-bit LCG with a xor-shift, which the optimizer cannot
/// shortcut (each step depends on the last, and the result is observed).
#[inline]
pub fn burn(rounds: u64) -> u64 {
    let mut x = black_box(0x2545_F491_4F6C_DD1D_u64);
    for _ in 0..rounds {
        x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        x ^= x >> 33;
    }
    black_box(x)
}

/// The number of [`burn`] rounds that takes about `target` on this machine, on an
/// otherwise idle core (the best of several trials, so a preempted trial does not count).
pub fn calibrate_burn(target: Duration) -> u64 {
    const PROBE: u64 = 200_000;
    let best = (0..7)
        .map(|_| {
            let start = Instant::now();
            burn(PROBE);
            start.elapsed()
        })
        .min()
        .unwrap_or(Duration::from_millis(1));
    let per_round = best.as_secs_f64() / PROBE as f64;
    ((target.as_secs_f64() / per_round).round() as u64).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calibrated_burn_is_in_the_right_range() {
        let rounds = calibrate_burn(Duration::from_micros(10));
        assert!(rounds > 10, "{rounds} rounds for 10 µs is implausibly few");
        assert_eq!(burn(3), burn(3));
        assert_ne!(typed(1), typed(2));
    }
}
