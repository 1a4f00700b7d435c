//! Uses raindrops-http without std: every renderer writes into a fixed
//! buffer, and the router answers a request, with no allocator.

use core::fmt::Write;

use raindrops_core::{Aggregate, Family, ListenStats, Listener};
use raindrops_http::{
    Histogram, HistogramText, Request, Router, Snapshot, Timestamp, render_json,
    render_middleware_text, render_openmetrics, render_prometheus, write_tail_line,
};

/// Renders every format for fixed numbers and routes one request; returns
/// the total number of bytes written (0 if a buffer was too small).
#[unsafe(no_mangle)]
pub extern "C" fn raindrops_nostd_check_http(active: u32) -> usize {
    let listeners = [
        Listener::new(
            "127.0.0.1:8080",
            Family::Tcp4,
            ListenStats::new(active, 1).with_drops(2),
        ),
        Listener::new("/tmp/sock", Family::Unix, ListenStats::new(0, 0)),
    ];
    let mut agg = Aggregate::new();
    agg.push(u64::from(active));
    let hist = [Histogram {
        name: "queue",
        help: "Queue length.",
        labels: &[],
        aggregate: &agg,
        fixed: None,
    }];
    let mut source = Snapshot {
        calling: Some(1),
        writing: Some(0),
        listeners: &listeners,
        histograms: &hist,
        ..Snapshot::new()
    };
    let mut buf = heapless::String::<4096>::new();
    let mut total = 0;
    for format in 0..4 {
        buf.clear();
        let r = match format {
            0 => render_middleware_text(&source, &mut buf),
            1 => render_prometheus(&source, &mut buf),
            2 => render_openmetrics(&source, &mut buf),
            _ => render_json(&source, &mut buf),
        };
        if r.is_err() {
            return 0;
        }
        total += buf.len();
    }
    buf.clear();
    let _ = write!(buf, "{}", HistogramText(&agg));
    let _ = write_tail_line(&mut buf, Timestamp::new(0, 0), "127.0.0.1:8080", active, 1);
    total += buf.len();
    buf.clear();
    let req = Request::new("GET", "/metrics").with_accept(Some("application/openmetrics-text"));
    match Router::new().handle(&req, &mut source, &mut buf) {
        Ok(res) => total + usize::from(res.status),
        Err(_) => 0,
    }
}
