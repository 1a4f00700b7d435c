//! The TCP connection state and the congestion-avoidance state.

use core::fmt;

/// Defines an enum over `u8` whose unknown values are kept in an
/// `Unknown(u8)` arm (never mapped to `None`), with conversions both ways
/// and the kernel's name of each value.
macro_rules! enum_with_unknown {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $value:literal => $text:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
            /// A value this crate does not know (a newer kernel), kept as is.
            /// `From<u8>` never puts a known value here.
            Unknown(u8),
        }

        impl From<u8> for $name {
            fn from(value: u8) -> Self {
                match value {
                    $( $value => $name::$variant, )+
                    other => $name::Unknown(other),
                }
            }
        }

        impl From<$name> for u8 {
            fn from(value: $name) -> u8 {
                match value {
                    $( $name::$variant => $value, )+
                    $name::Unknown(other) => other,
                }
            }
        }

        impl $name {
            /// The kernel's name of the value (without its `TCP_` prefix),
            /// or `None` for an unknown value.
            pub const fn name(self) -> Option<&'static str> {
                match self {
                    $( $name::$variant => Some($text), )+
                    $name::Unknown(_) => None,
                }
            }
        }

        impl fmt::Display for $name {
            /// The kernel's name, or the number for an unknown value.
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self.name() {
                    Some(text) => f.write_str(text),
                    None => write!(f, "{}", u8::from(*self)),
                }
            }
        }
    };
}

enum_with_unknown! {
    /// The state of a TCP socket (`tcpi_state`; the kernel's
    /// `include/net/tcp_states.h`, the numbers `ss` and `/proc/net/tcp` show).
    ///
    /// ```
    /// use raindrops_tcpinfo::TcpState;
    /// assert_eq!(TcpState::from(10), TcpState::Listen);
    /// assert_eq!(u8::from(TcpState::Established), 1);
    /// assert_eq!(TcpState::from(99), TcpState::Unknown(99));
    /// assert_eq!(TcpState::NewSynRecv.to_string(), "NEW_SYN_RECV");
    /// ```
    pub enum TcpState {
        /// `TCP_ESTABLISHED` (1): the connection is open.
        Established = 1 => "ESTABLISHED",
        /// `TCP_SYN_SENT` (2): a connect is in progress.
        SynSent = 2 => "SYN_SENT",
        /// `TCP_SYN_RECV` (3): a SYN was received and answered (also a
        /// Fast Open child before its handshake completes).
        SynRecv = 3 => "SYN_RECV",
        /// `TCP_FIN_WAIT1` (4): we closed, our FIN is not acknowledged yet.
        FinWait1 = 4 => "FIN_WAIT1",
        /// `TCP_FIN_WAIT2` (5): we closed and the peer acknowledged it.
        FinWait2 = 5 => "FIN_WAIT2",
        /// `TCP_TIME_WAIT` (6): both sides closed; waiting out old segments.
        TimeWait = 6 => "TIME_WAIT",
        /// `TCP_CLOSE` (7): not connected (also a fresh, unconnected socket).
        Close = 7 => "CLOSE",
        /// `TCP_CLOSE_WAIT` (8): the peer closed, we have not.
        CloseWait = 8 => "CLOSE_WAIT",
        /// `TCP_LAST_ACK` (9): the peer closed, then we did; waiting for
        /// the acknowledgement of our FIN.
        LastAck = 9 => "LAST_ACK",
        /// `TCP_LISTEN` (10): a listening socket.
        Listen = 10 => "LISTEN",
        /// `TCP_CLOSING` (11): both sides closed at the same time.
        Closing = 11 => "CLOSING",
        /// `TCP_NEW_SYN_RECV` (12): a request socket in a listener's SYN
        /// queue (seen in `sock_diag` dumps, Linux 4.4+).
        NewSynRecv = 12 => "NEW_SYN_RECV",
        /// `TCP_BOUND_INACTIVE` (13): a bound socket that neither listens
        /// nor connects (seen in `sock_diag` dumps, Linux 6.7+).
        BoundInactive = 13 => "BOUND_INACTIVE",
    }
}

enum_with_unknown! {
    /// The congestion-avoidance state of a connection (`tcpi_ca_state`,
    /// the uapi `enum tcp_ca_state`).
    ///
    /// ```
    /// use raindrops_tcpinfo::CaState;
    /// assert_eq!(CaState::from(0), CaState::Open);
    /// assert_eq!(CaState::Recovery.to_string(), "CA_Recovery");
    /// ```
    pub enum CaState {
        /// `TCP_CA_Open` (0): nothing bad has been observed.
        Open = 0 => "CA_Open",
        /// `TCP_CA_Disorder` (1): SACKs or duplicate ACKs were received.
        Disorder = 1 => "CA_Disorder",
        /// `TCP_CA_CWR` (2): the window was reduced after an ECN echo or a
        /// local congestion signal.
        Cwr = 2 => "CA_CWR",
        /// `TCP_CA_Recovery` (3): fast retransmit / recovery.
        Recovery = 3 => "CA_Recovery",
        /// `TCP_CA_Loss` (4): recovering from a retransmission timeout.
        Loss = 4 => "CA_Loss",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;

    #[test]
    fn every_byte_roundtrips() {
        for v in 0..=u8::MAX {
            assert_eq!(u8::from(TcpState::from(v)), v);
            assert_eq!(u8::from(CaState::from(v)), v);
            let known = (1..=13).contains(&v);
            assert_eq!(TcpState::from(v).name().is_some(), known, "{v}");
            assert_eq!(CaState::from(v).name().is_some(), v <= 4, "{v}");
        }
    }

    #[test]
    fn names_and_numbers_match_the_kernel() {
        // include/net/tcp_states.h
        let table = [
            (1, "ESTABLISHED"),
            (2, "SYN_SENT"),
            (3, "SYN_RECV"),
            (4, "FIN_WAIT1"),
            (5, "FIN_WAIT2"),
            (6, "TIME_WAIT"),
            (7, "CLOSE"),
            (8, "CLOSE_WAIT"),
            (9, "LAST_ACK"),
            (10, "LISTEN"),
            (11, "CLOSING"),
            (12, "NEW_SYN_RECV"),
            (13, "BOUND_INACTIVE"),
        ];
        for (n, name) in table {
            assert_eq!(TcpState::from(n).to_string(), name);
        }
        assert_eq!(TcpState::from(0).to_string(), "0");
        assert_eq!(TcpState::Unknown(200).name(), None);
    }

    #[test]
    fn ca_states_match_linux_raw_sys() {
        use linux_raw_sys::net::tcp_ca_state as k;
        for (ours, theirs) in [
            (CaState::Open, k::TCP_CA_Open),
            (CaState::Disorder, k::TCP_CA_Disorder),
            (CaState::Cwr, k::TCP_CA_CWR),
            (CaState::Recovery, k::TCP_CA_Recovery),
            (CaState::Loss, k::TCP_CA_Loss),
        ] {
            assert_eq!(u32::from(u8::from(ours)), theirs as u32);
        }
    }
}
