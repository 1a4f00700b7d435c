//! `AtomicAggregate` read while writers push: what a snapshot promises (see
//! the type's docs) holds under real threads.
//!
//! Every sample pushed here is the same value, so a snapshot can be checked
//! against its own count: a consistent cut must equal `count` samples of it
//! exactly, and any snapshot must hold at least the counted samples and at
//! most those plus the pushes that were under way.

use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use raindrops_core::{Aggregate, AtomicAggregate};

/// Bounded in work and time so that a loaded machine only makes it shorter.
const SNAPSHOTS: u64 = 3_000_000;
const TIME: Duration = Duration::from_secs(4);

/// Sets the flag when dropped, so that writers stop even when the reader's
/// assertion unwinds out of `thread::scope` (which joins them first).
struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Checks one snapshot `a` of pushes of `v` only, taken with `after` the
/// count read once the snapshot was done and `writers` threads pushing.
/// Returns a description of the first broken promise.
fn check(a: &Aggregate, v: u64, consistent: bool, after: u64, writers: u64) -> Result<(), String> {
    let (v, v2) = (u128::from(v), u128::from(v) * u128::from(v));
    let n = u128::from(a.count());
    let most = u128::from(after + writers);
    let bucket = u128::from(a.buckets()[v.ilog2() as usize]);
    // The sum of squares saturates once it passes u128::MAX (4 samples of
    // 2^63): a bound that overflows is no bound.
    let squares_at_least = |k: u128| match (a.sum_of_squares(), k.checked_mul(v2)) {
        (Some(s), Some(b)) => s >= b,
        (None, _) => true,
        (Some(_), None) => false,
    };
    let squares_at_most = |k: u128| match (a.sum_of_squares(), k.checked_mul(v2)) {
        (Some(s), Some(b)) => s <= b,
        (Some(_), None) => true,
        (None, b) => b.is_none(),
    };
    if consistent {
        let exact = a.sum() == n * v
            && squares_at_least(n)
            && squares_at_most(n)
            && bucket == n
            && (n == 0 || (a.min(), a.max()) == (Some(v as u64), Some(v as u64)));
        if !exact {
            return Err(format!("consistent cut not exact: {a:?}"));
        }
    }
    // Every counted sample is in every field...
    if a.sum() < n * v || !squares_at_least(n) || bucket < n {
        return Err(format!("counted samples missing from a field: {a:?}"));
    }
    // ... and nothing beyond the pushes begun before the read ended.
    if a.sum() > most * v || !squares_at_most(most) || bucket > most {
        return Err(format!("more than {most} samples: {a:?}"));
    }
    Ok(())
}

/// The case that tore the lo/hi sum (issue 12): `1 << 63` carries out of the
/// low 64 bits on every second push, and one writer pushes without pause,
/// so no read is a consistent cut and every snapshot is a fallback.
#[test]
fn sum_never_goes_backwards_while_carrying() {
    const BIG: u64 = 1 << 63;
    let agg = AtomicAggregate::new();
    let stop = AtomicBool::new(false);
    let (mut snapshots, mut backwards, mut broken) = (0u64, 0u64, 0u64);
    let mut first_bad = None;
    thread::scope(|s| {
        s.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                for _ in 0..64 {
                    agg.push(BIG);
                }
            }
        });
        let _stop = StopOnDrop(&stop);
        let start = Instant::now();
        let (mut last_sum, mut last_count) = (0u128, 0u64);
        while snapshots < SNAPSHOTS && start.elapsed() < TIME {
            let a = agg.snapshot();
            snapshots += 1;
            if a.sum() < last_sum || a.count() < last_count {
                backwards += 1;
                first_bad.get_or_insert(format!("went back from {last_sum} to {a:?}"));
            }
            if let Err(e) = check(&a, BIG, false, agg.count(), 1) {
                broken += 1;
                first_bad.get_or_insert(e);
            }
            last_sum = a.sum();
            last_count = a.count();
        }
    });
    assert!(
        backwards == 0 && broken == 0,
        "in {snapshots} snapshots the sum or count went backwards {backwards} times and \
         {broken} broke a promise; first: {first_bad:?}"
    );
    // Quiescent: a consistent cut, exact.
    let a = agg.try_snapshot().expect("no push under way");
    check(&a, BIG, true, a.count(), 0).unwrap();
    assert!(a.count() > 0);
}

/// Four writers pushing a value whose sample and square carry between the
/// 48-bit words of the sums every few pushes, with pauses, and a reader taking both kinds of
/// snapshot: consistent cuts are exact, and some reads are consistent cuts.
#[test]
fn consistent_cuts_are_exact_under_four_writers() {
    const V: u64 = (1 << 47) + 12_345;
    const WRITERS: u64 = 4;
    let agg = AtomicAggregate::new();
    let stop = AtomicBool::new(false);
    let (mut reads, mut consistent) = (0u64, 0u64);
    thread::scope(|s| {
        for _ in 0..WRITERS {
            s.spawn(|| {
                while !stop.load(Ordering::Relaxed) {
                    for _ in 0..16 {
                        agg.push(V);
                    }
                    // Work between pushes, as in a server.
                    let t = Instant::now();
                    while t.elapsed() < Duration::from_micros(20) {
                        std::hint::spin_loop();
                    }
                }
            });
        }
        let _stop = StopOnDrop(&stop);
        let start = Instant::now();
        let mut last_sum = 0u128;
        while reads < SNAPSHOTS / 10 && start.elapsed() < TIME {
            reads += 1;
            let (a, is_cut) = match agg.try_snapshot() {
                Some(a) => (a, true),
                None => (agg.snapshot(), false),
            };
            consistent += u64::from(is_cut);
            let after = agg.count();
            check(&a, V, is_cut, after, WRITERS).unwrap();
            assert!(a.sum() >= last_sum, "sum went back from {last_sum}: {a:?}");
            last_sum = a.sum();
        }
    });
    assert!(consistent > 0, "none of {reads} reads was a consistent cut");
    let a = agg.try_snapshot().expect("no push under way");
    check(&a, V, true, a.count(), 0).unwrap();
    eprintln!(
        "{consistent} of {reads} reads were consistent cuts; {} samples",
        a.count()
    );
}

/// Resets racing with pushes may forget parts of the pushes they overlap,
/// but leave no push counted as under way: once the writers stop, reads are
/// consistent cuts again, and a reset then forgets everything.
#[test]
fn racing_resets_leave_the_aggregate_usable() {
    let agg = AtomicAggregate::new();
    let stop = AtomicBool::new(false);
    thread::scope(|s| {
        for t in 0..2u64 {
            let agg = &agg;
            let stop = &stop;
            s.spawn(move || {
                let mut i = t;
                while !stop.load(Ordering::Relaxed) {
                    agg.push(i);
                    i = i.wrapping_mul(6364136223846793005).wrapping_add(1);
                }
            });
        }
        let _stop = StopOnDrop(&stop);
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(1) {
            agg.reset();
            let _ = agg.snapshot();
            thread::sleep(Duration::from_micros(100));
        }
    });
    assert!(
        agg.try_snapshot().is_some(),
        "a push still counted as under way"
    );
    agg.reset();
    for v in [5, 7, 9] {
        agg.push(v);
    }
    let a = agg.try_snapshot().unwrap();
    assert_eq!(
        (a.count(), a.sum(), a.min(), a.max()),
        (3, 21, Some(5), Some(9))
    );
    assert_eq!(a.sum_of_squares(), Some(25 + 49 + 81));
}
