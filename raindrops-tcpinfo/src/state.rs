//! The congestion-avoidance state (the TCP state is raindrops-core's
//! [`TcpState`](raindrops_core::TcpState), shared with raindrops-diag).

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
            /// The kernel's name of the value, or `None` for an unknown
            /// value.
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
            assert_eq!(u8::from(CaState::from(v)), v);
            assert_eq!(CaState::from(v).name().is_some(), v <= 4, "{v}");
        }
        assert_eq!(CaState::from(9).to_string(), "9");
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
