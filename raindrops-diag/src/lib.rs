#![doc = include_str!("../README.md")]
#![no_std]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]
#![forbid(unsafe_code)]

#[cfg(all(feature = "std", not(test)))]
extern crate std;
#[cfg(test)]
#[macro_use]
extern crate std;

#[cfg(all(test, feature = "std"))]
mod capture;
pub mod cgroup_path;
mod counter;
pub mod errno;
mod error;
mod name;
pub mod proc_netstat;
pub mod proc_unix;
pub mod procfs;
mod query;
mod table;
mod tally;
mod unix_backlogs;
mod waiting;
pub mod wire;

#[cfg(feature = "std")]
pub mod cgroup;
#[cfg(feature = "std")]
mod connections;
#[cfg(feature = "socket")]
mod dumps;
#[cfg(feature = "std")]
mod handle;
#[cfg(feature = "std")]
mod listen_sockets;
#[cfg(feature = "std")]
mod listeners;
#[cfg(feature = "std")]
pub mod netns;
#[cfg(feature = "std")]
mod ns_sampler;
#[cfg(feature = "std")]
mod ns_worker;
#[cfg(feature = "std")]
pub mod overflow;
#[cfg(feature = "std")]
mod overflow_watch;
#[cfg(feature = "std")]
pub mod owner;
#[cfg(feature = "std")]
mod queue_wait;
#[cfg(feature = "socket")]
mod socket;

pub use counter::{TcpCounter, UnixCounter};
pub use error::{DiagModule, Error};
pub use name::{UNIX_NAME_CAPACITY, UnixName};
pub use query::{TcpQuery, UnixQuery};
pub use table::{ListenerTable, TcpTable, UnixTable};
pub use waiting::Waiting;

#[cfg(feature = "std")]
pub use connections::{ConnQuery, Connection, Connections};
#[cfg(feature = "std")]
pub use error::QueryError;
#[cfg(feature = "std")]
pub use handle::{Diag, PROC_NET_UNIX, tcp_listener_stats, unix_listener_stats};
#[cfg(feature = "std")]
pub use listeners::Listeners;
#[cfg(feature = "std")]
pub use queue_wait::QueueWaitTracker;
#[cfg(feature = "socket")]
pub use socket::{DiagSocket, RECV_BUFFER_LEN};

#[cfg(feature = "std")]
pub use cgroup::CgroupMap;
#[cfg(feature = "std")]
pub use listen_sockets::ListenSocket;
#[cfg(feature = "std")]
pub use netns::{NetNs, NsDiscovery, NsId, NsSkip, NsSpec, SkipCounts};
#[cfg(feature = "std")]
pub use ns_sampler::{NsListener, NsListeners, NsSample, NsSampler, NsScope, SkipTarget, Skipped};
#[cfg(feature = "std")]
pub use ns_worker::NsQuery;
#[cfg(feature = "std")]
pub use owner::{Holder, Owners, ProcessInfo};

/// The operating-system error number of [`Error::Sys`] and
/// [`Error::Kernel`], re-exported from raindrops-core (constants in
/// [`errno`]).
pub use raindrops_core::Errno;
/// The per-listener numbers, re-exported from raindrops-core.
pub use raindrops_core::ListenStats;
/// The listener record (of `Listeners`, with `std`) and its family,
/// re-exported from raindrops-core.
pub use raindrops_core::{Family, Listener};
