//! Feeds a `WatcherState` a few rounds of (made-up) listener samples, then
//! prints the Watcher pages the router serves for them: the index, a
//! queued summary with its X- headers and text histogram, and tail lines.
//!
//! Run: `cargo run -p raindrops-http --example watcher --features alloc`

use std::time::Duration;

use raindrops_core::{Family, ListenStats, Listener};
use raindrops_http::{Body, Request, Router, Timestamp, WatcherState};

fn main() {
    let start = Timestamp::new(1_700_000_000, 0);
    let mut state = WatcherState::new(start, Duration::from_secs(1));
    // One round per second; a server would query raindrops-diag here.
    for i in 0..20u32 {
        let now = Timestamp::new(1_700_000_001 + i64::from(i), 0);
        state.record(
            now,
            [
                Listener::new(
                    "0.0.0.0:8080",
                    Family::Tcp4,
                    ListenStats::new(10 + i % 4, (i * 7) % 13).with_drops(u64::from(i / 5)),
                ),
                Listener::new("/run/app.sock", Family::Unix, ListenStats::new(2, i % 2)),
            ],
        );
    }
    let router = Router::new().hostname("example");
    for target in [
        "/",
        "/queued/0.0.0.0%3A8080.txt",
        "/tail/0.0.0.0%3A8080.txt?queued_min=2",
    ] {
        let mut body = String::new();
        let res = router
            .handle(&Request::new("GET", target), &mut state, &mut body)
            .expect("a String never fails");
        println!("=== GET {target}\n{} {}", res.status, res.reason());
        for h in res.headers.iter() {
            println!("{}: {}", h.name, h.value);
        }
        println!();
        match res.body {
            Body::Tail(tail) => {
                // A server writes a line after each new sample.
                let mut line = String::new();
                tail.write_line(&state, &mut line)
                    .expect("a String never fails");
                print!("{line}");
            }
            _ => println!("{body}"),
        }
    }
}
