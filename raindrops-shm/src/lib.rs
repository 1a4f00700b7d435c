#![doc = include_str!("../README.md")]
#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(target_has_atomic = "64")]
mod aggregate;
mod error;
pub mod header;
mod machine;
mod map;
mod object;
mod region;

#[cfg(target_has_atomic = "64")]
pub use aggregate::SharedAggregate;
pub use error::{Call, Errno, Error, LayoutError};
pub use header::{HEADER_LEN, MAGIC, MAX_STRIDE, VERSION};
pub use machine::{
    RUBY_DEFAULT_STRIDE, SysfsParseError, page_size, parse_cpu_list, parse_decimal, ruby_stride,
};
pub use object::Access;
pub use raindrops_core::{CounterArray, MAX};
pub use region::{Backing, Options, Region, ruby_capacity, unlink_named};
