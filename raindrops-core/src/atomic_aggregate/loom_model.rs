//! loom models of push, snapshot and reset: every interleaving within
//! loom's preemption bound, and every value that each relaxed load may
//! return.
//!
//! Run (a separate target directory keeps the normal build):
//!
//! ```text
//! RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom \
//!     cargo test -p raindrops-core --release --lib loom
//! ```
//!
//! The aggregate starts with one sample `FIRST` that leaves the low word
//! of the sum at `2^48 - 1`, so the next sample of 1 carries into the next
//! word; loom's cost grows with every location a model's writers touch,
//! so the models push few, equal samples. The lo/hi sum that this design
//! replaces fails the first model: a read between the two steps of the
//! carry saw a sum of `2^48 - 1 + 1 - 2^48 = 0` (then 2^64 too low).

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::vec::Vec;

use loom::sync::Arc;
use loom::thread;

use super::AtomicAggregate;
use crate::aggregate::Aggregate;

const FIRST: u64 = (1 << 48) - 1;
const F: u128 = FIRST as u128;

/// Runs `f` under loom with at most `preemptions` preemptions per
/// execution (unless `LOOM_MAX_PREEMPTIONS` says otherwise), and prints how
/// many executions it explored. The bounds below keep each model within
/// about 30 s on one core; one more multiplies that by 10 or more.
fn model(name: &str, preemptions: usize, f: impl Fn() + Sync + Send + 'static) {
    let runs = std::sync::Arc::new(AtomicUsize::new(0));
    let mut b = loom::model::Builder::new();
    if b.preemption_bound.is_none() {
        b.preemption_bound = Some(preemptions);
    }
    // A snapshot is ~90 atomic loads.
    b.max_branches = 100_000;
    let counter = runs.clone();
    b.check(move || {
        counter.fetch_add(1, Relaxed);
        f()
    });
    std::eprintln!("{name}: {} executions", runs.load(Relaxed));
}

fn prefilled() -> Arc<AtomicAggregate> {
    let agg = Arc::new(AtomicAggregate::new());
    agg.push(FIRST);
    agg
}

fn spawn_push(agg: &Arc<AtomicAggregate>, v: u64) -> thread::JoinHandle<()> {
    let agg = agg.clone();
    thread::spawn(move || agg.push(v))
}

/// `FIRST` and `ones` samples of 1, exactly.
fn assert_exact(a: &Aggregate, ones: u64) {
    let n = u128::from(ones);
    assert_eq!(a.count(), 1 + ones, "{a:?}");
    assert_eq!(
        (a.sum(), a.sum_of_squares()),
        (F + n, Some(F * F + n)),
        "{a:?}"
    );
    assert_eq!((a.buckets()[47], a.buckets()[0]), (1, ones), "{a:?}");
    let min = if ones > 0 { 1 } else { FIRST };
    assert_eq!((a.min(), a.max()), (Some(min), Some(FIRST)), "{a:?}");
}

/// One writer carries into the next word while the reader snapshots: the
/// sums are never torn (each is the sum before or after the push), every
/// counted sample is in every field, and a consistent cut is exact.
#[test]
fn loom_push_carry_and_snapshot() {
    model("push_carry_and_snapshot", 3, || {
        let agg = prefilled();
        let w = spawn_push(&agg, 1);
        let a = agg.snapshot();
        assert!(a.sum() == F || a.sum() == F + 1, "torn sum: {a:?}");
        let squares = a.sum_of_squares().unwrap();
        assert!(
            squares == F * F || squares == F * F + 1,
            "torn squares: {a:?}"
        );
        assert!(
            a.count() == 1 || (a.count() == 2 && a.sum() == F + 1),
            "{a:?}"
        );
        if let Some(c) = agg.try_snapshot() {
            assert_exact(&c, c.count() - 1);
        }
        w.join().unwrap();
        assert_exact(&agg.try_snapshot().expect("quiescent"), 1);
    });
}

/// Two writers and a reader: a read that calls itself a consistent cut is
/// exactly the aggregate of its count of samples.
#[test]
fn loom_two_writers_consistent_cut() {
    model("two_writers_consistent_cut", 3, || {
        let agg = prefilled();
        let writers: Vec<_> = (0..2).map(|_| spawn_push(&agg, 1)).collect();
        if let Some(a) = agg.try_snapshot() {
            assert_exact(&a, a.count() - 1);
        }
        for w in writers {
            w.join().unwrap();
        }
        assert_exact(&agg.try_snapshot().expect("quiescent"), 2);
    });
}

/// A reset racing with a push and a reader: a consistent cut is never a
/// mix of the state before the reset and after it, and once both are done
/// reads are consistent cuts again (the push overlapping the reset may be
/// partly forgotten). The sample before the reset is 0, which touches only
/// the count of low outliers: each location that both the reset and the
/// others write multiplies loom's work.
#[test]
fn loom_reset_racing_push() {
    model("reset_racing_push", 2, || {
        let agg = Arc::new(AtomicAggregate::new());
        agg.push(0);
        let w = spawn_push(&agg, 1);
        let r = {
            let agg = agg.clone();
            thread::spawn(move || agg.reset())
        };
        if let Some(a) = agg.try_snapshot() {
            assert_no_mix(&a);
        }
        w.join().unwrap();
        r.join().unwrap();
        let end = agg.try_snapshot().expect("no update under way");
        assert_no_mix(&end);
        assert!(end.count() <= 1 && end.outliers_low() == 0, "{end:?}");
    });
}

/// For [`loom_reset_racing_push`]: a consistent cut is either exactly the
/// state before the reset (the 0, and maybe the push of 1), or holds no
/// trace of the 0, only all or part of the push that overlapped the reset.
fn assert_no_mix(a: &Aggregate) {
    let state = (a.count(), a.sum(), a.outliers_low(), a.buckets()[0]);
    if a.outliers_low() > 0 || a.min() == Some(0) {
        assert!(state == (1, 0, 1, 0) || state == (2, 1, 1, 1), "{a:?}");
        assert_eq!(a.min(), Some(0));
    } else {
        assert!(
            a.count() <= 1 && a.sum() <= 1 && a.buckets()[0] <= 1,
            "{a:?}"
        );
    }
}
