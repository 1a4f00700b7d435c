//! Listener address strings: `"127.0.0.1:8080"`, `"[::1]:8080"`, Unix paths.

use core::fmt;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

/// Why a listener address string (or a selector) was refused (see
/// [`parse_tcp_addr`] and [`Selector::parse`](crate::Selector::parse)).
///
/// A `Copy` value with no allocation; callers that own the input string
/// name it in their own error (raindrops-diag does). Each variant names
/// one fault, so that the message says what to change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AddrError {
    /// The string is empty.
    Empty,
    /// There is no `:port` after the address.
    MissingPort,
    /// The port is not a decimal number from 0 to 65535.
    InvalidPort,
    /// An IPv6 address starts with `[` but has no `]`.
    MissingBracket,
    /// A `]` without a `[` before it.
    UnexpectedBracket,
    /// Something other than `:port` follows the `]` of an IPv6 address
    /// (`"[::1]80"`, `"[1:::]5"`).
    MissingColon,
    /// An IPv6 address without brackets (`"::1:80"`): its port cannot be
    /// told apart from its last group.
    UnbracketedIpv6,
    /// The host part is not a numeric IPv4 address or a bracketed IPv6
    /// address (host names are not resolved).
    InvalidAddress,
    /// A port range whose first port is above its last (`":9000-8000"`).
    ReversedRange,
}

impl fmt::Display for AddrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AddrError::Empty => "empty address",
            AddrError::MissingPort => "port not found (expected ADDRESS:PORT)",
            AddrError::InvalidPort => "invalid port (expected 0 to 65535)",
            AddrError::MissingBracket => {
                "missing ']' after the IPv6 address (expected [IPV6]:PORT)"
            }
            AddrError::UnexpectedBracket => "']' without a '[' before it (expected [IPV6]:PORT)",
            AddrError::MissingColon => "expected ':PORT' right after ']'",
            AddrError::UnbracketedIpv6 => {
                "an IPv6 address needs brackets around it (expected [IPV6]:PORT)"
            }
            AddrError::InvalidAddress => "not a numeric IPv4 address or bracketed IPv6 address",
            AddrError::ReversedRange => "port range ends before it starts (expected FIRST-LAST)",
        })
    }
}

impl core::error::Error for AddrError {}

/// Parses a TCP listener address in the forms the Ruby gem takes:
/// `"127.0.0.1:8080"`, `"0.0.0.0:80"`, `"[::1]:8080"`, `"[::]:80"`.
///
/// An IPv6 scope id (`"[fe80::1%eth0]:80"`) is accepted and removed: the
/// result has scope id 0, so it prints as `"[fe80::1]:80"`. Host names are
/// not resolved. The parser is bounds-checked, never panics and never
/// allocates.
///
/// ```
/// use raindrops_core::{parse_tcp_addr, AddrError};
/// assert_eq!(parse_tcp_addr("127.0.0.1:8080").unwrap().to_string(), "127.0.0.1:8080");
/// assert_eq!(parse_tcp_addr("[fe80::1%eth0]:80").unwrap().to_string(), "[fe80::1]:80");
/// assert_eq!(parse_tcp_addr("127.0.0.1"), Err(AddrError::MissingPort));
/// assert_eq!(parse_tcp_addr("127.0.0.1:65536"), Err(AddrError::InvalidPort));
/// assert_eq!(parse_tcp_addr("[::1:80"), Err(AddrError::MissingBracket));
/// assert_eq!(parse_tcp_addr("[1:::]5"), Err(AddrError::MissingColon));
/// assert_eq!(parse_tcp_addr("::1:80"), Err(AddrError::UnbracketedIpv6));
/// assert_eq!(parse_tcp_addr("localhost:80"), Err(AddrError::InvalidAddress));
/// ```
pub fn parse_tcp_addr(s: &str) -> Result<SocketAddr, AddrError> {
    let (host, port) = split_host_port(s)?;
    let port = parse_port(port)?;
    Ok(match host {
        Host::V4(ip) => SocketAddr::V4(SocketAddrV4::new(ip, port)),
        Host::V6(ip) => SocketAddr::V6(SocketAddrV6::new(ip, port, 0, 0)),
    })
}

/// The host part of an address string, parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Host {
    V4(Ipv4Addr),
    V6(Ipv6Addr),
}

/// Splits `HOST:PORT` or `[IPV6%SCOPE]:PORT` and parses the host; the
/// port is returned as text (a number or, for selectors, a range).
///
/// The structure is checked before the address, so that the error names
/// the first thing to change: `"[1:::]5"` lacks the `:` before its port.
pub(crate) fn split_host_port(s: &str) -> Result<(Host, &str), AddrError> {
    if s.is_empty() {
        return Err(AddrError::Empty);
    }
    if let Some(rest) = s.strip_prefix('[') {
        let Some(close) = rest.find(']') else {
            return Err(AddrError::MissingBracket);
        };
        let (inside, after) = (&rest[..close], &rest[close + 1..]);
        let Some(port) = after.strip_prefix(':') else {
            return Err(if after.is_empty() {
                AddrError::MissingPort
            } else {
                AddrError::MissingColon
            });
        };
        let host = match inside.find('%') {
            Some(pct) if pct + 1 < inside.len() => &inside[..pct],
            Some(_) => return Err(AddrError::InvalidAddress),
            None => inside,
        };
        let ip: Ipv6Addr = host.parse().map_err(|_| AddrError::InvalidAddress)?;
        return Ok((Host::V6(ip), port));
    }
    if s.contains(']') {
        return Err(AddrError::UnexpectedBracket);
    }
    let Some(colon) = s.rfind(':') else {
        return Err(AddrError::MissingPort);
    };
    let (host, port) = (&s[..colon], &s[colon + 1..]);
    if host.contains(':') {
        // An IPv6 address without brackets: the port cannot be told apart.
        return Err(AddrError::UnbracketedIpv6);
    }
    let ip: Ipv4Addr = host.parse().map_err(|_| AddrError::InvalidAddress)?;
    Ok((Host::V4(ip), port))
}

/// A decimal port from 0 to 65535 (digits only, at most 5 of them).
pub(crate) fn parse_port(s: &str) -> Result<u16, AddrError> {
    if s.is_empty() {
        return Err(AddrError::MissingPort);
    }
    // Digits only: `u16::from_str` would also take a leading '+'.
    if s.len() > 5 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(AddrError::InvalidPort);
    }
    s.parse().map_err(|_| AddrError::InvalidPort)
}

/// Whether `s` names a Unix socket rather than a TCP address: a filesystem
/// path (starts with `/`, as the Ruby gem decides) or an abstract-namespace
/// name written `@name`.
pub fn is_unix_name(s: &str) -> bool {
    s.starts_with('/') || s.starts_with('@')
}

/// The any-address (`0.0.0.0` or `::`) with the port of `addr`: the
/// listener that receives connections to `addr` when no listener is bound to
/// `addr` itself.
pub fn any_addr_of(addr: &SocketAddr) -> SocketAddr {
    match addr {
        SocketAddr::V4(a) => SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), a.port()),
        SocketAddr::V6(a) => SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), a.port()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::string::{String, ToString};

    #[test]
    fn forms_of_the_ruby_gem() {
        for s in [
            "127.0.0.1:8080",
            "0.0.0.0:80",
            "[::1]:8080",
            "[::]:80",
            "[::ffff:127.0.0.1]:80",
        ] {
            assert_eq!(parse_tcp_addr(s).unwrap().to_string(), s);
        }
        assert_eq!(
            parse_tcp_addr("127.0.0.1:080").unwrap().to_string(),
            "127.0.0.1:80"
        );
        assert_eq!(
            parse_tcp_addr("[fe80::1%2]:1").unwrap().to_string(),
            "[fe80::1]:1"
        );
    }

    #[test]
    fn bad_input() {
        use AddrError::*;
        let cases = [
            ("", Empty),
            ("1.2.3.4", MissingPort),
            ("1.2.3.4:", MissingPort),
            ("1.2.3.4:99999", InvalidPort),
            ("1.2.3.4:65536", InvalidPort),
            ("1.2.3.4:+80", InvalidPort),
            ("1.2.3.4:8 0", InvalidPort),
            ("1.2.3.4:000080", InvalidPort),
            ("[::1]", MissingPort),
            ("[::1]:", MissingPort),
            ("[::1]x:80", MissingColon),
            ("[1:::]5", MissingColon),
            ("[::1]80", MissingColon),
            ("[::1:80", MissingBracket),
            ("[::1", MissingBracket),
            ("::1]:80", UnexpectedBracket),
            ("1.2.3.4]:80", UnexpectedBracket),
            ("::1:80", UnbracketedIpv6),
            ("fe80::1%eth0:80", UnbracketedIpv6),
            ("[::1%]:80", InvalidAddress),
            ("[1.2.3.4]:80", InvalidAddress),
            ("localhost:80", InvalidAddress),
            ("127.1:80", InvalidAddress),
            (" 1.2.3.4:80", InvalidAddress),
            ("[]:80", InvalidAddress),
        ];
        for (s, e) in cases {
            assert_eq!(parse_tcp_addr(s), Err(e), "{s:?}");
        }
    }

    #[test]
    fn unix_and_any() {
        assert!(is_unix_name("/tmp/sock"));
        assert!(is_unix_name("@abstract"));
        assert!(!is_unix_name("127.0.0.1:80"));
        let a = parse_tcp_addr("[::1]:9").unwrap();
        assert_eq!(any_addr_of(&a).to_string(), "[::]:9");
        let a = parse_tcp_addr("10.0.0.1:9").unwrap();
        assert_eq!(any_addr_of(&a).to_string(), "0.0.0.0:9");
    }

    proptest! {
        #[test]
        fn never_panics(s in "\\PC*") {
            let _ = parse_tcp_addr(&s);
        }

        #[test]
        fn display_roundtrips(a in any::<SocketAddr>()) {
            let a = match a {
                SocketAddr::V6(v6) => SocketAddr::V6(SocketAddrV6::new(*v6.ip(), v6.port(), 0, 0)),
                v4 => v4,
            };
            let s = a.to_string();
            prop_assert_eq!(parse_tcp_addr(&s), Ok(a));
        }

        #[test]
        fn scope_ids_are_removed(ip in any::<Ipv6Addr>(), port in any::<u16>(), scope in "[a-z0-9]{1,15}") {
            let s = std::format!("[{ip}%{scope}]:{port}");
            let parsed = parse_tcp_addr(&s).unwrap();
            let expected: String = SocketAddr::V6(SocketAddrV6::new(ip, port, 0, 0)).to_string();
            prop_assert_eq!(parsed.to_string(), expected);
        }
    }
}
