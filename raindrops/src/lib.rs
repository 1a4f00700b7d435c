// The README's examples need the features an axum application uses;
// without them the crate docs are a short summary.
#![cfg_attr(all(feature = "axum", feature = "shm"), doc = include_str!("../README.md"))]
#![cfg_attr(
    not(all(feature = "axum", feature = "shm")),
    doc = "Real-time statistics for preforking (and any) servers on Linux, in one \
           crate: raindrops-core always, the other raindrops-rs libraries behind \
           features (`shm`, `diag`, `tcpinfo`, `http`, `tower`, `tokio`, `axum`). \
           Build the documentation with `--features full` for the whole guide."
)]
#![no_std]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(unsafe_code)]

#[cfg(feature = "std")]
extern crate std;

/// raindrops-core: counters, named and sharded counters, gauge guards,
/// listener records, aggregates, the escaping of outside names (always
/// here; `no_std`).
pub use raindrops_core as core;

#[cfg(target_has_atomic = "64")]
pub use raindrops_core::AtomicAggregate;
pub use raindrops_core::{
    Aggregate, CounterArray, Counters, EscapedName, Family, GaugeGuard, ListenStats, Listener,
    SafeText, Sharded, named_counters,
};
pub use raindrops_core::{Counter, PaddedSlot};

/// raindrops-shm: counters and aggregates in shared memory (feature `shm`).
#[cfg(feature = "shm")]
pub use raindrops_shm as shm;

/// raindrops-diag: listener statistics from the kernel over netlink
/// sock_diag (feature `diag`).
#[cfg(feature = "diag")]
pub use raindrops_diag as diag;

/// raindrops-tcpinfo: `TCP_INFO`, `TCP_DEFER_ACCEPT` and LastDataRecv
/// (feature `tcpinfo`).
#[cfg(feature = "tcpinfo")]
pub use raindrops_tcpinfo as tcpinfo;

/// raindrops-http: renderers (Ruby's middleware text, Watcher pages,
/// Prometheus, OpenMetrics, JSON), the router, the request gauges and, with
/// `tower`, the tower layer (feature `http`).
#[cfg(feature = "http")]
pub use raindrops_http as http;

#[cfg(feature = "http")]
pub use raindrops_http::{MiddlewareStats, RequestGauges, Router, StatsSource};

#[cfg(all(feature = "tcpinfo", target_has_atomic = "64"))]
mod accept;
#[cfg(all(feature = "std", target_has_atomic = "64"))]
mod aggregate_handle;
#[cfg(feature = "diag")]
mod error;
#[cfg(all(feature = "tower", feature = "diag"))]
mod layer;
#[cfg(all(feature = "diag", feature = "http"))]
mod listener_names;
#[cfg(all(feature = "diag", feature = "http"))]
mod netstat;
#[cfg(feature = "diag")]
mod own;
#[cfg(feature = "diag")]
mod proc_fd;
#[cfg(feature = "http")]
mod request_counts;
#[cfg(all(feature = "diag", feature = "http"))]
mod source;
#[cfg(all(feature = "diag", feature = "http"))]
mod watcher;
#[cfg(all(feature = "tower", feature = "diag"))]
mod watcher_service;

#[cfg(all(feature = "tcpinfo", target_has_atomic = "64"))]
pub use accept::LastDataRecvListener;
#[cfg(all(feature = "std", target_has_atomic = "64"))]
pub use aggregate_handle::AggregateHandle;
#[cfg(feature = "diag")]
pub use error::Error;
#[cfg(all(feature = "tower", feature = "diag"))]
pub use layer::{layer, layer_with};
#[cfg(all(feature = "diag", feature = "http"))]
pub use netstat::{netstat_metrics, visit_netstat_metrics};
#[cfg(feature = "diag")]
pub use own::{OwnListeners, own_listeners};
#[cfg(feature = "http")]
pub use request_counts::{CountsFn, RequestCounts};
#[cfg(all(feature = "diag", feature = "http"))]
pub use source::KernelSource;
#[cfg(all(feature = "diag", feature = "http"))]
pub use watcher::{Watcher, WatcherOptions};
#[cfg(all(feature = "tower", feature = "diag"))]
pub use watcher_service::{WatcherBody, WatcherService};
