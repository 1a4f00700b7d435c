//! The listener record every crate of the workspace passes around: a name,
//! its family and its statistics.

use core::fmt;
use core::net::SocketAddr;

use crate::ListenStats;

/// What kind of socket a listener is: a TCP socket of one address family,
/// or a Unix stream socket.
///
/// The sampler that queried the kernel knows it; it travels with the
/// listener so that no output has to guess it back from the name.
///
/// ```
/// use raindrops_core::Family;
/// let a = "[::1]:80".parse().unwrap();
/// assert_eq!(Family::of_addr(&a), Family::Tcp6);
/// assert_eq!(Family::Tcp6.as_str(), "tcp6");
/// assert!(Family::Tcp4.is_tcp() && !Family::Unix.is_tcp());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    /// A TCP socket bound to an IPv4 address (`AF_INET`).
    Tcp4,
    /// A TCP socket bound to an IPv6 address (`AF_INET6`), which on a
    /// dual-stack any-address listener also takes IPv4 clients.
    Tcp6,
    /// A Unix stream socket (`AF_UNIX`), by path or abstract name.
    Unix,
}

impl Family {
    /// Every family, in the order outputs list them (TCP first).
    pub const ALL: [Family; 3] = [Family::Tcp4, Family::Tcp6, Family::Unix];

    /// The name outputs use: `"tcp4"`, `"tcp6"` or `"unix"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Family::Tcp4 => "tcp4",
            Family::Tcp6 => "tcp6",
            Family::Unix => "unix",
        }
    }

    /// `"tcp"` or `"unix"`: the protocol without the address family.
    pub const fn protocol(self) -> &'static str {
        match self {
            Family::Tcp4 | Family::Tcp6 => "tcp",
            Family::Unix => "unix",
        }
    }

    /// Whether this is a TCP family.
    pub const fn is_tcp(self) -> bool {
        matches!(self, Family::Tcp4 | Family::Tcp6)
    }

    /// The family of a TCP listener bound to `addr`.
    pub const fn of_addr(addr: &SocketAddr) -> Family {
        match addr {
            SocketAddr::V4(_) => Family::Tcp4,
            SocketAddr::V6(_) => Family::Tcp6,
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One listening socket as every output shows it: its name, its
/// [`Family`] and its [`ListenStats`].
///
/// `S` is the string type of the name: `String` where a query produced
/// it, `&str` where a renderer borrows it ([`Listener::as_ref`]). The name
/// is the listener's display form: a canonical TCP address
/// (`127.0.0.1:8080`, `[::1]:8080`) or a Unix socket name escaped by
/// [`EscapedName`](crate::EscapedName) (`/run/app.sock`, `@abstract`), so
/// it is valid UTF-8 without control characters, safe for every output.
///
/// The struct is `#[non_exhaustive]`: fields are added as outputs need
/// them; build it with [`Listener::new`].
///
/// ```
/// use raindrops_core::{Family, ListenStats, Listener};
/// let l = Listener::new(String::from("127.0.0.1:80"), Family::Tcp4, ListenStats::new(1, 2));
/// let r: Listener<&str> = l.as_ref();
/// assert_eq!((r.name, r.family.as_str(), r.stats.total()), ("127.0.0.1:80", "tcp4", 3));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Listener<S> {
    /// The display form of the listener's name (see the type's docs).
    pub name: S,
    /// TCP over IPv4 or IPv6, or Unix.
    pub family: Family,
    /// What the kernel reported for it.
    pub stats: ListenStats,
}

impl<S> Listener<S> {
    /// A listener record.
    pub const fn new(name: S, family: Family, stats: ListenStats) -> Self {
        Listener {
            name,
            family,
            stats,
        }
    }

    /// The same record with the name borrowed.
    pub fn as_ref(&self) -> Listener<&str>
    where
        S: AsRef<str>,
    {
        Listener {
            name: self.name.as_ref(),
            family: self.family,
            stats: self.stats,
        }
    }

    /// The same record with the name converted by `f`.
    pub fn map_name<T>(self, f: impl FnOnce(S) -> T) -> Listener<T> {
        Listener {
            name: f(self.name),
            family: self.family,
            stats: self.stats,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families() {
        assert_eq!(Family::ALL.map(Family::as_str), ["tcp4", "tcp6", "unix"]);
        assert_eq!(Family::ALL.map(Family::protocol), ["tcp", "tcp", "unix"]);
        let v4: SocketAddr = "0.0.0.0:1".parse().unwrap();
        assert_eq!(Family::of_addr(&v4), Family::Tcp4);
        assert!(Family::Tcp4 < Family::Tcp6 && Family::Tcp6 < Family::Unix);
    }

    #[test]
    fn records() {
        let l = Listener::new("/a", Family::Unix, ListenStats::new(0, 1));
        let owned = l.map_name(std::string::String::from);
        assert_eq!(owned.as_ref(), l);
    }
}
