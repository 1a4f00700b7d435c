//! The listener record every crate of the workspace passes around: a name,
//! its family and its statistics, and optionally where it lives and who
//! holds it.

use core::fmt;
use core::net::SocketAddr;

use crate::{ListenStats, Netns, Owner};

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
/// [`Family`] and its [`ListenStats`]; and, where the sampler was asked to
/// find them, its network namespace, its owning process and its cgroup.
///
/// `S` is the string type of the name (and of the other strings of the
/// record): `String` where a query produced it, `&str` where a renderer
/// borrows it ([`Listener::as_ref`]). The name is the listener's display
/// form: a canonical TCP address (`127.0.0.1:8080`, `[::1]:8080`) or a
/// Unix socket name escaped by [`EscapedName`](crate::EscapedName)
/// (`/run/app.sock`, `@abstract`), so it is valid UTF-8 without control
/// characters, safe for every output. The other strings are display forms
/// too.
///
/// The struct is `#[non_exhaustive]`: fields are added as outputs need
/// them; build it with [`Listener::new`] and the `with_` methods.
///
/// ```
/// use raindrops_core::{Family, ListenStats, Listener, Netns, Owner};
/// let l = Listener::new(String::from("127.0.0.1:80"), Family::Tcp4, ListenStats::new(1, 2));
/// let r: Listener<&str> = l.as_ref();
/// assert_eq!((r.name, r.family.as_str(), r.stats.total()), ("127.0.0.1:80", "tcp4", 3));
/// assert_eq!(r.netns, None); // not asked for
///
/// let r = r
///     .with_netns(Netns::new(4026532000).with_name("blue"))
///     .with_owner(Owner::new(812, "nginx"))
///     .with_cgroup("/system.slice/nginx.service");
/// assert_eq!(r.owner.map(|o| o.pid), Some(812));
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
    /// The network namespace it was found in, when the sampler looked at
    /// namespaces (`None`: not asked).
    pub netns: Option<Netns<S>>,
    /// Its main owning process, when asked for and visible.
    pub owner: Option<Owner<S>>,
    /// Its cgroup v2 path, when asked for and known: the cgroup the socket
    /// was created in (TCP), else its main owner's.
    pub cgroup: Option<S>,
}

impl<S> Listener<S> {
    /// A listener record, without namespace, owner or cgroup.
    pub const fn new(name: S, family: Family, stats: ListenStats) -> Self {
        Listener {
            name,
            family,
            stats,
            netns: None,
            owner: None,
            cgroup: None,
        }
    }

    /// The same record, found in network namespace `netns`.
    #[must_use]
    pub fn with_netns(mut self, netns: Netns<S>) -> Self {
        self.netns = Some(netns);
        self
    }

    /// The same record, owned by `owner`.
    #[must_use]
    pub fn with_owner(mut self, owner: Owner<S>) -> Self {
        self.owner = Some(owner);
        self
    }

    /// The same record, in cgroup `path`.
    #[must_use]
    pub fn with_cgroup(mut self, path: S) -> Self {
        self.cgroup = Some(path);
        self
    }

    /// The same record with its strings borrowed.
    pub fn as_ref(&self) -> Listener<&str>
    where
        S: AsRef<str>,
    {
        Listener {
            name: self.name.as_ref(),
            family: self.family,
            stats: self.stats,
            netns: self.netns.as_ref().map(Netns::as_ref),
            owner: self.owner.as_ref().map(Owner::as_ref),
            cgroup: self.cgroup.as_ref().map(AsRef::as_ref),
        }
    }

    /// The same record with its strings (the name, and the namespace name,
    /// command and cgroup where present) converted by `f`.
    pub fn map_name<T>(self, mut f: impl FnMut(S) -> T) -> Listener<T> {
        Listener {
            name: f(self.name),
            family: self.family,
            stats: self.stats,
            netns: self.netns.map(|n| n.map(&mut f)),
            owner: self.owner.map(|o| o.map(&mut f)),
            cgroup: self.cgroup.map(&mut f),
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
        let full = l
            .with_netns(Netns::new(9).with_name("n"))
            .with_owner(Owner::new(3, "c").with_processes(2))
            .with_cgroup("/g");
        let owned = full.map_name(std::string::String::from);
        assert_eq!(owned.as_ref(), full);
        assert_eq!(owned.cgroup.as_deref(), Some("/g"));
        let lens = full.map_name(str::len);
        assert_eq!(lens.owner.map(|o| o.command), Some(1));
    }
}
