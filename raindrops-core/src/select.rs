//! Listener selection: which listeners a query of "every listener" keeps.
//!
//! A [`Selector`] names listeners the way people type them: an exact
//! address (`127.0.0.1:80`, `[::1]:80`), every listener on a port or a
//! range of ports whatever its address (`:80`, `:8000-8100`), the loopback
//! listeners of a port (`localhost:80`), every port of an address
//! (`127.0.0.1:*`), or Unix socket names by a small glob (`/run/user/*`,
//! `@app-?`). A [`Selection`] combines includes, excludes and the rule that
//! keeps listeners on ephemeral ports out; docs/selection.md of the
//! repository describes the whole behaviour.
//!
//! Everything here is `Copy`, allocation-free and bounds-checked: parsing
//! never panics, and selectors borrow the text they were parsed from.

use core::fmt;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::addr::{Host, parse_port, split_host_port};
use crate::{AddrError, Family, Listener, parse_tcp_addr};

/// An inclusive range of TCP ports, `first..=last`, never empty.
///
/// ```
/// use raindrops_core::PortRange;
/// let r = PortRange::parse("8000-8100").unwrap();
/// assert!(r.contains(8080) && !r.contains(8101));
/// assert_eq!(r.to_string(), "8000-8100");
/// assert_eq!(PortRange::parse("80").unwrap(), PortRange::one(80));
/// // The text of /proc/sys/net/ipv4/ip_local_port_range:
/// let eph = PortRange::parse_local_port_range("32768\t60999\n").unwrap();
/// assert_eq!((eph.first(), eph.last()), (32768, 60999));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PortRange {
    first: u16,
    last: u16,
}

impl PortRange {
    /// Every port, `0-65535` (written `*` in selectors).
    pub const ALL: PortRange = PortRange {
        first: 0,
        last: u16::MAX,
    };

    /// `first..=last`, or `None` if `first > last`.
    pub const fn new(first: u16, last: u16) -> Option<Self> {
        if first <= last {
            Some(PortRange { first, last })
        } else {
            None
        }
    }

    /// The one port `port`.
    pub const fn one(port: u16) -> Self {
        PortRange {
            first: port,
            last: port,
        }
    }

    /// The first port of the range.
    pub const fn first(self) -> u16 {
        self.first
    }

    /// The last port of the range (included).
    pub const fn last(self) -> u16 {
        self.last
    }

    /// Whether `port` is in the range.
    pub const fn contains(self, port: u16) -> bool {
        self.first <= port && port <= self.last
    }

    /// Parses `PORT`, `FIRST-LAST` or `*` (every port). Ports are decimal
    /// digits only, 0 to 65535.
    ///
    /// # Errors
    ///
    /// [`AddrError::MissingPort`] for an empty string or side,
    /// [`AddrError::InvalidPort`] for anything but digits or a number above
    /// 65535, [`AddrError::ReversedRange`] if `FIRST > LAST`.
    pub fn parse(s: &str) -> Result<Self, AddrError> {
        if s == "*" {
            return Ok(PortRange::ALL);
        }
        match s.split_once('-') {
            Some((a, b)) => {
                let (first, last) = (parse_port(a)?, parse_port(b)?);
                PortRange::new(first, last).ok_or(AddrError::ReversedRange)
            }
            None => parse_port(s).map(PortRange::one),
        }
    }

    /// Parses the text of `/proc/sys/net/ipv4/ip_local_port_range`: two
    /// decimal ports separated by white space (the kernel writes a tab and a
    /// newline), the first not above the second.
    ///
    /// # Errors
    ///
    /// [`AddrError::MissingPort`] unless there are exactly two numbers,
    /// [`AddrError::InvalidPort`] or [`AddrError::ReversedRange`] as
    /// [`PortRange::parse`].
    pub fn parse_local_port_range(s: &str) -> Result<Self, AddrError> {
        let mut words = s.split_ascii_whitespace();
        let (Some(a), Some(b), None) = (words.next(), words.next(), words.next()) else {
            return Err(AddrError::MissingPort);
        };
        let (first, last) = (parse_port(a)?, parse_port(b)?);
        PortRange::new(first, last).ok_or(AddrError::ReversedRange)
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.first == self.last {
            write!(f, "{}", self.first)
        } else {
            write!(f, "{}-{}", self.first, self.last)
        }
    }
}

/// Which local addresses a TCP [`Selector`] takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HostSelector {
    /// Any address and family (`:80`, `*:80`).
    Any,
    /// `127.0.0.1` and `::1` (`localhost:80`; no name is resolved).
    Localhost,
    /// Exactly this address (`127.0.0.1:80`, `0.0.0.0:80`, `[::1]:80`).
    Ip(IpAddr),
}

impl HostSelector {
    /// Whether a listener bound to `ip` is taken.
    pub fn matches(self, ip: IpAddr) -> bool {
        match self {
            HostSelector::Any => true,
            HostSelector::Localhost => {
                ip == IpAddr::V4(Ipv4Addr::LOCALHOST) || ip == IpAddr::V6(Ipv6Addr::LOCALHOST)
            }
            HostSelector::Ip(want) => ip == want,
        }
    }
}

/// A pattern for Unix socket names: a small glob over the name's display
/// form ([`EscapedName`](crate::EscapedName)), where `*` matches any run of
/// characters (`/` included) and `?` any one character; every other
/// character matches itself. There is no escape character: a name with a
/// literal `*` or `?` is matched by the same character too.
///
/// ```
/// use raindrops_core::UnixPattern;
/// let p = UnixPattern::new("/run/user/*").unwrap();
/// assert!(p.matches("/run/user/1000/bus"));
/// assert!(!p.matches("/run/app.sock"));
/// assert!(UnixPattern::new("@app-?").unwrap().matches("@app-1"));
/// assert!(UnixPattern::new("run/*").is_none(), "a name starts with / or @");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct UnixPattern<'a>(&'a str);

impl<'a> UnixPattern<'a> {
    /// The pattern `pattern`, or `None` unless it starts with `/` (a path)
    /// or `@` (an abstract name).
    pub fn new(pattern: &'a str) -> Option<Self> {
        (pattern.starts_with('/') || pattern.starts_with('@')).then_some(UnixPattern(pattern))
    }

    /// The pattern as given.
    pub const fn as_str(&self) -> &'a str {
        self.0
    }

    /// Whether the pattern has no `*` or `?`: it then matches one name.
    pub fn is_literal(&self) -> bool {
        !self.0.contains(['*', '?'])
    }

    /// Whether `name` (a display form) matches. Runs in at most
    /// `pattern length × name length` steps, without allocation.
    pub fn matches(&self, name: &str) -> bool {
        glob(self.0, name)
    }
}

/// The glob of [`UnixPattern`]: the classic two-cursor match that, on a
/// mismatch, retries from the last `*` one character further.
fn glob(pattern: &str, name: &str) -> bool {
    let (mut p, mut n) = (pattern.chars(), name.chars());
    // The pattern after the last `*` seen, and where in the name it was
    // last tried.
    let mut star: Option<(core::str::Chars<'_>, core::str::Chars<'_>)> = None;
    loop {
        let mut p_next = p.clone();
        let pc = p_next.next();
        if pc == Some('*') {
            star = Some((p_next.clone(), n.clone()));
            p = p_next;
            continue;
        }
        let mut n_next = n.clone();
        match (pc, n_next.next()) {
            (None, None) => return true,
            (Some('?'), Some(_)) => {
                p = p_next;
                n = n_next;
                continue;
            }
            (Some(a), Some(b)) if a == b => {
                p = p_next;
                n = n_next;
                continue;
            }
            _ => {}
        }
        let Some((after_star, tried)) = star.as_mut() else {
            return false;
        };
        if tried.next().is_none() {
            return false;
        }
        p = after_star.clone();
        n = tried.clone();
    }
}

/// One listener selector, as typed on a command line; see the module
/// documentation for the forms.
///
/// ```
/// use raindrops_core::{Family, ListenStats, Listener, Selector};
/// let l = |name, family| Listener::new(name, family, ListenStats::new(0, 0));
/// let port = Selector::parse(":8080").unwrap();
/// assert!(port.matches(&l("0.0.0.0:8080", Family::Tcp4)));
/// assert!(port.matches(&l("[::1]:8080", Family::Tcp6)));
/// let local = Selector::parse("localhost:8080").unwrap();
/// assert!(local.matches(&l("[::1]:8080", Family::Tcp6)));
/// assert!(!local.matches(&l("0.0.0.0:8080", Family::Tcp4)));
/// let range = Selector::parse(":8000-8100").unwrap();
/// assert!(range.matches(&l("10.0.0.1:8042", Family::Tcp4)));
/// let runs = Selector::parse("/run/user/*").unwrap();
/// assert!(runs.matches(&l("/run/user/1000/bus", Family::Unix)));
/// assert_eq!(Selector::parse("[1:::]5"), Err(raindrops_core::AddrError::MissingColon));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Selector<'a> {
    /// TCP listeners bound to an address `host` takes, on a port in
    /// `ports`.
    Tcp {
        /// The addresses taken.
        host: HostSelector,
        /// The ports taken.
        ports: PortRange,
    },
    /// Unix listeners whose display name matches the pattern.
    Unix(UnixPattern<'a>),
}

impl<'a> Selector<'a> {
    /// Parses a selector:
    ///
    /// | text | selects |
    /// |---|---|
    /// | `127.0.0.1:80`, `0.0.0.0:80`, `[::1]:80`, `[fe80::1%eth0]:80` | the listener bound to that address (a scope id is ignored) |
    /// | `:80`, `*:80` | every TCP listener on port 80, any address and family |
    /// | `:8000-8100`, `127.0.0.1:8000-8100` | a range of ports |
    /// | `127.0.0.1:*` | every port of an address |
    /// | `localhost:80` | `127.0.0.1:80` and `[::1]:80` |
    /// | `/run/app.sock`, `/run/user/*`, `@app-?` | Unix names by [`UnixPattern`] |
    ///
    /// # Errors
    ///
    /// The [`AddrError`] that names the first fault: a missing port, a
    /// port out of range, brackets, a host that is not a number.
    pub fn parse(s: &'a str) -> Result<Self, AddrError> {
        if s.is_empty() {
            return Err(AddrError::Empty);
        }
        if let Some(p) = UnixPattern::new(s) {
            return Ok(Selector::Unix(p));
        }
        let any = s.strip_prefix(':').or_else(|| s.strip_prefix("*:"));
        // `::1:80` is an IPv6 address without brackets, not a port.
        if let Some(ports) = any.filter(|p| !p.contains([':', ']'])) {
            return Ok(Selector::Tcp {
                host: HostSelector::Any,
                ports: PortRange::parse(ports)?,
            });
        }
        const LOCALHOST: &str = "localhost:";
        if let Some(head) = s.get(..LOCALHOST.len()) {
            if head.eq_ignore_ascii_case(LOCALHOST) {
                return Ok(Selector::Tcp {
                    host: HostSelector::Localhost,
                    ports: PortRange::parse(&s[LOCALHOST.len()..])?,
                });
            }
        }
        let (host, ports) = split_host_port(s)?;
        let ip = match host {
            Host::V4(ip) => IpAddr::V4(ip),
            Host::V6(ip) => IpAddr::V6(ip),
        };
        Ok(Selector::Tcp {
            host: HostSelector::Ip(ip),
            ports: PortRange::parse(ports)?,
        })
    }

    /// The exact TCP address this selector names, if it names one
    /// listener address (`127.0.0.1:80`, not `:80` or `localhost:80`).
    pub fn exact_addr(&self) -> Option<SocketAddr> {
        match *self {
            Selector::Tcp {
                host: HostSelector::Ip(ip),
                ports,
            } if ports.first == ports.last => Some(SocketAddr::new(ip, ports.first)),
            _ => None,
        }
    }

    /// Whether this selector is about TCP listeners.
    pub const fn is_tcp(&self) -> bool {
        matches!(self, Selector::Tcp { .. })
    }

    /// Whether `listener` is selected.
    pub fn matches<S: AsRef<str>>(&self, listener: &Listener<S>) -> bool {
        self.matches_target(&Target::of(listener))
    }

    /// Whether a TCP listener bound to `addr` is selected.
    pub fn matches_addr(&self, addr: &SocketAddr) -> bool {
        match self {
            Selector::Tcp { host, ports } => ports.contains(addr.port()) && host.matches(addr.ip()),
            Selector::Unix(_) => false,
        }
    }

    fn matches_target(&self, t: &Target<'_>) -> bool {
        match (self, t) {
            (Selector::Tcp { .. }, Target::Tcp(a)) => self.matches_addr(a),
            (Selector::Unix(p), Target::Unix(name)) => p.matches(name),
            _ => false,
        }
    }
}

impl fmt::Display for Selector<'_> {
    /// The canonical spelling, which [`Selector::parse`] reads back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Selector::Unix(p) => f.write_str(p.as_str()),
            Selector::Tcp { host, ports } => {
                match host {
                    HostSelector::Any => {}
                    HostSelector::Localhost => f.write_str("localhost")?,
                    HostSelector::Ip(IpAddr::V4(ip)) => write!(f, "{ip}")?,
                    HostSelector::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]")?,
                }
                if *ports == PortRange::ALL {
                    f.write_str(":*")
                } else {
                    write!(f, ":{ports}")
                }
            }
        }
    }
}

/// A listener reduced to what selectors look at, its name parsed once.
enum Target<'n> {
    Tcp(SocketAddr),
    Unix(&'n str),
    /// A TCP listener whose name is not an address: no selector takes it.
    Unknown,
}

impl<'n> Target<'n> {
    fn of<S: AsRef<str>>(l: &'n Listener<S>) -> Self {
        let name = l.name.as_ref();
        match l.family {
            Family::Unix => Target::Unix(name),
            Family::Tcp4 | Family::Tcp6 => match parse_tcp_addr(name) {
                Ok(a) => Target::Tcp(a),
                Err(_) => Target::Unknown,
            },
        }
    }
}

/// Why a [`Selection`] keeps or leaves out a listener.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// Kept.
    Selected,
    /// An exclude selector matches it.
    Excluded,
    /// There are include selectors and none matches it.
    NotIncluded,
    /// A TCP listener on an ephemeral port, left out by default.
    Ephemeral,
}

/// Which listeners a query of every listener keeps: include and exclude
/// [`Selector`]s and the ephemeral-port rule, borrowed from the caller.
///
/// In order: a listener an exclude matches is left out; with includes, a
/// listener is kept if one of them matches it; without includes, a TCP
/// listener whose port is in the ephemeral range (the host's
/// `ip_local_port_range`, where the kernel picks ports for outgoing
/// connections and for `bind` to port 0) is left out, since such
/// listeners are usually short-lived (a browser's, a test's) and would
/// only add series; everything else is kept. Listeners named explicitly
/// are the caller's business: `raindrops` always samples them.
///
/// ```
/// use raindrops_core::{Family, ListenStats, Listener, PortRange, Selection, Selector, Verdict};
/// let l = |name| Listener::new(name, Family::Tcp4, ListenStats::new(0, 0));
/// let exclude = [Selector::parse(":22").unwrap()];
/// let sel = Selection::new()
///     .with_exclude(&exclude)
///     .with_ephemeral(PortRange::new(32768, 60999));
/// assert_eq!(sel.verdict(&l("0.0.0.0:80")), Verdict::Selected);
/// assert_eq!(sel.verdict(&l("0.0.0.0:22")), Verdict::Excluded);
/// assert_eq!(sel.verdict(&l("127.0.0.1:45123")), Verdict::Ephemeral);
/// let include = [Selector::parse(":40000-41000").unwrap()];
/// let sel = sel.with_include(&include);
/// assert_eq!(sel.verdict(&l("127.0.0.1:40001")), Verdict::Selected);
/// assert_eq!(sel.verdict(&l("0.0.0.0:80")), Verdict::NotIncluded);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Selection<'a> {
    include: &'a [Selector<'a>],
    exclude: &'a [Selector<'a>],
    ephemeral: Option<PortRange>,
}

impl<'a> Selection<'a> {
    /// Every listener: no include, no exclude, no ephemeral rule.
    pub const fn new() -> Self {
        Selection {
            include: &[],
            exclude: &[],
            ephemeral: None,
        }
    }

    /// The same selection keeping only listeners one of `include` matches
    /// (none: no such restriction).
    #[must_use]
    pub const fn with_include(mut self, include: &'a [Selector<'a>]) -> Self {
        self.include = include;
        self
    }

    /// The same selection leaving out listeners one of `exclude` matches.
    #[must_use]
    pub const fn with_exclude(mut self, exclude: &'a [Selector<'a>]) -> Self {
        self.exclude = exclude;
        self
    }

    /// The same selection leaving out, when there are no includes, TCP
    /// listeners on a port in `range` (`None`: no such rule).
    #[must_use]
    pub const fn with_ephemeral(mut self, range: Option<PortRange>) -> Self {
        self.ephemeral = range;
        self
    }

    /// The include selectors.
    pub const fn include(&self) -> &'a [Selector<'a>] {
        self.include
    }

    /// The exclude selectors.
    pub const fn exclude(&self) -> &'a [Selector<'a>] {
        self.exclude
    }

    /// The ephemeral range left out, if any.
    pub const fn ephemeral(&self) -> Option<PortRange> {
        self.ephemeral
    }

    /// Whether this selection keeps every listener.
    pub const fn is_all(&self) -> bool {
        self.include.is_empty() && self.exclude.is_empty() && self.ephemeral.is_none()
    }

    /// Why `listener` is kept or left out.
    pub fn verdict<S: AsRef<str>>(&self, listener: &Listener<S>) -> Verdict {
        let t = Target::of(listener);
        if self.exclude.iter().any(|s| s.matches_target(&t)) {
            return Verdict::Excluded;
        }
        if !self.include.is_empty() {
            return if self.include.iter().any(|s| s.matches_target(&t)) {
                Verdict::Selected
            } else {
                Verdict::NotIncluded
            };
        }
        match (self.ephemeral, &t) {
            (Some(r), Target::Tcp(a)) if r.contains(a.port()) => Verdict::Ephemeral,
            _ => Verdict::Selected,
        }
    }

    /// Whether `listener` is kept.
    pub fn selects<S: AsRef<str>>(&self, listener: &Listener<S>) -> bool {
        self.verdict(listener) == Verdict::Selected
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ListenStats;
    use proptest::prelude::*;
    use std::string::ToString;

    fn l(name: &str, family: Family) -> Listener<&str> {
        Listener::new(name, family, ListenStats::new(0, 0))
    }

    #[test]
    fn forms() {
        let any80 = Selector::Tcp {
            host: HostSelector::Any,
            ports: PortRange::one(80),
        };
        assert_eq!(Selector::parse(":80"), Ok(any80));
        assert_eq!(Selector::parse("*:80"), Ok(any80));
        assert_eq!(
            Selector::parse("LocalHost:1-2"),
            Ok(Selector::Tcp {
                host: HostSelector::Localhost,
                ports: PortRange::new(1, 2).unwrap()
            })
        );
        let s = Selector::parse("[fe80::1%eth0]:80").unwrap();
        assert_eq!(s.exact_addr(), Some("[fe80::1]:80".parse().unwrap()));
        assert_eq!(s.to_string(), "[fe80::1]:80");
        assert_eq!(
            Selector::parse("127.0.0.1:*").unwrap().to_string(),
            "127.0.0.1:*"
        );
        assert_eq!(Selector::parse(":*").unwrap().exact_addr(), None);
        assert_eq!(Selector::parse("localhost:80").unwrap().exact_addr(), None);
        assert!(Selector::parse("@x").is_ok_and(|s| !s.is_tcp()));
    }

    #[test]
    fn errors_name_the_fault() {
        use AddrError::*;
        for (s, e) in [
            ("", Empty),
            (":", MissingPort),
            (":x", InvalidPort),
            (":80-", MissingPort),
            (":-80", MissingPort),
            (":90-80", ReversedRange),
            (":1-2-3", InvalidPort),
            ("localhost", MissingPort),
            ("localhost:", MissingPort),
            ("localhost:99999", InvalidPort),
            ("example.com:80", InvalidAddress),
            ("[1:::]5", MissingColon),
            ("[::1", MissingBracket),
            ("::1]:80", UnexpectedBracket),
            ("::1:80", UnbracketedIpv6),
            ("1.2.3.4", MissingPort),
        ] {
            assert_eq!(Selector::parse(s), Err(e), "{s:?}");
            assert!(!e.to_string().is_empty());
        }
    }

    #[test]
    fn matching() {
        let sel = |s| Selector::parse(s).unwrap();
        assert!(sel("localhost:80").matches(&l("127.0.0.1:80", Family::Tcp4)));
        assert!(!sel("localhost:80").matches(&l("127.0.0.2:80", Family::Tcp4)));
        assert!(!sel("localhost:80").matches(&l("[::]:80", Family::Tcp6)));
        assert!(sel("0.0.0.0:80").matches(&l("0.0.0.0:80", Family::Tcp4)));
        assert!(!sel("0.0.0.0:80").matches(&l("127.0.0.1:80", Family::Tcp4)));
        assert!(!sel(":80").matches(&l("/80", Family::Unix)));
        assert!(!sel("/*").matches(&l("127.0.0.1:80", Family::Tcp4)));
        assert!(!sel(":80").matches(&l("not an address", Family::Tcp4)));
        assert!(sel("/tmp/\\xde*").matches(&l("/tmp/\\xde\\xad", Family::Unix)));
    }

    #[test]
    fn globs() {
        for (p, n, m) in [
            ("/a", "/a", true),
            ("/a", "/ab", false),
            ("/*", "/", true),
            ("/*", "/x/y/z", true),
            ("/*.sock", "/run/app.sock", true),
            ("/*.sock", "/run/app.socket", false),
            ("/?", "/é", true),
            ("/??", "/é", false),
            ("/*a*b*c", "/aXbYcZc", true),
            ("/*a*b*c", "/aXbYcZ", false),
            ("@*", "@", true),
            ("/**", "/", true),
        ] {
            assert_eq!(UnixPattern::new(p).unwrap().matches(n), m, "{p} {n}");
        }
    }

    #[test]
    fn local_port_range() {
        use AddrError::*;
        assert_eq!(
            PortRange::parse_local_port_range(" 1024 65535 "),
            Ok(PortRange::new(1024, 65535).unwrap())
        );
        for (s, e) in [
            ("", MissingPort),
            ("1", MissingPort),
            ("1 2 3", MissingPort),
            ("2 1", ReversedRange),
            ("-1 2", InvalidPort),
            ("1 70000", InvalidPort),
        ] {
            assert_eq!(PortRange::parse_local_port_range(s), Err(e), "{s:?}");
        }
    }

    /// The glob by its definition, recursively: the reference for the
    /// proptest below.
    fn glob_ref(p: &[char], n: &[char]) -> bool {
        match p.split_first() {
            None => n.is_empty(),
            Some(('*', rest)) => (0..=n.len()).any(|i| glob_ref(rest, &n[i..])),
            Some((&c, rest)) => match n.split_first() {
                Some((&d, nrest)) => (c == '?' || c == d) && glob_ref(rest, nrest),
                None => false,
            },
        }
    }

    proptest! {
        #[test]
        fn parse_never_panics(s in "\\PC{0,40}") {
            if let Ok(sel) = Selector::parse(&s) {
                // The canonical spelling reads back to the same selector.
                let printed = sel.to_string();
                prop_assert_eq!(Selector::parse(&printed), Ok(sel));
            }
            let _ = PortRange::parse_local_port_range(&s);
        }

        #[test]
        fn tcp_forms_roundtrip(ip in any::<IpAddr>(), a in any::<u16>(), b in any::<u16>(), which in 0..3u8) {
            let host = match which {
                0 => HostSelector::Any,
                1 => HostSelector::Localhost,
                _ => HostSelector::Ip(ip),
            };
            let sel = Selector::Tcp { host, ports: PortRange::new(a.min(b), a.max(b)).unwrap() };
            let printed = sel.to_string();
            prop_assert_eq!(Selector::parse(&printed), Ok(sel));
        }

        #[test]
        fn glob_agrees_with_its_definition(p in "[ab*?]{0,8}", n in "[abc]{0,10}") {
            let (pc, nc): (std::vec::Vec<char>, std::vec::Vec<char>) = (p.chars().collect(), n.chars().collect());
            prop_assert_eq!(glob(&p, &n), glob_ref(&pc, &nc));
        }

        #[test]
        fn a_port_selector_takes_exactly_its_ports(port in any::<u16>(), a in any::<u16>(), b in any::<u16>(), v6 in any::<bool>()) {
            let r = PortRange::new(a.min(b), a.max(b)).unwrap();
            let sel = Selector::Tcp { host: HostSelector::Any, ports: r };
            let name = if v6 { std::format!("[::1]:{port}") } else { std::format!("10.0.0.1:{port}") };
            let family = if v6 { Family::Tcp6 } else { Family::Tcp4 };
            prop_assert_eq!(sel.matches(&l(&name, family)), r.contains(port));
        }
    }
}
