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
mod error;
mod name;
pub mod proc_unix;
pub mod procfs;
mod table;
pub mod wire;

#[cfg(feature = "std")]
pub mod cgroup;
#[cfg(feature = "std")]
mod connections;
#[cfg(feature = "std")]
mod diag;
#[cfg(feature = "std")]
mod listen_sockets;
#[cfg(feature = "std")]
pub mod netns;
#[cfg(feature = "std")]
mod ns_sampler;
#[cfg(feature = "std")]
mod ns_worker;
#[cfg(feature = "std")]
pub mod owner;
#[cfg(feature = "socket")]
mod query;
#[cfg(feature = "socket")]
mod socket;
#[cfg(feature = "std")]
mod stats;

pub use error::{Errno, Error};
pub use name::{UNIX_NAME_CAPACITY, UnixName};
pub use table::{ListenerTable, TcpCounter, TcpTable, UnixCounter, UnixTable};

#[cfg(feature = "std")]
pub use connections::{ConnQuery, Connection, Connections};
#[cfg(feature = "std")]
pub use diag::{Diag, PROC_NET_UNIX, tcp_listener_stats, unix_listener_stats};
#[cfg(feature = "std")]
pub use error::QueryError;
#[cfg(feature = "socket")]
pub use query::{TcpQuery, UnixQuery};
#[cfg(feature = "socket")]
pub use socket::{DiagSocket, RECV_BUFFER_LEN};
#[cfg(feature = "std")]
pub use stats::ListenerStats;

#[cfg(feature = "std")]
pub use cgroup::CgroupMap;
#[cfg(feature = "std")]
pub use listen_sockets::{ListenSocket, tcp_listen_sockets, unix_listen_sockets};
#[cfg(feature = "std")]
pub use netns::{NetNs, NsDiscovery, NsId, NsSkip, NsSpec, SkipCounts};
#[cfg(feature = "std")]
pub use ns_sampler::{NsListener, NsListeners, NsSample, NsSampler, NsScope, SkipTarget, Skipped};
#[cfg(feature = "std")]
pub use ns_worker::NsQuery;
#[cfg(feature = "std")]
pub use owner::{Owner, Owners, ProcessInfo};

/// The per-listener numbers, re-exported from raindrops-core.
pub use raindrops_core::ListenStats;
