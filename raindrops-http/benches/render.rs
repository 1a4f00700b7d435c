//! Rendering a 100-listener page into a reused buffer, each format, next
//! to a naive `format!`-per-line `String` renderer of the same text (the
//! way the Ruby middleware builds its body) as the baseline.
//!
//! Run: `cargo bench -p raindrops-http --bench render`
#![allow(missing_docs)] // criterion_group! generates undocumented items

use std::fmt::Write as _;
use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use raindrops_core::{Family, ListenStats, Listener};
use raindrops_http::{
    Snapshot, render_json, render_middleware_text, render_openmetrics, render_prometheus,
};

type Table = Vec<Listener<String>>;

/// 100 listeners: TCP ones first, then Unix ones.
fn listeners() -> Table {
    let mut tcp = Vec::new();
    let mut unix = Vec::new();
    for i in 0..100u32 {
        if i % 4 == 3 {
            unix.push(Listener::new(
                format!("/run/app/worker-{i}.sock"),
                Family::Unix,
                ListenStats::new(i, 1),
            ));
        } else {
            tcp.push(Listener::new(
                format!("10.0.{}.{}:{}", i / 7, i % 250, 8000 + i),
                Family::Tcp4,
                ListenStats::new(i, i % 9)
                    .with_backlog(1024)
                    .with_drops(u64::from(i) * 1000)
                    .with_syn_recv(i % 3),
            ));
        }
    }
    tcp.extend(unix);
    tcp
}

/// The baseline: a fresh `String` per page, `format!` per line, escaping
/// with `replace` (allocating), as straightforward code would.
fn naive_middleware(calling: usize, writing: usize, all: &[Listener<String>]) -> String {
    let mut body = format!("calling: {calling}\nwriting: {writing}\n");
    for l in all {
        let (addr, s) = (&l.name, &l.stats);
        body += &format!("{addr} active: {}\n{addr} queued: {}\n", s.active, s.queued);
    }
    body
}

fn naive_prometheus(calling: usize, writing: usize, all: &[Listener<String>]) -> String {
    let esc = |s: &str| {
        s.replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n")
    };
    let mut out = String::new();
    out += &format!(
        "# HELP raindrops_calling Requests.\n# TYPE raindrops_calling gauge\nraindrops_calling {calling}\n"
    );
    out += &format!(
        "# HELP raindrops_writing Responses.\n# TYPE raindrops_writing gauge\nraindrops_writing {writing}\n"
    );
    type Pick = fn(&ListenStats) -> Option<u64>;
    let fams: [(&str, &str, Pick); 5] = [
        ("raindrops_listener_active", "gauge", |s| {
            Some(u64::from(s.active))
        }),
        ("raindrops_listener_queued", "gauge", |s| {
            Some(u64::from(s.queued))
        }),
        ("raindrops_listener_backlog", "gauge", |s| {
            s.backlog.map(u64::from)
        }),
        ("raindrops_listener_syn_recv", "gauge", |s| {
            s.syn_recv.map(u64::from)
        }),
        ("raindrops_listener_drops_total", "counter", |s| s.drops),
    ];
    for (name, kind, pick) in fams {
        out += &format!("# HELP {name} Help.\n# TYPE {name} {kind}\n");
        for l in all {
            if let Some(v) = pick(&l.stats) {
                out += &format!(
                    "{name}{{listener=\"{}\",family=\"{}\"}} {v}\n",
                    esc(&l.name),
                    l.family
                );
            }
        }
    }
    out
}

fn bench(c: &mut Criterion) {
    let all = listeners();
    let source = Snapshot {
        calling: Some(3),
        writing: Some(1),
        listeners: &all,
        ..Snapshot::new()
    };
    let mut buf = String::with_capacity(64 * 1024);
    let mut g = c.benchmark_group("render_100_listeners");
    g.bench_function("middleware_text/ours_reused_buffer", |b| {
        b.iter(|| {
            buf.clear();
            render_middleware_text(black_box(&source), &mut buf).unwrap();
            black_box(buf.len())
        })
    });
    g.bench_function("middleware_text/naive_format_string", |b| {
        b.iter(|| black_box(naive_middleware(3, 1, black_box(&all))).len())
    });
    g.bench_function("prometheus/ours_reused_buffer", |b| {
        b.iter(|| {
            buf.clear();
            render_prometheus(black_box(&source), &mut buf).unwrap();
            black_box(buf.len())
        })
    });
    g.bench_function("prometheus/naive_format_string", |b| {
        b.iter(|| black_box(naive_prometheus(3, 1, black_box(&all))).len())
    });
    g.bench_function("openmetrics/ours_reused_buffer", |b| {
        b.iter(|| {
            buf.clear();
            render_openmetrics(black_box(&source), &mut buf).unwrap();
            black_box(buf.len())
        })
    });
    g.bench_function("json/ours_reused_buffer", |b| {
        b.iter(|| {
            buf.clear();
            render_json(black_box(&source), &mut buf).unwrap();
            black_box(buf.len())
        })
    });
    g.finish();
    // Keep the baseline honest: it renders the same middleware text.
    buf.clear();
    render_middleware_text(&source, &mut buf).unwrap();
    assert_eq!(buf, naive_middleware(3, 1, &all));
    let _ = write!(buf, "");
}

criterion_group!(benches, bench);
criterion_main!(benches);
