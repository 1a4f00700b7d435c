#![doc = include_str!("../README.md")]
#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(target_has_atomic = "64")]
mod aggregate;
mod error;
pub mod header;
mod layout;
mod machine;
mod map;
pub mod names;
mod object;
mod options;
mod reader;
mod region;
mod shared_counters;

#[cfg(target_has_atomic = "64")]
pub use aggregate::{AggregateOptions, SharedAggregate};
pub use error::{Call, Errno, Error, LayoutError};
pub use header::{HEADER_LEN, MAGIC, MAX_STRIDE, VERSION};
pub use layout::ruby_capacity;
pub use machine::{RUBY_DEFAULT_STRIDE, page_size, ruby_stride};
pub use names::{MAX_NAME_LEN, MAX_NAMES};
pub use object::Access;
pub use options::Options;
pub use raindrops_core::{CounterArray, MAX};
pub use reader::RegionReader;
pub use region::{Backing, Region, unlink_named};
pub use shared_counters::SharedCounters;

/// The sysfs text parsers behind [`ruby_stride`], public only for the fuzz
/// targets: not part of the API.
#[doc(hidden)]
pub mod __fuzz {
    pub use crate::machine::{SysfsParseError, parse_cpu_list, parse_decimal};
}
