//! `incr` on a counter in shared memory against the same operation on a
//! `static` raindrops-core counter, in one run (target: ratio near 1); and
//! reading 1000 counters of a named region with a `RegionReader` (copies
//! with `pread`, safe against a shrink) against a mapped read-only
//! `Region`'s `snapshot` (the baseline, which a shrink turns into SIGBUS).
//!
//! Run: `cargo bench -p raindrops-shm --bench shm`

// criterion_group! generates an undocumented function.
#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use raindrops_core::{CounterArray, Counters};
use raindrops_shm::{Options, Region, RegionReader};

static STATIC: Counters<4> = Counters::new();

fn incr(c: &mut Criterion) {
    let anon = Region::anonymous(4).expect("anonymous region");
    let memfd = Region::memfd("raindrops-bench", 4).expect("memfd region");
    let ruby = Options::new()
        .ruby_stride()
        .anonymous(4)
        .expect("ruby-stride region");

    let mut g = c.benchmark_group("incr");
    g.bench_function("static Counters (baseline)", |b| {
        b.iter(|| STATIC.incr(black_box(1), 1))
    });
    g.bench_function("shm anonymous Region", |b| {
        b.iter(|| anon.incr(black_box(1), 1))
    });
    g.bench_function("shm memfd Region", |b| {
        b.iter(|| memfd.incr(black_box(1), 1))
    });
    g.bench_function("shm anonymous Region, Ruby stride", |b| {
        b.iter(|| ruby.incr(black_box(1), 1))
    });
    let slot = &anon.slots().expect("default stride")[1];
    g.bench_function("shm PaddedSlot handle", |b| {
        b.iter(|| black_box(slot).incr(1))
    });
    let static_slot = &STATIC.as_slots()[1];
    g.bench_function("static PaddedSlot handle (baseline)", |b| {
        b.iter(|| black_box(static_slot).incr(1))
    });
    g.finish();
}

fn read(c: &mut Criterion) {
    let name = format!("/raindrops-bench-read-{}", std::process::id());
    let region = Options::new()
        .unlink_on_drop(true)
        .create_named(&name, 1000)
        .expect("named region");
    for i in 0..1000 {
        let _ = region.set(i, i * 3);
    }
    let target = format!("shm:{name}");
    let mapped = Region::open_read_only(&target).expect("mapped reader");
    let reader = RegionReader::open(&target).expect("copying reader");
    let mut out = vec![0usize; 1000];

    let mut g = c.benchmark_group("read 1000 counters");
    g.bench_function("mapped Region::snapshot (baseline)", |b| {
        b.iter(|| mapped.snapshot(black_box(&mut out)))
    });
    g.bench_function("RegionReader::read", |b| {
        b.iter(|| reader.read(0, black_box(&mut out)))
    });
    g.bench_function("RegionReader::open + read", |b| {
        b.iter(|| RegionReader::open(&target).and_then(|r| r.read(0, black_box(&mut out))))
    });
    g.finish();
}

criterion_group!(benches, incr, read);
criterion_main!(benches);
