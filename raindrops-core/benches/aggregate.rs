//! Aggregate benchmarks against a single atomic add as the baseline:
//! `Aggregate::push` (plain), `AtomicAggregate::push` (lock-free, shared),
//! and `AtomicAggregate::snapshot` and `try_snapshot` (one read; with no
//! writer running, `snapshot` is one read too).
//!
//! Run: `cargo bench -p raindrops-core --bench aggregate`

// criterion_group! generates an undocumented function.
#![allow(missing_docs)]

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use raindrops_core::{Aggregate, AtomicAggregate};

fn push(c: &mut Criterion) {
    let mut g = c.benchmark_group("aggregate push");
    static BARE: AtomicU64 = AtomicU64::new(0);
    g.bench_function("bare AtomicU64::fetch_add", |b| {
        b.iter(|| BARE.fetch_add(black_box(1), Relaxed))
    });
    let mut plain = Aggregate::new();
    let mut v = 0u64;
    g.bench_function("Aggregate::push", |b| {
        b.iter(|| {
            v = v.wrapping_add(7919);
            plain.push(black_box(v & 0xffff));
        })
    });
    static ATOMIC: AtomicAggregate = AtomicAggregate::new();
    g.bench_function("AtomicAggregate::push", |b| {
        b.iter(|| {
            v = v.wrapping_add(7919);
            ATOMIC.push(black_box(v & 0xffff));
        })
    });
    // Snapshots are ~640-byte values: black_box a reference, so that the
    // figure is the read and not a copy of the result out of the closure.
    g.bench_function("AtomicAggregate::snapshot", |b| {
        b.iter(|| black_box(&ATOMIC.snapshot()).count())
    });
    g.bench_function("AtomicAggregate::try_snapshot", |b| {
        b.iter(|| black_box(&ATOMIC.try_snapshot()).is_some())
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = push
}
criterion_main!(benches);
