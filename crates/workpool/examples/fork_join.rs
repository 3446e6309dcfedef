//! Fork-join on a pool: a parallel merge sort through `Pool::join`, a scope whose jobs
//! borrow disjoint chunks of one buffer, and recursion through `submit` and `Task::wait`
//! inside a job of a one-worker pool, which finishes because a waiting worker runs the
//! jobs it waits for.
//!
//! ```text
//! cargo run --release --example fork_join
//! ```

use std::time::Instant;

use workpool::Pool;

/// Sorts `v` with `buf` as scratch space, both halves in parallel above the cut-off.
fn merge_sort(pool: &Pool, v: &mut [u64], buf: &mut [u64]) {
    if v.len() <= 4096 {
        v.sort_unstable();
        return;
    }
    let mid = v.len() / 2;
    let (left, right) = v.split_at_mut(mid);
    let (buf_left, buf_right) = buf.split_at_mut(mid);
    pool.join(
        || merge_sort(pool, left, buf_left),
        || merge_sort(pool, right, buf_right),
    );
    // Merge the two sorted halves through the scratch buffer.
    buf.copy_from_slice(v);
    let (a, b) = buf.split_at(mid);
    let (mut i, mut j) = (0, 0);
    for slot in v.iter_mut() {
        if j >= b.len() || (i < a.len() && a[i] <= b[j]) {
            *slot = a[i];
            i += 1;
        } else {
            *slot = b[j];
            j += 1;
        }
    }
}

/// Counts the nodes of a binary tree of depth `depth`, one job per node, each waiting on
/// its children's jobs.
fn count_nodes(pool: &Pool, depth: u32) -> u64 {
    if depth == 0 {
        return 1;
    }
    let p = pool.clone();
    let left = pool
        .submit(move || count_nodes(&p, depth - 1))
        .expect("the pool is open");
    let right = count_nodes(pool, depth - 1);
    1 + left.wait().expect("the child job runs") + right
}

fn main() {
    let pool = Pool::new(std::thread::available_parallelism().map_or(2, |n| n.get()));

    // 1. join: a parallel merge sort of 2 million numbers.
    let mut rng = 0x2545_f491_4f6c_dd1d_u64;
    let mut v: Vec<u64> = (0..2_000_000)
        .map(|_| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        })
        .collect();
    let mut buf = vec![0; v.len()];
    let started = Instant::now();
    merge_sort(&pool, &mut v, &mut buf);
    assert!(v.windows(2).all(|w| w[0] <= w[1]));
    println!(
        "join:  sorted {} numbers in {:?}",
        v.len(),
        started.elapsed()
    );

    // 2. scope: jobs borrow disjoint chunks of one buffer; no Arc, no copy.
    let mut pixels = vec![10u8; 1 << 20];
    pool.scope(|s| {
        for chunk in pixels.chunks_mut(64 * 1024) {
            s.spawn(move || chunk.iter_mut().for_each(|p| *p = p.saturating_mul(2)));
        }
    });
    assert!(pixels.iter().all(|&p| p == 20));
    println!("scope: brightened {} pixels in 16 jobs", pixels.len());

    // 3. Waiting on your own pool from inside a job, on one worker: the waiting worker runs
    //    the job it waits for itself, so this finishes instead of hanging.
    let single = Pool::new(1);
    let p = single.clone();
    let nodes = single
        .submit(move || count_nodes(&p, 10))
        .expect("the pool is open")
        .wait()
        .expect("the root job runs");
    let report = single.shutdown();
    println!(
        "wait:  counted {nodes} tree nodes through {} nested jobs on a one-worker pool \
         ({} completed)",
        report.submitted, report.completed
    );
}
