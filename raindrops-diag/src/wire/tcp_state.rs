//! TCP socket states as inet_diag reports them (`idiag_state`), and the
//! state masks of requests (`idiag_states`).

use bitflags::bitflags;
use core::fmt;

/// The state of a TCP socket (`include/net/tcp_states.h`).
///
/// Values the crate does not know are kept in [`TcpState::Unknown`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TcpState {
    /// `TCP_ESTABLISHED` (1).
    Established,
    /// `TCP_SYN_SENT` (2).
    SynSent,
    /// `TCP_SYN_RECV` (3); inet_diag also reports request sockets
    /// (half-open handshakes) with this state.
    SynRecv,
    /// `TCP_FIN_WAIT1` (4).
    FinWait1,
    /// `TCP_FIN_WAIT2` (5).
    FinWait2,
    /// `TCP_TIME_WAIT` (6).
    TimeWait,
    /// `TCP_CLOSE` (7).
    Close,
    /// `TCP_CLOSE_WAIT` (8).
    CloseWait,
    /// `TCP_LAST_ACK` (9).
    LastAck,
    /// `TCP_LISTEN` (10).
    Listen,
    /// `TCP_CLOSING` (11).
    Closing,
    /// `TCP_NEW_SYN_RECV` (12): a request socket.
    NewSynRecv,
    /// `TCP_BOUND_INACTIVE` (13): bound, not listening or connected.
    BoundInactive,
    /// Any other value, kept as is.
    Unknown(u8),
}

impl TcpState {
    /// The kernel's name without the `TCP_` prefix (`"ESTABLISHED"`), or
    /// `"UNKNOWN"`.
    pub const fn name(self) -> &'static str {
        match self {
            TcpState::Established => "ESTABLISHED",
            TcpState::SynSent => "SYN_SENT",
            TcpState::SynRecv => "SYN_RECV",
            TcpState::FinWait1 => "FIN_WAIT1",
            TcpState::FinWait2 => "FIN_WAIT2",
            TcpState::TimeWait => "TIME_WAIT",
            TcpState::Close => "CLOSE",
            TcpState::CloseWait => "CLOSE_WAIT",
            TcpState::LastAck => "LAST_ACK",
            TcpState::Listen => "LISTEN",
            TcpState::Closing => "CLOSING",
            TcpState::NewSynRecv => "NEW_SYN_RECV",
            TcpState::BoundInactive => "BOUND_INACTIVE",
            TcpState::Unknown(_) => "UNKNOWN",
        }
    }

    /// The bit of this state in a request's state mask (`1 << state`), or
    /// empty for values of 32 and above.
    pub const fn mask(self) -> TcpStates {
        let v = self.to_u8();
        if v < 32 {
            TcpStates::from_bits_retain(1 << v)
        } else {
            TcpStates::empty()
        }
    }

    /// The numeric value.
    pub const fn to_u8(self) -> u8 {
        match self {
            TcpState::Established => 1,
            TcpState::SynSent => 2,
            TcpState::SynRecv => 3,
            TcpState::FinWait1 => 4,
            TcpState::FinWait2 => 5,
            TcpState::TimeWait => 6,
            TcpState::Close => 7,
            TcpState::CloseWait => 8,
            TcpState::LastAck => 9,
            TcpState::Listen => 10,
            TcpState::Closing => 11,
            TcpState::NewSynRecv => 12,
            TcpState::BoundInactive => 13,
            TcpState::Unknown(v) => v,
        }
    }

    /// The state with numeric value `v`.
    #[inline]
    pub const fn from_u8(v: u8) -> Self {
        match v {
            1 => TcpState::Established,
            2 => TcpState::SynSent,
            3 => TcpState::SynRecv,
            4 => TcpState::FinWait1,
            5 => TcpState::FinWait2,
            6 => TcpState::TimeWait,
            7 => TcpState::Close,
            8 => TcpState::CloseWait,
            9 => TcpState::LastAck,
            10 => TcpState::Listen,
            11 => TcpState::Closing,
            12 => TcpState::NewSynRecv,
            13 => TcpState::BoundInactive,
            v => TcpState::Unknown(v),
        }
    }
}

impl From<u8> for TcpState {
    fn from(v: u8) -> Self {
        TcpState::from_u8(v)
    }
}

impl From<TcpState> for u8 {
    fn from(v: TcpState) -> u8 {
        v.to_u8()
    }
}

impl fmt::Display for TcpState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TcpState::Unknown(v) => write!(f, "UNKNOWN({v})"),
            s => f.write_str(s.name()),
        }
    }
}

bitflags! {
    /// A mask of TCP states (`idiag_states`, `udiag_states`): bit `1 << s`
    /// selects state `s`. Unknown bits are kept.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct TcpStates: u32 {
        /// `TCPF_ESTABLISHED`.
        const ESTABLISHED = 1 << 1;
        /// `TCPF_SYN_SENT`.
        const SYN_SENT = 1 << 2;
        /// `TCPF_SYN_RECV`; the kernel also reports request sockets for it.
        const SYN_RECV = 1 << 3;
        /// `TCPF_FIN_WAIT1`.
        const FIN_WAIT1 = 1 << 4;
        /// `TCPF_FIN_WAIT2`.
        const FIN_WAIT2 = 1 << 5;
        /// `TCPF_TIME_WAIT`.
        const TIME_WAIT = 1 << 6;
        /// `TCPF_CLOSE`.
        const CLOSE = 1 << 7;
        /// `TCPF_CLOSE_WAIT`.
        const CLOSE_WAIT = 1 << 8;
        /// `TCPF_LAST_ACK`.
        const LAST_ACK = 1 << 9;
        /// `TCPF_LISTEN`.
        const LISTEN = 1 << 10;
        /// `TCPF_CLOSING`.
        const CLOSING = 1 << 11;
        /// `TCPF_NEW_SYN_RECV`: request sockets (half-open handshakes).
        const NEW_SYN_RECV = 1 << 12;
        /// `TCPF_BOUND_INACTIVE`.
        const BOUND_INACTIVE = 1 << 13;
        const _ = !0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn names_and_masks() {
        assert_eq!(TcpState::from(10).name(), "LISTEN");
        assert_eq!(TcpState::Listen.mask(), TcpStates::LISTEN);
        assert_eq!(TcpState::NewSynRecv.mask(), TcpStates::NEW_SYN_RECV);
        assert_eq!(TcpState::Unknown(40).mask(), TcpStates::empty());
        extern crate std;
        use std::string::ToString;
        assert_eq!(TcpState::from(99).to_string(), "UNKNOWN(99)");
        assert_eq!(TcpState::from(1).to_string(), "ESTABLISHED");
    }

    proptest! {
        #[test]
        fn roundtrip(v in any::<u8>()) {
            prop_assert_eq!(u8::from(TcpState::from(v)), v);
        }
    }
}
