//! The option flags of `tcpi_options` and the Fast Open failure code.

use core::fmt;

bitflags::bitflags! {
    /// The TCP options in use on a connection (`tcpi_options`, the uapi
    /// `TCPI_OPT_*` flags). Bits this crate does not know are kept
    /// ([`bits`](Self::bits) returns them).
    ///
    /// ```
    /// use raindrops_tcpinfo::TcpiOptions;
    /// let o = TcpiOptions::from_bits_retain(7);
    /// assert!(o.contains(TcpiOptions::TIMESTAMPS | TcpiOptions::SACK | TcpiOptions::WSCALE));
    /// assert!(!o.contains(TcpiOptions::ECN));
    /// ```
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
    pub struct TcpiOptions: u8 {
        /// `TCPI_OPT_TIMESTAMPS`: RFC 7323 timestamps were negotiated.
        const TIMESTAMPS = 1;
        /// `TCPI_OPT_SACK`: selective acknowledgements were negotiated.
        const SACK = 2;
        /// `TCPI_OPT_WSCALE`: window scaling was negotiated (then
        /// `snd_wscale` and `rcv_wscale` are meaningful).
        const WSCALE = 4;
        /// `TCPI_OPT_ECN`: ECN was negotiated.
        const ECN = 8;
        /// `TCPI_OPT_ECN_SEEN`: at least one ECT segment was received.
        const ECN_SEEN = 16;
        /// `TCPI_OPT_SYN_DATA`: data sent or received in the SYN was
        /// acknowledged by the SYN-ACK (Fast Open).
        const SYN_DATA = 32;
        /// `TCPI_OPT_USEC_TS`: timestamps are in microseconds (Linux 6.7+).
        const USEC_TS = 64;
        /// `TCPI_OPT_TFO_CHILD`: the socket is a server's child created from
        /// a SYN with a valid Fast Open cookie.
        const TFO_CHILD = 128;
    }
}

/// Why a client's TCP Fast Open attempt failed (`tcpi_fastopen_client_fail`,
/// a 2-bit field, Linux 5.5+; older kernels leave it 0, which reads as
/// [`Unspecified`](Self::Unspecified)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FastOpenClientFail {
    /// `TFO_STATUS_UNSPEC` (0): no failure recorded (or not a Fast Open
    /// client).
    Unspecified,
    /// `TFO_COOKIE_UNAVAILABLE` (1): no cookie was available.
    CookieUnavailable,
    /// `TFO_DATA_NOT_ACKED` (2): the data in the SYN was not acknowledged.
    DataNotAcked,
    /// `TFO_SYN_RETRANSMITTED` (3): the SYN was retransmitted (the cookie
    /// request or the data was lost).
    SynRetransmitted,
}

impl FastOpenClientFail {
    /// The value of the 2 low bits of `bits` (higher bits are ignored).
    pub const fn from_bits(bits: u8) -> Self {
        match bits & 3 {
            0 => FastOpenClientFail::Unspecified,
            1 => FastOpenClientFail::CookieUnavailable,
            2 => FastOpenClientFail::DataNotAcked,
            _ => FastOpenClientFail::SynRetransmitted,
        }
    }

    /// The kernel's number for the value (0 to 3).
    pub const fn bits(self) -> u8 {
        self as u8
    }
}

impl fmt::Display for FastOpenClientFail {
    /// The kernel's name (`TFO_…`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FastOpenClientFail::Unspecified => "TFO_STATUS_UNSPEC",
            FastOpenClientFail::CookieUnavailable => "TFO_COOKIE_UNAVAILABLE",
            FastOpenClientFail::DataNotAcked => "TFO_DATA_NOT_ACKED",
            FastOpenClientFail::SynRetransmitted => "TFO_SYN_RETRANSMITTED",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use linux_raw_sys::net as k;

    #[test]
    fn flags_match_linux_raw_sys() {
        for (ours, theirs) in [
            (TcpiOptions::TIMESTAMPS, k::TCPI_OPT_TIMESTAMPS),
            (TcpiOptions::SACK, k::TCPI_OPT_SACK),
            (TcpiOptions::WSCALE, k::TCPI_OPT_WSCALE),
            (TcpiOptions::ECN, k::TCPI_OPT_ECN),
            (TcpiOptions::ECN_SEEN, k::TCPI_OPT_ECN_SEEN),
            (TcpiOptions::SYN_DATA, k::TCPI_OPT_SYN_DATA),
            (TcpiOptions::USEC_TS, k::TCPI_OPT_USEC_TS),
            (TcpiOptions::TFO_CHILD, k::TCPI_OPT_TFO_CHILD),
        ] {
            assert_eq!(u32::from(ours.bits()), theirs);
        }
        assert_eq!(TcpiOptions::all().bits(), 0xff);
    }

    #[test]
    fn fastopen_codes_match_linux_raw_sys() {
        use k::tcp_fastopen_client_fail as t;
        for (ours, theirs) in [
            (FastOpenClientFail::Unspecified, t::TFO_STATUS_UNSPEC),
            (
                FastOpenClientFail::CookieUnavailable,
                t::TFO_COOKIE_UNAVAILABLE,
            ),
            (FastOpenClientFail::DataNotAcked, t::TFO_DATA_NOT_ACKED),
            (
                FastOpenClientFail::SynRetransmitted,
                t::TFO_SYN_RETRANSMITTED,
            ),
        ] {
            assert_eq!(u32::from(ours.bits()), theirs as u32);
            assert_eq!(FastOpenClientFail::from_bits(ours.bits()), ours);
        }
    }
}
