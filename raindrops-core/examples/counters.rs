//! Named gauges, a sharded counter and an aggregate, updated by threads.
//!
//! Run with `cargo run -p raindrops-core --example counters`. The same types
//! work across forked processes when their memory comes from raindrops-shm.

use std::thread;

use raindrops_core::{AtomicAggregate, Counters, Sharded};

raindrops_core::named_counters! {
    /// Gauges of a web application.
    pub struct Stats {
        /// Requests inside the application now.
        calling,
        /// Responses still being written.
        writing,
        /// Requests served in all.
        served,
    }
}

static STATS: Stats = Stats::new();
static PER_WORKER: Counters<4> = Counters::new();
static LATENCY_US: AtomicAggregate = AtomicAggregate::new();

fn main() {
    let requests = Sharded::new(PER_WORKER.as_slots());
    thread::scope(|s| {
        for worker in 0..requests.workers() {
            s.spawn(move || {
                for i in 0..10_000u64 {
                    let _calling = STATS.calling().enter();
                    STATS.served().incr(1);
                    if let Ok(shard) = requests.shard(worker) {
                        shard.incr(1);
                    }
                    LATENCY_US.push(50 + (i * 7919 + worker as u64 * 31) % 900);
                }
            });
        }
    });

    for (name, value) in STATS.iter() {
        println!("{name}: {value}");
    }
    println!(
        "requests per worker: {:?}",
        requests.values().collect::<Vec<_>>()
    );
    println!("requests summed over shards: {}", requests.sum());
    let agg = LATENCY_US.snapshot();
    println!(
        "latency us: count={} min={:?} max={:?} mean={:.1} std_dev={:.1}",
        agg.count(),
        agg.min(),
        agg.max(),
        agg.mean().unwrap_or(0.0),
        agg.std_dev().unwrap_or(0.0)
    );
    for b in agg.histogram().filter(|b| b.count > 0) {
        println!("  [{:>4}, {:>4}) {}", b.low, b.low * 2, b.count);
    }
}
