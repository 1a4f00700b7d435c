//! Rendering a 100-listener page into a reused buffer allocates nothing:
//! a counting global allocator watches this thread while every format is
//! rendered a second time (the first render sizes the buffer), directly
//! and through the router.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::fmt::Write as _;

use raindrops_core::{Aggregate, Family, ListenStats, Listener};
use raindrops_http::{
    Histogram, Metric, MetricKind, Request, Router, Snapshot, render_json, render_middleware_text,
    render_openmetrics, render_prometheus,
};

struct Counting;

thread_local! {
    static WATCHING: Cell<bool> = const { Cell::new(false) };
    static ALLOCS: Cell<usize> = const { Cell::new(0) };
}

fn note() {
    // `try_with`: the thread-locals may be gone while a thread exits.
    let _ = WATCHING.try_with(|w| {
        if w.get() {
            let _ = ALLOCS.try_with(|a| a.set(a.get() + 1));
        }
    });
}

// SAFETY: every method forwards to the system allocator unchanged; the
// counting touches only const-initialised thread-locals, which allocate
// nothing.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note();
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations(f: impl FnOnce()) -> usize {
    ALLOCS.with(|a| a.set(0));
    WATCHING.with(|w| w.set(true));
    f();
    WATCHING.with(|w| w.set(false));
    ALLOCS.with(|a| a.get())
}

#[test]
fn hundred_listeners_render_without_allocating() {
    let names: Vec<String> = (0..100)
        .map(|i| {
            if i % 4 == 3 {
                format!("/run/app/worker-{i}.sock")
            } else {
                format!("10.0.{}.{}:{}", i / 7, i % 250, 8000 + i)
            }
        })
        .collect();
    let tcp: Vec<Listener<&str>> = names
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 4 != 3)
        .map(|(i, n)| {
            let i = i as u32;
            Listener::new(
                n.as_str(),
                if n.starts_with('[') {
                    Family::Tcp6
                } else {
                    Family::Tcp4
                },
                ListenStats::new(i, i % 9)
                    .with_backlog(1024)
                    .with_drops(u64::from(i) * 1000)
                    .with_syn_recv(i % 3),
            )
        })
        .collect();
    let mut listeners = tcp;
    listeners.extend(
        names
            .iter()
            .enumerate()
            .filter(|(i, _)| i % 4 == 3)
            .map(|(i, n)| Listener::new(n.as_str(), Family::Unix, ListenStats::new(i as u32, 1))),
    );
    let agg: Aggregate = (0..1000u64).map(|i| i % 37).collect();
    let hist = [Histogram {
        name: "app_queue_length",
        help: "Sampled queue length.",
        labels: &[("listener", "10.0.0.0:8000")],
        aggregate: &agg,
        fixed: None,
    }];
    let metrics = [Metric::new("app_jobs", "Jobs.", MetricKind::Counter, 12)];
    let mut source = Snapshot {
        calling: Some(3),
        writing: Some(1),
        listeners: &listeners,
        metrics: &metrics,
        histograms: &hist,
        ..Snapshot::new()
    };
    let mut buf = String::new();
    let all = |buf: &mut String, source: &mut Snapshot<'_, &str>| {
        for f in [
            render_middleware_text::<_, String>,
            render_prometheus::<_, String>,
            render_openmetrics::<_, String>,
            render_json::<_, String>,
        ] {
            buf.clear();
            f(source, buf).unwrap();
        }
        let router = Router::new();
        for (path, accept) in [
            ("/_raindrops", None),
            ("/_raindrops", Some("application/json")),
            ("/metrics", Some("application/openmetrics-text")),
            ("/metrics", None),
            ("/nope", None),
        ] {
            buf.clear();
            let req = Request::new("GET", path).with_accept(accept);
            let res = router.handle(&req, source, buf).unwrap();
            assert!(res.status == 200 || res.status == 404);
            let head = Request::new("HEAD", path).with_accept(accept);
            router.handle(&head, source, buf).unwrap();
        }
    };
    // First pass sizes the buffer (the largest body is the JSON).
    all(&mut buf, &mut source);
    buf.reserve(64 * 1024);
    let n = allocations(|| all(&mut buf, &mut source));
    assert_eq!(n, 0, "allocations while rendering into a reused buffer");
    // The watcher really counts.
    let n = allocations(|| {
        let mut s = String::new();
        write!(s, "{}", 12345).unwrap();
    });
    assert!(n > 0);
}
