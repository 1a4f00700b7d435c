//! Counter benchmarks, each against its baseline in the same run:
//! - `incr`: `Counters::incr` vs a bare `AtomicU64::fetch_add` (target: ratio <= 1.1);
//! - `neighbours`: 2 threads on neighbouring counters, padded vs unpadded
//!   (target: padded at least 2x faster);
//! - `contention`: 2 threads on one counter vs on their own shards.
//!
//! Run: `cargo bench -p raindrops-core --bench counters`

// criterion_group! generates an undocumented function.
#![allow(missing_docs)]

use std::hint::black_box;
use std::sync::Barrier;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::thread;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use raindrops_core::{Counter, CounterArray, CounterView, Counters, PaddedSlot, Sharded};

fn incr(c: &mut Criterion) {
    let mut g = c.benchmark_group("incr");
    static BARE: AtomicU64 = AtomicU64::new(0);
    g.bench_function("bare AtomicU64::fetch_add", |b| {
        b.iter(|| BARE.fetch_add(black_box(1), Relaxed))
    });
    static COUNTERS: Counters<4> = Counters::new();
    g.bench_function("Counters::incr", |b| {
        b.iter(|| COUNTERS.incr(black_box(2), black_box(1)))
    });
    let slots: Vec<PaddedSlot> = (0..4).map(|_| PaddedSlot::new(0)).collect();
    let view = CounterView::from_slots(&slots);
    g.bench_function("CounterView::incr", |b| {
        b.iter(|| view.incr(black_box(2), black_box(1)))
    });
    g.finish();
}

/// Runs `iters` calls of `work(thread_index)` on each of two threads at once
/// and returns the wall time of the slower one.
fn two_threads(iters: u64, work: &(dyn Fn(usize) + Sync)) -> Duration {
    let barrier = Barrier::new(2);
    let times: Vec<Duration> = thread::scope(|s| {
        let handles: Vec<_> = (0..2)
            .map(|t| {
                let barrier = &barrier;
                s.spawn(move || {
                    barrier.wait();
                    let start = Instant::now();
                    for _ in 0..iters {
                        work(t);
                    }
                    start.elapsed()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    times.into_iter().max().unwrap_or_default()
}

fn neighbours(c: &mut Criterion) {
    let mut g = c.benchmark_group("neighbours (2 threads)");
    // Two words on one cache line: each increment steals the line.
    #[repr(C, align(128))]
    struct Unpadded([AtomicUsize; 2]);
    let unpadded = Unpadded([AtomicUsize::new(0), AtomicUsize::new(0)]);
    g.bench_function("unpadded", |b| {
        b.iter_custom(|iters| {
            two_threads(iters, &|t| {
                unpadded.0[t].fetch_add(1, Relaxed);
            })
        })
    });
    let padded = Counters::<2>::new();
    g.bench_function("padded", |b| {
        b.iter_custom(|iters| {
            two_threads(iters, &|t| {
                let _ = padded.incr(t, 1);
            })
        })
    });
    g.finish();
}

fn contention(c: &mut Criterion) {
    let mut g = c.benchmark_group("contention (2 threads)");
    let one = Counter::new(0);
    g.bench_function("one shared counter", |b| {
        b.iter_custom(|iters| {
            two_threads(iters, &|_| {
                one.incr(1);
            })
        })
    });
    let slots = Counters::<2>::new();
    let sharded = Sharded::new(slots.as_slots());
    g.bench_function("sharded", |b| {
        b.iter_custom(|iters| {
            two_threads(iters, &|t| {
                if let Ok(s) = sharded.shard(t) {
                    s.incr(1);
                }
            })
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = incr, neighbours, contention
}
criterion_main!(benches);
