// The README's examples call the `std` API; without it the crate docs are
// a short summary.
#![cfg_attr(feature = "std", doc = include_str!("../README.md"))]
#![cfg_attr(
    not(feature = "std"),
    doc = "`TCP_INFO` decoder (`no_std` build): [`TcpInfo::parse`] reads any \
           prefix of a Linux `struct tcp_info`; fields past its end are `None`. \
           Enable the `std` feature for `tcp_info(fd)` and the full documentation."
)]
#![no_std]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]

#[cfg(any(feature = "std", test))]
extern crate std;

mod field;
mod info;
mod options;
mod state;

#[cfg(feature = "std")]
mod error;
#[cfg(all(feature = "std", target_has_atomic = "64"))]
mod last_data_recv;
#[cfg(feature = "std")]
mod sockopt;

pub use field::{TcpInfoField, TcpInfoFields, Unit};
pub use info::TcpInfo;
pub use options::{FastOpenClientFail, TcpiOptions};
pub use raindrops_core::TcpState;
pub use state::CaState;

#[cfg(feature = "std")]
pub use error::Error;
#[cfg(all(feature = "std", target_has_atomic = "64"))]
pub use last_data_recv::LastDataRecv;
/// The errno type of [`Error`], re-exported from raindrops-core.
#[cfg(feature = "std")]
pub use raindrops_core::Errno;
#[cfg(feature = "std")]
pub use sockopt::{set_tcp_defer_accept, tcp_defer_accept, tcp_info};
