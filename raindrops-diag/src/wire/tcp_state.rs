//! TCP socket states: the state of a reported socket (`idiag_state`,
//! raindrops-core's [`TcpState`], the one state type of the workspace) and
//! the state masks of requests (`idiag_states`, [`TcpStates`]).

use bitflags::bitflags;
pub use raindrops_core::TcpState;

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

impl TcpStates {
    /// The bit of `state` in a request's state mask (`1 << state`), or
    /// empty for values of 32 and above.
    pub const fn of(state: TcpState) -> TcpStates {
        let v = state.to_u8();
        if v < 32 {
            TcpStates::from_bits_retain(1 << v)
        } else {
            TcpStates::empty()
        }
    }
}

impl From<TcpState> for TcpStates {
    /// [`TcpStates::of`].
    fn from(state: TcpState) -> Self {
        TcpStates::of(state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn masks() {
        assert_eq!(TcpStates::of(TcpState::Listen), TcpStates::LISTEN);
        assert_eq!(
            TcpStates::from(TcpState::NewSynRecv),
            TcpStates::NEW_SYN_RECV
        );
        assert_eq!(TcpStates::of(TcpState::Unknown(40)), TcpStates::empty());
    }

    proptest! {
        #[test]
        fn one_bit_per_state(v in 0u8..32) {
            let m = TcpStates::of(TcpState::from(v));
            prop_assert_eq!(m.bits(), 1u32 << v);
        }
    }
}
