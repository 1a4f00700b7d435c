#![no_main]
//! raindrops-http's router on arbitrary requests: any method, path, query,
//! Accept and Referer must give a well-formed answer (a known status, header
//! names that are tokens, values without control characters,
//! Content-Length equal to the body written, no body for HEAD), never a
//! panic. The source is a fixed watcher (implemented here: the crate's
//! `WatcherState` needs the `alloc` feature) so every route is reachable.
//!
//! Input: five fields separated by 0xFF bytes (method, path with query,
//! Accept, Referer, a selector byte); see corpus/http_router for seeds.

use core::ops::ControlFlow;
use core::time::Duration;

use libfuzzer_sys::fuzz_target;
use raindrops_core::{Aggregate, Family, ListenStats, Listener};
use raindrops_http::{
    Body, ChartPoint, ChartVisitor, ListenerVisitor, Request, Router, StatsSource, Summary,
    Timestamp, Watcher, Which,
};

struct Fixed {
    listeners: [Listener<&'static str>; 3],
    agg: Aggregate,
    resets: u32,
}

impl Watcher for Fixed {
    fn updated_at(&self) -> Timestamp {
        Timestamp::new(1_700_000_000, 5)
    }
    fn delay(&self) -> Duration {
        Duration::from_millis(1500)
    }
    fn sampled(&self, visit: &mut ListenerVisitor<'_>) -> ControlFlow<()> {
        for l in &self.listeners {
            visit(l)?;
        }
        ControlFlow::Continue(())
    }
    fn current(&self, addr: &str) -> Option<ListenStats> {
        self.listeners
            .iter()
            .find(|l| l.name == addr)
            .map(|l| l.stats)
    }
    fn summary(&self, addr: &str, _which: Which) -> Summary<'_> {
        Summary {
            updated_at: self.updated_at(),
            reset_at: Timestamp::new(1_600_000_000, 0),
            aggregate: &self.agg,
            current: self.current(addr).map_or(0, |s| u64::from(s.active)),
            first_peak_at: Timestamp::new(-5, 0),
            last_peak_at: Timestamp::new(i64::MAX, 0),
        }
    }
    fn reset(&mut self, addr: &str, _now: Option<Timestamp>) -> bool {
        self.resets += 1;
        self.current(addr).is_some()
    }
    /// Extremes for the charts: the widest time span, the largest counts.
    fn recent(&self, addr: &str, visit: &mut ChartVisitor<'_>) -> ControlFlow<()> {
        if self.current(addr).is_none() {
            return ControlFlow::Continue(());
        }
        for (secs, n, backlog) in [
            (i64::MIN, 0, None),
            (0, u32::MAX, Some(u32::MAX)),
            (i64::MAX, 1, Some(0)),
        ] {
            visit(&ChartPoint {
                at: Timestamp::new(secs, 0),
                active: n,
                queued: n,
                backlog,
            })?;
        }
        ControlFlow::Continue(())
    }
}

impl StatsSource for Fixed {
    fn calling(&self) -> Option<usize> {
        Some(usize::MAX)
    }
    fn listeners(&self, visit: &mut ListenerVisitor<'_>) -> ControlFlow<()> {
        Watcher::sampled(self, visit)
    }
    fn last_data_recv(&self) -> Option<&Aggregate> {
        Some(&self.agg)
    }
    fn watcher(&mut self) -> Option<&mut dyn Watcher> {
        Some(self)
    }
}

fuzz_target!(|data: &[u8]| {
    let mut fields = data
        .split(|&b| b == 0xff)
        .map(|f| core::str::from_utf8(f).unwrap_or("?"));
    let method = fields.next().unwrap_or("GET");
    let target = fields.next().unwrap_or("/");
    let accept = fields.next();
    let referer = fields.next();
    let mut source = Fixed {
        listeners: [
            Listener::new("/tmp/x y'<&>", Family::Unix, ListenStats::new(1, 2)),
            Listener::new(
                "127.0.0.1:8080",
                Family::Tcp4,
                ListenStats::new(3, 4).with_drops(5).with_backlog(6),
            ),
            Listener::new(
                "[::1]:1",
                Family::Tcp6,
                ListenStats::new(u32::MAX, u32::MAX),
            ),
        ],
        agg: [0u64, 1, 7, 1 << 40, u64::MAX].into_iter().collect(),
        resets: 0,
    };
    let req = Request::new(method, target)
        .with_accept(accept)
        .with_referer(referer)
        .with_now(Timestamp::new(i64::MIN, 0));
    let mut body = String::new();
    let res = Router::new()
        .hostname("fuzz<host>")
        .handle(&req, &mut source, &mut body)
        .expect("a String never fails");
    assert!(matches!(res.status, 200 | 302 | 400 | 404 | 405 | 503));
    assert!(!res.reason().is_empty());
    for h in res.headers.iter() {
        assert!(
            !h.name.is_empty()
                && h.name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        );
        let v = h.value.as_str();
        assert!(
            v.bytes().all(|b| b == b'\t' || (b >= 0x20 && b != 0x7f)),
            "{}: {v:?}",
            h.name
        );
        // No optional whitespace (SP, HTAB) around a field value; other
        // Unicode whitespace (U+0085 from a referer) is obs-text to HTTP.
        assert_eq!(v.trim_matches([' ', '\t']), v);
    }
    match &res.body {
        Body::Written { len } => {
            assert_eq!(*len, body.len());
            assert_eq!(
                res.headers.get("Content-Length"),
                Some(len.to_string().as_str())
            );
        }
        Body::Empty => assert!(method == "HEAD" && body.is_empty()),
        Body::Tail(tail) => {
            assert!(body.is_empty() && res.headers.get("Content-Length").is_none());
            let mut line = String::new();
            let _ = tail
                .write_line(&source, &mut line)
                .expect("a String never fails");
        }
    }
});
