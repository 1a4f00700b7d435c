//! Many threads on shared counters: every increment lands, exactly.

use std::thread;

use raindrops_core::{
    AtomicAggregate, CounterArray, CounterView, Counters, PaddedSlot, Sharded, named_counters,
};

const THREADS: usize = 8;
const INCREMENTS: usize = 1_000_000;

#[test]
fn eight_threads_million_increments_each() {
    static C: Counters<2> = Counters::new();
    thread::scope(|s| {
        for t in 0..THREADS {
            s.spawn(move || {
                for _ in 0..INCREMENTS {
                    C.incr(t % 2, 1).unwrap();
                }
            });
        }
    });
    assert_eq!(C.get(0).unwrap() + C.get(1).unwrap(), THREADS * INCREMENTS);
    assert_eq!(C.get(0).unwrap(), THREADS / 2 * INCREMENTS);
}

#[test]
fn view_over_stack_slots_under_contention() {
    let slots: Vec<PaddedSlot> = (0..3).map(|_| PaddedSlot::new(0)).collect();
    let view = CounterView::from_slots(&slots);
    thread::scope(|s| {
        for _ in 0..THREADS {
            s.spawn(|| {
                for _ in 0..INCREMENTS / 10 {
                    view.incr(1, 3).unwrap();
                    view.decr(2, 1).unwrap();
                }
            });
        }
    });
    assert_eq!(view.get(1), Ok(THREADS * INCREMENTS / 10 * 3));
    // Decrements from 0 wrap like the C counters do.
    assert_eq!(
        view.get(2),
        Ok(0usize.wrapping_sub(THREADS * INCREMENTS / 10))
    );
    assert_eq!(view.get(0), Ok(0));
}

#[test]
fn gauges_return_to_zero() {
    named_counters! { struct Gauges { calling, writing } }
    static G: Gauges = Gauges::new();
    thread::scope(|s| {
        for _ in 0..THREADS {
            s.spawn(|| {
                for _ in 0..100_000 {
                    let _c = G.calling().enter();
                    let _w = G.writing().enter();
                }
            });
        }
    });
    assert_eq!((G.calling().get(), G.writing().get()), (0, 0));
}

#[test]
fn sharded_counts_every_worker() {
    static SLOTS: Counters<THREADS> = Counters::new();
    let sharded = Sharded::new(SLOTS.as_slots());
    thread::scope(|s| {
        for w in 0..THREADS {
            s.spawn(move || {
                let shard = sharded.shard(w).unwrap();
                for _ in 0..INCREMENTS {
                    shard.incr(1);
                }
            });
        }
    });
    assert_eq!(sharded.sum(), THREADS * INCREMENTS);
    assert!(sharded.values().all(|v| v == INCREMENTS));
}

#[test]
fn atomic_aggregate_exact_under_eight_threads() {
    static AGG: AtomicAggregate = AtomicAggregate::new();
    const PER: u64 = 200_000;
    thread::scope(|s| {
        for t in 0..THREADS as u64 {
            s.spawn(move || {
                for i in 0..PER {
                    // Large values make the low sum words carry.
                    AGG.push(t * PER + i + (1 << 40));
                }
            });
        }
    });
    let a = AGG.snapshot();
    let n = THREADS as u64 * PER;
    assert_eq!(a.count(), n);
    let expected_sum: u128 = (0..n as u128).map(|v| v + (1 << 40)).sum();
    assert_eq!(a.sum(), expected_sum);
    let expected_sq: u128 = (0..n as u128)
        .map(|v| (v + (1 << 40)) * (v + (1 << 40)))
        .sum();
    assert_eq!(a.sum_of_squares(), Some(expected_sq));
    assert_eq!(a.min(), Some(1 << 40));
    assert_eq!(a.max(), Some((1 << 40) + n - 1));
    assert_eq!(a.buckets()[40], n);
    // Population of 0..n shifted: variance is n(n+1)/12.
    let var = a.variance().unwrap();
    let expected = (n as f64) * (n as f64 + 1.0) / 12.0;
    assert!(
        (var - expected).abs() / expected < 1e-9,
        "{var} vs {expected}"
    );
}
