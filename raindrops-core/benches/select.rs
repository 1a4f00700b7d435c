//! Listener selection over a sample of 1,000 listeners (TCP on ports
//! inside and outside the ephemeral range, IPv4 and IPv6, and Unix
//! sockets), against the baseline of parsing each TCP name once, the
//! least any selection by port must do.
//!
//! Run: `cargo bench -p raindrops-core --bench select`

// criterion_group! generates an undocumented function.
#![allow(missing_docs)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use raindrops_core::{
    Family, ListenStats, Listener, PortRange, Selection, Selector, parse_tcp_addr,
};

fn listeners() -> Vec<Listener<String>> {
    (0..1000u32)
        .map(|i| {
            let port = 1000 + (i * 97) % 64000;
            let (name, family) = match i % 4 {
                0 => (format!("0.0.0.0:{port}"), Family::Tcp4),
                1 => (format!("127.0.0.1:{port}"), Family::Tcp4),
                2 => (format!("[::1]:{port}"), Family::Tcp6),
                _ => (format!("/run/user/{i}/app.sock"), Family::Unix),
            };
            Listener::new(name, family, ListenStats::new(i, 0))
        })
        .collect()
}

fn select(c: &mut Criterion) {
    let ls = listeners();
    let mut g = c.benchmark_group("select 1000 listeners");
    g.bench_function("baseline: parse each TCP name", |b| {
        b.iter(|| {
            ls.iter()
                .filter(|l| l.family.is_tcp() && parse_tcp_addr(black_box(&l.name)).is_ok())
                .count()
        })
    });
    let eph = PortRange::new(32768, 60999);
    g.bench_function("default: the ephemeral-port rule", |b| {
        let sel = Selection::new().with_ephemeral(eph);
        b.iter(|| ls.iter().filter(|l| sel.selects(black_box(*l))).count())
    });
    let include = [
        Selector::parse(":8000-8100").unwrap(),
        Selector::parse("localhost:*").unwrap(),
        Selector::parse("/run/user/1*").unwrap(),
    ];
    let exclude = [
        Selector::parse(":22").unwrap(),
        Selector::parse("/run/user/*/app.sock").unwrap(),
    ];
    g.bench_function("3 includes, 2 excludes (with globs)", |b| {
        let sel = Selection::new()
            .with_include(&include)
            .with_exclude(&exclude)
            .with_ephemeral(eph);
        b.iter(|| ls.iter().filter(|l| sel.selects(black_box(*l))).count())
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = select
}
criterion_main!(benches);
