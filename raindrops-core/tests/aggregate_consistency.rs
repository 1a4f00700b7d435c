//! `AtomicAggregate` read while a writer pushes: the sum must never go
//! backwards, and a snapshot never counts a sample that its sum lacks.
//!
//! One writer pushes `1 << 63`, so the low 64 bits of the sum carry on every
//! second push: the moment a 128-bit sum is most easily torn.

use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use raindrops_core::AtomicAggregate;

const BIG: u64 = 1 << 63;
/// Bounded in work and time so that a loaded machine only makes it shorter.
const SNAPSHOTS: u64 = 3_000_000;
const TIME: Duration = Duration::from_secs(4);

#[test]
#[ignore = "fails on the lo/hi sum (issue 12); run with --ignored to see it"]
fn sum_never_goes_backwards_while_carrying() {
    let agg = AtomicAggregate::new();
    let stop = AtomicBool::new(false);
    let (mut snapshots, mut backwards, mut short) = (0u64, 0u64, 0u64);
    let mut first_bad = None;
    thread::scope(|s| {
        s.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                for _ in 0..64 {
                    agg.push(BIG);
                }
            }
        });
        let start = Instant::now();
        let mut last = 0u128;
        while snapshots < SNAPSHOTS && start.elapsed() < TIME {
            let a = agg.snapshot();
            snapshots += 1;
            if a.sum() < last {
                backwards += 1;
                first_bad.get_or_insert((last, a.sum(), a.count()));
            }
            // The writer counts a sample after adding it, so every counted
            // sample is in the sum.
            if a.sum() < u128::from(a.count()) * u128::from(BIG) {
                short += 1;
            }
            last = last.max(a.sum());
        }
        stop.store(true, Ordering::Relaxed);
    });
    assert!(
        backwards == 0 && short == 0,
        "in {snapshots} snapshots the sum went backwards {backwards} times and was \
         below count * 2^63 {short} times; first: {first_bad:?} (previous sum, sum, count)"
    );
}
