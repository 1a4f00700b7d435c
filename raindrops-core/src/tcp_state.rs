//! The TCP socket states of Linux (`include/net/tcp_states.h`), shared by
//! the sock_diag codec and the `tcp_info` decoder.

use core::fmt;

/// The state of a TCP socket: `idiag_state` of a sock_diag dump,
/// `tcpi_state` of `struct tcp_info`, the numbers `ss` and
/// `/proc/net/tcp` show.
///
/// Values this crate does not know (a newer kernel) are kept in
/// [`TcpState::Unknown`], never mapped to `None`; `From<u8>` never puts a
/// known value there.
///
/// ```
/// use raindrops_core::TcpState;
/// assert_eq!(TcpState::from(10), TcpState::Listen);
/// assert_eq!(u8::from(TcpState::Established), 1);
/// assert_eq!(TcpState::from(99), TcpState::Unknown(99));
/// assert_eq!(TcpState::NewSynRecv.to_string(), "NEW_SYN_RECV");
/// assert_eq!(TcpState::Unknown(99).to_string(), "99");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TcpState {
    /// `TCP_ESTABLISHED` (1): the connection is open.
    Established,
    /// `TCP_SYN_SENT` (2): a connect is in progress.
    SynSent,
    /// `TCP_SYN_RECV` (3): a SYN was received and answered (also a Fast
    /// Open child before its handshake completes); sock_diag also reports
    /// request sockets with this state where asked for it.
    SynRecv,
    /// `TCP_FIN_WAIT1` (4): we closed, our FIN is not acknowledged yet.
    FinWait1,
    /// `TCP_FIN_WAIT2` (5): we closed and the peer acknowledged it.
    FinWait2,
    /// `TCP_TIME_WAIT` (6): both sides closed; waiting out old segments.
    TimeWait,
    /// `TCP_CLOSE` (7): not connected (also a fresh, unconnected socket).
    Close,
    /// `TCP_CLOSE_WAIT` (8): the peer closed, we have not.
    CloseWait,
    /// `TCP_LAST_ACK` (9): the peer closed, then we did; waiting for the
    /// acknowledgement of our FIN.
    LastAck,
    /// `TCP_LISTEN` (10): a listening socket.
    Listen,
    /// `TCP_CLOSING` (11): both sides closed at the same time.
    Closing,
    /// `TCP_NEW_SYN_RECV` (12): a request socket in a listener's SYN queue
    /// (seen in sock_diag dumps, Linux 4.4+).
    NewSynRecv,
    /// `TCP_BOUND_INACTIVE` (13): a bound socket that neither listens nor
    /// connects (seen in sock_diag dumps, Linux 6.7+).
    BoundInactive,
    /// A value this crate does not know, kept as is.
    Unknown(u8),
}

/// `(state, number, name)` for every known state, in numeric order.
const STATES: [(TcpState, u8, &str); 13] = [
    (TcpState::Established, 1, "ESTABLISHED"),
    (TcpState::SynSent, 2, "SYN_SENT"),
    (TcpState::SynRecv, 3, "SYN_RECV"),
    (TcpState::FinWait1, 4, "FIN_WAIT1"),
    (TcpState::FinWait2, 5, "FIN_WAIT2"),
    (TcpState::TimeWait, 6, "TIME_WAIT"),
    (TcpState::Close, 7, "CLOSE"),
    (TcpState::CloseWait, 8, "CLOSE_WAIT"),
    (TcpState::LastAck, 9, "LAST_ACK"),
    (TcpState::Listen, 10, "LISTEN"),
    (TcpState::Closing, 11, "CLOSING"),
    (TcpState::NewSynRecv, 12, "NEW_SYN_RECV"),
    (TcpState::BoundInactive, 13, "BOUND_INACTIVE"),
];

impl TcpState {
    /// The state with number `v`.
    #[inline]
    pub const fn from_u8(v: u8) -> Self {
        if v >= 1 && v <= 13 {
            STATES[v as usize - 1].0
        } else {
            TcpState::Unknown(v)
        }
    }

    /// The state's number.
    #[inline]
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

    /// The kernel's name without its `TCP_` prefix (`"ESTABLISHED"`), or
    /// `None` for an unknown value.
    pub const fn name(self) -> Option<&'static str> {
        match self {
            TcpState::Unknown(_) => None,
            s => Some(STATES[s.to_u8() as usize - 1].2),
        }
    }

    /// Whether this is a request socket (a half-open handshake):
    /// [`TcpState::SynRecv`] or [`TcpState::NewSynRecv`].
    pub const fn is_syn_recv(self) -> bool {
        matches!(self, TcpState::SynRecv | TcpState::NewSynRecv)
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
    /// The kernel's name, or the number of an unknown value.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "{}", self.to_u8()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;

    #[test]
    fn every_byte_roundtrips() {
        for v in 0..=u8::MAX {
            let s = TcpState::from(v);
            assert_eq!(u8::from(s), v);
            assert_eq!(s.name().is_some(), (1..=13).contains(&v), "{v}");
            assert_eq!(matches!(s, TcpState::Unknown(_)), !(1..=13).contains(&v));
        }
        for (s, n, name) in STATES {
            assert_eq!((s.to_u8(), s.to_string()), (n, name.to_string()));
        }
        assert!(TcpState::NewSynRecv.is_syn_recv() && !TcpState::Listen.is_syn_recv());
    }
}
