//! Lock-free statistics for preforking (and any) servers: the `no_std` core of
//! [raindrops-rs](https://github.com/raindrops-rs/raindrops-rs).
//!
//! This crate is pure logic with no dependencies by default. It provides:
//!
//! - [`Counter`] and [`PaddedSlot`]: one atomic machine word (C's `unsigned
//!   long` on Linux, Rust's `usize`), the padded slot on its own cache line;
//! - [`CounterArray`], the one set of counter operations shared by
//!   [`Counters`] (a fixed array that can live in a `static`) and
//!   [`CounterView`] (any memory: a stack array, a heap slice, or the shared
//!   memory regions of `raindrops-shm`, with a stride chosen at run time);
//! - [`named_counters!`], the equivalent of Ruby's `Raindrops::Struct`;
//! - [`GaugeGuard`], which increments on creation and decrements on drop;
//! - [`Sharded`], one slot per worker for the same metric, summed on read;
//! - [`ListenStats`], the per-listener numbers shared by the other crates,
//!   [`Listener`] (a name, its [`Family`] and its stats, and optionally its
//!   [`Netns`], [`Owner`] and cgroup), the record every output is rendered
//!   from, [`parse_tcp_addr`] for the address
//!   strings that name listeners, and [`Selector`] and [`Selection`] for
//!   choosing listeners as people name them (`:80`, `localhost:8080`,
//!   `:8000-8100`, `/run/user/*`);
//! - [`TcpState`] and [`Errno`], the kernel's vocabulary shared by the
//!   sock_diag codec, the `tcp_info` decoder and the shared-memory layer;
//! - [`EscapedName`] and [`SafeText`]: the one escaping rule for outside
//!   names (socket paths, abstract names) before they reach a text output;
//! - [`Aggregate`] (count, min, max, mean, standard deviation and a
//!   power-of-two histogram) and, where the target has 64-bit atomics,
//!   [`AtomicAggregate`], which many processes update without locks.
//!
//! # Arithmetic wraps
//!
//! Counters behave like the C counters of the Ruby gem: `incr` and `decr`
//! return the *new* value and wrap around, so decrementing 0 gives
//! [`MAX`]. Nothing here panics on overflow.
//!
//! # Example
//!
//! ```
//! use raindrops_core::{CounterArray, Counters};
//!
//! static COUNTERS: Counters<2> = Counters::new();
//!
//! assert_eq!(COUNTERS.incr(0, 1), Ok(1));
//! assert_eq!(COUNTERS.incr(0, 5), Ok(6));
//! assert_eq!(COUNTERS.decr(1, 1), Ok(raindrops_core::MAX)); // wraps like C
//! assert!(COUNTERS.incr(2, 1).is_err()); // out of range is an error, not a panic
//! ```
//!
//! # Features
//!
//! - `alloc`, `std`: conveniences such as [`CounterArray::to_vec`]; they never
//!   change a public type.
//! - `portable-atomic`: for targets without atomic read-modify-write
//!   instructions (thumbv6m). The public API is the same.
#![no_std]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(test)]
extern crate std;

#[cfg(all(not(target_has_atomic = "ptr"), not(feature = "portable-atomic")))]
compile_error!(
    "this target has no atomic read-modify-write on machine words; \
     enable the `portable-atomic` feature of raindrops-core"
);

mod addr;
mod aggregate;
#[cfg(target_has_atomic = "64")]
mod atomic_aggregate;
mod counters;
mod errno;
mod error;
mod escape;
mod guard;
mod identity;
mod listen_stats;
mod listener;
mod math;
mod named;
mod select;
mod sharded;
mod slot;
#[cfg(target_has_atomic = "64")]
mod sync;
mod tcp_state;

pub use addr::{AddrError, any_addr_of, is_unix_name, parse_tcp_addr};
pub use aggregate::{Aggregate, HISTOGRAM_BUCKETS, HistogramBucket};
#[cfg(target_has_atomic = "64")]
pub use atomic_aggregate::AtomicAggregate;
pub use counters::{CounterArray, CounterView, Counters, Values};
pub use errno::Errno;
pub use error::Error;
pub use escape::{EscapedName, SafeText, UnescapeError, is_unsafe_char, unescape_name};
pub use guard::GaugeGuard;
pub use identity::{Netns, Owner};
pub use listen_stats::ListenStats;
pub use listener::{Family, Listener};
// Not API: used by the fuzz targets and raindrops-http's number rendering.
#[doc(hidden)]
pub use math::sqrt;
pub use select::{HostSelector, PortRange, Selection, Selector, UnixPattern, Verdict};
pub use sharded::Sharded;
pub use slot::{CACHE_LINE, Counter, MAX, PaddedSlot, WORD};
pub use tcp_state::TcpState;

/// The README's example, run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

#[doc(hidden)]
pub mod __private {
    //! Items used by the expansion of [`named_counters!`](crate::named_counters); not public API.
    pub use core::borrow::Borrow;
}
