//! Uses the no_std crates of raindrops-rs from a `#![no_std]` staticlib.
#![no_std]

use core::panic::PanicInfo;

// Each no_std crate's session fills its module with calls into that crate.
mod diag;
mod http;
mod tcpinfo;

use raindrops_core::{Aggregate, CounterArray, Counters, ListenStats, Sharded};

raindrops_core::named_counters! {
    /// Named gauges in a no_std program.
    pub struct Gauges { calling, writing }
}

static COUNTERS: Counters<4> = Counters::new();
static GAUGES: Gauges = Gauges::new();

/// Exercises the core API; callable from C.
#[unsafe(no_mangle)]
pub extern "C" fn raindrops_nostd_check(v: usize) -> usize {
    let _ = COUNTERS.incr(0, v);
    let g = GAUGES.calling().enter();
    let sharded = Sharded::new(COUNTERS.as_slots());
    let mut agg = Aggregate::new();
    agg.push(v as u64);
    let total = ListenStats::new(1, 2).with_backlog(3).total();
    drop(g);
    sharded.sum() + agg.count() as usize + total as usize + GAUGES.writing().get()
}

#[cfg(target_has_atomic = "64")]
/// The atomic aggregate, where the target has 64-bit atomics.
#[unsafe(no_mangle)]
pub extern "C" fn raindrops_nostd_check_atomic(v: u64) -> u64 {
    static AGG: raindrops_core::AtomicAggregate = raindrops_core::AtomicAggregate::new();
    AGG.push(v);
    AGG.snapshot().count()
}

#[panic_handler]
fn panic(_: &PanicInfo<'_>) -> ! {
    loop {}
}
