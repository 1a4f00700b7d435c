//! The integer fields of a [`TcpInfo`] as (name, unit, value) triples, for
//! generic renderers (JSON, Prometheus, tables).

use core::fmt;

use crate::TcpInfo;

/// The unit of an integer field of `struct tcp_info`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Unit {
    /// Microseconds (µs): `rtt`, `rttvar`, `rto`, `ato`, `min_rtt`, `busy_time`…
    Microseconds,
    /// Milliseconds: the `last_*` ages and `total_rto_time`.
    Milliseconds,
    /// Bytes: `bytes_acked`, `snd_mss`, `pmtu`, `snd_wnd`…
    Bytes,
    /// Bytes per second: `pacing_rate`, `max_pacing_rate`, `delivery_rate`.
    BytesPerSecond,
    /// TCP segments (packets): `snd_cwnd`, `unacked`, `segs_out`…
    Segments,
    /// A count of events: `retransmits`, `backoff`, `total_rto`…
    Count,
}

impl Unit {
    /// A short symbol for the unit: `us`, `ms`, `bytes`, `bytes/s`,
    /// `segments` or `count`.
    pub const fn symbol(self) -> &'static str {
        match self {
            Unit::Microseconds => "us",
            Unit::Milliseconds => "ms",
            Unit::Bytes => "bytes",
            Unit::BytesPerSecond => "bytes/s",
            Unit::Segments => "segments",
            Unit::Count => "count",
        }
    }
}

impl fmt::Display for Unit {
    /// The unit's [`symbol`](Self::symbol).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.symbol())
    }
}

/// One integer field of a [`TcpInfo`] that the kernel returned: its name,
/// unit and value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TcpInfoField {
    /// The field's name: the kernel's name without `tcpi_` (`"rtt"`), the
    /// same as its accessor on [`TcpInfo`].
    pub name: &'static str,
    /// The field's unit.
    pub unit: Unit,
    /// The field's value, widened to 64 bits.
    pub value: u64,
}

/// Where an integer field sits in `struct tcp_info`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct FieldSpec {
    pub(crate) name: &'static str,
    pub(crate) offset: usize,
    pub(crate) size: usize,
    pub(crate) unit: Unit,
}

impl FieldSpec {
    /// The field's value in `info`, if the kernel returned it.
    pub(crate) fn read(&self, info: &TcpInfo) -> Option<u64> {
        match self.size {
            1 => info.int::<u8>(self.offset).map(u64::from),
            2 => info.int::<u16>(self.offset).map(u64::from),
            4 => info.int::<u32>(self.offset).map(u64::from),
            _ => info.int::<u64>(self.offset),
        }
    }
}

/// The iterator of [`TcpInfo::fields`]: every integer field the kernel
/// returned, in the order of `struct tcp_info`.
#[derive(Clone, Debug)]
pub struct TcpInfoFields<'a> {
    pub(crate) info: &'a TcpInfo,
    pub(crate) specs: core::slice::Iter<'static, FieldSpec>,
}

impl Iterator for TcpInfoFields<'_> {
    type Item = TcpInfoField;

    fn next(&mut self) -> Option<TcpInfoField> {
        // Fields are in struct order, so the first absent one ends the walk.
        let spec = self.specs.next()?;
        let value = spec.read(self.info)?;
        Some(TcpInfoField {
            name: spec.name,
            unit: spec.unit,
            value,
        })
    }
}
