//! The reusable query handle of the `std` API: one netlink socket, one
//! receive buffer and the tables, kept across queries.

use crate::dumps::ListenSink;
use crate::errno;
use crate::error::{DiagModule, Error, QueryError};
use crate::listen_sockets::{self, Collector, ListenSocket};
use crate::listeners::Listeners;
use crate::name::UnixName;
use crate::query::{TcpQuery, UnixQuery};
use crate::socket::{DiagSocket, RECV_BUFFER_LEN};
use crate::table::{IndexedTable, Slots};
use crate::tally::{TcpTally, UnixTally};
use core::net::SocketAddr;
use raindrops_core::{EscapedName, Family, ListenStats, Listener, parse_tcp_addr};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::string::{String, ToString};
use std::vec::Vec;

/// Where the `/proc/net/unix` fallback reads: the calling thread's view
/// (`/proc/thread-self`, Linux 3.17), which is the network namespace of
/// the thread, so a thread that entered another namespace (`setns`) reads
/// that namespace's sockets; `/proc/net/unix` shows the main thread's.
pub const PROC_NET_UNIX: &str = "/proc/thread-self/net/unix";

/// A reusable listener-statistics query handle: one `NETLINK_SOCK_DIAG`
/// socket and a receive buffer of [`RECV_BUFFER_LEN`] bytes, so that a
/// program that asks every second (a watcher, an exporter) makes no new
/// socket and no new buffer per query.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::net::TcpListener;
/// let listener = TcpListener::bind("127.0.0.1:0")?;
/// let addr = listener.local_addr()?.to_string();
/// let _client = std::net::TcpStream::connect(&addr)?;
///
/// let mut diag = raindrops_diag::Diag::new()?;
/// let stats = diag.tcp_listener_stats(&[addr.as_str()])?;
/// let s = stats.get(&addr).unwrap();
/// assert_eq!((s.active, s.queued), (0, 1)); // connected, not yet accepted
/// assert!(s.backlog.unwrap() >= 1);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Diag {
    sock: DiagSocket,
    buf: Vec<u8>,
    tcp: IndexedTable<SocketAddr>,
    unix: IndexedTable<UnixName>,
    addrs: Vec<SocketAddr>,
    sockets_on: bool,
    collector: Collector,
    sockets: Vec<ListenSocket>,
}

impl Diag {
    /// Opens the socket and allocates a [`RECV_BUFFER_LEN`]-byte buffer.
    ///
    /// # Errors
    ///
    /// [`Error::Sys`] if the netlink socket cannot be opened.
    pub fn new() -> Result<Self, Error> {
        Self::with_buffer_len(RECV_BUFFER_LEN)
    }

    /// Like [`Diag::new`] with a receive buffer of `len` bytes (at least
    /// 8 KiB is used). Buffers smaller than 32 KiB make the kernel send
    /// more, smaller datagrams.
    ///
    /// # Errors
    ///
    /// [`Error::Sys`] if the netlink socket cannot be opened.
    pub fn with_buffer_len(len: usize) -> Result<Self, Error> {
        Ok(Diag {
            sock: DiagSocket::new()?,
            buf: std::vec![0; len.max(8192)],
            tcp: IndexedTable::default(),
            unix: IndexedTable::default(),
            addrs: Vec::new(),
            sockets_on: false,
            collector: Collector::default(),
            sockets: Vec::new(),
        })
    }

    /// Whether the next listener queries also list each listener's
    /// listening sockets ([`Diag::sockets`]): their inodes (what
    /// `/proc/PID/fd` links name, for finding the owning processes) and,
    /// for TCP, the cgroup id each was created in. They come from the
    /// query's own LISTEN dump, so this costs no dump of its own.
    pub fn set_sockets(&mut self, on: bool) {
        self.sockets_on = on;
        if !on {
            self.sockets.clear();
        }
    }

    /// The same handle with [`Diag::set_sockets`].
    #[must_use]
    pub fn with_sockets(mut self, on: bool) -> Self {
        self.set_sockets(on);
        self
    }

    /// The listening sockets of the last listener query's result (TCP or
    /// Unix, whichever ran last), sorted by [`ListenSocket::listener`] (an
    /// index into that result) and inode; empty unless
    /// [`Diag::set_sockets`] is on. A `SO_REUSEPORT` group lists each
    /// member; a Unix socket asked for by a symlink and its target belongs
    /// to both rows; a requested listener where nothing listens has none.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::os::fd::AsRawFd;
    /// use std::os::unix::fs::MetadataExt;
    /// let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// let addr = l.local_addr()?.to_string();
    /// let inode = std::fs::metadata(format!("/proc/self/fd/{}", l.as_raw_fd()))?.ino();
    ///
    /// let mut diag = raindrops_diag::Diag::new()?.with_sockets(true);
    /// let stats = diag.tcp_listener_stats_all()?;
    /// let i = stats.names().position(|n| n == addr).unwrap();
    /// let mine: Vec<u64> = diag.sockets_of(i).iter().map(|s| s.inode).collect();
    /// assert_eq!(mine, [inode]);
    /// # Ok(()) }
    /// ```
    pub fn sockets(&self) -> &[ListenSocket] {
        &self.sockets
    }

    /// The listening sockets of listener `listener` (an index into the
    /// last result): the part of [`Diag::sockets`] that belongs to it.
    pub fn sockets_of(&self, listener: usize) -> &[ListenSocket] {
        listen_sockets::of_listener(&self.sockets, listener)
    }

    /// The socket and the receive buffer, for queries of one's own with
    /// [`DiagSocket::dump`].
    pub fn parts(&mut self) -> (&mut DiagSocket, &mut [u8]) {
        (&mut self.sock, &mut self.buf)
    }

    /// Statistics of TCP listeners (Ruby's
    /// `Raindrops::Linux.tcp_listener_stats`): `active`, `queued`,
    /// `backlog` and `drops` per listener, following
    /// `docs/listener-stats.md` of the repository. Each listener's
    /// [`Family`] is [`Family::Tcp4`] or [`Family::Tcp6`], from its
    /// address.
    ///
    /// - One address: the kernel filters on that local address and port
    ///   (an any-address such as `0.0.0.0:80` matches every local address
    ///   of its family on that port, IPv4 including IPv4-mapped IPv6
    ///   sockets); the result holds that address, with zeros if nothing
    ///   listens there.
    /// - Several addresses, or none (every listener): each connection is
    ///   attributed to the listener bound to its exact local address,
    ///   else to the any-address listener of its port (`[::]:port` also
    ///   taking IPv4-mapped connections). Requested addresses that do not
    ///   listen are left out; requested ones keep the caller's order;
    ///   "every listener" is sorted by address.
    ///
    /// `queued`, `backlog` and `drops` are summed over a `SO_REUSEPORT`
    /// group. Keys are canonical (`"127.0.0.1:80"`, `"[::1]:80"`, scope ids
    /// removed), whatever spelling was passed in.
    ///
    /// # Errors
    ///
    /// [`QueryError::Address`] naming the first string that is not an
    /// address (`"127.0.0.1"`, `"1.2.3.4:99999"`, `"[::1:80"`, host
    /// names); [`QueryError::Diag`] if the kernel query fails.
    pub fn tcp_listener_stats<S: AsRef<str>>(
        &mut self,
        addrs: &[S],
    ) -> Result<Listeners, QueryError> {
        self.tcp_listener_stats_with(addrs, &TcpQuery::new())
    }

    /// Statistics of every TCP listener, sorted by address.
    ///
    /// # Errors
    ///
    /// [`QueryError::Diag`] if the kernel query fails.
    pub fn tcp_listener_stats_all(&mut self) -> Result<Listeners, QueryError> {
        self.tcp_listener_stats_with::<&str>(&[], &TcpQuery::new())
    }

    /// [`Diag::tcp_listener_stats`] counting what `query` asks for: for
    /// example [`TcpQuery::queued_only`] (one LISTEN-only dump, about 100
    /// times cheaper with many connections), [`TcpQuery::with_syn_recv`],
    /// or [`TcpQuery::with_queue_wait`] (how long the connections in each
    /// accept queue have waited; [`Listeners::waiting`] lists them).
    ///
    /// # Errors
    ///
    /// As [`Diag::tcp_listener_stats`].
    pub fn tcp_listener_stats_with<S: AsRef<str>>(
        &mut self,
        addrs: &[S],
        query: &TcpQuery,
    ) -> Result<Listeners, QueryError> {
        let mut parsed = core::mem::take(&mut self.addrs);
        parsed.clear();
        for s in addrs {
            let s = s.as_ref();
            match parse_tcp_addr(s) {
                Ok(a) => parsed.push(a),
                Err(error) => {
                    self.addrs = parsed;
                    return Err(QueryError::Address {
                        input: s.to_string(),
                        error,
                    });
                }
            }
        }
        let r = self.tcp_listener_stats_addrs(&parsed, query);
        self.addrs = parsed;
        Ok(r?)
    }

    /// [`Diag::tcp_listener_stats_with`] for addresses already parsed
    /// (scope ids and flow labels are ignored).
    ///
    /// # Errors
    ///
    /// As [`Diag::tcp_listener_stats`], minus address errors.
    pub fn tcp_listener_stats_addrs(
        &mut self,
        addrs: &[SocketAddr],
        query: &TcpQuery,
    ) -> Result<Listeners, Error> {
        let canon: Vec<SocketAddr> = addrs.iter().map(canonical).collect();
        let tally = TcpTally::new(&canon, query);
        self.sockets.clear();
        if self.sockets_on {
            let c = &mut self.collector;
            self.sock
                .tcp_query(&mut self.buf, &tally, &mut self.tcp, c)?;
            for &(local, inode, cgroup_id) in &c.tcp {
                // One address: the kernel filtered, every socket is its.
                let row = if canon.len() == 1 {
                    Some(0)
                } else {
                    self.tcp.find(&local)
                };
                if let Some(i) = row {
                    self.sockets.push(ListenSocket::new(i, inode, cgroup_id));
                }
            }
            listen_sockets::finish(&mut self.sockets);
        } else {
            self.sock
                .tcp_query(&mut self.buf, &tally, &mut self.tcp, &mut ())?;
        }
        let mut out = Listeners::new();
        for r in self.tcp.rows() {
            let l = Listener::new(r.key.to_string(), Family::of_addr(&r.key), r.stats);
            out.push(l, self.tcp.waits_of(&r.key).iter().map(|w| w.1));
        }
        Ok(out)
    }

    /// Statistics of Unix listeners (Ruby's
    /// `Raindrops::Linux.unix_listener_stats`), from unix_diag, with
    /// `/proc/net/unix` as the fallback where the kernel has no unix_diag.
    ///
    /// - For each requested path, in order: `queued` = connections waiting
    ///   to be accepted, `active` = accepted connections still open,
    ///   `backlog` = the accept queue's limit; zeros (and no backlog) if
    ///   nothing listens there. The backlog is read from the kernel on the
    ///   first query and every eighth one (or when a listener is new to
    ///   this handle) and remembered in between, since asking for it costs
    ///   every socket of the machine an attribute
    ///   ([`UnixQuery::backlog`]).
    ///   A path that is a symlink is resolved (the whole chain, relative
    ///   links against their directory): the result holds the target's
    ///   name and then the link's, with the same stats.
    /// - Abstract-namespace names are written `@name`.
    /// - With no paths: every listening name, including unused ones,
    ///   sorted by name.
    /// - Names are in their display form ([`EscapedName`]: `\` doubled,
    ///   control characters and bytes that are not UTF-8 as `\xHH`), and
    ///   the [`Family`] is [`Family::Unix`].
    /// - Paths are taken as bytes (`&str`, `String`, `&OsStr`, `&Path`,
    ///   `PathBuf`...), so a name that is not UTF-8 is asked for exactly;
    ///   its row is found under its display form, which
    ///   [`unescape_name`](raindrops_core::unescape_name) turns back into
    ///   the bytes.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::ffi::OsStr;
    /// use std::os::unix::ffi::OsStrExt;
    /// let dir = std::env::temp_dir().join(format!("diag-doc-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir)?;
    /// let path = dir.join(OsStr::from_bytes(b"\xde\xad\xbe\xef"));
    /// let _l = std::os::unix::net::UnixListener::bind(&path)?;
    /// let _c = std::os::unix::net::UnixStream::connect(&path)?;
    /// let stats = raindrops_diag::Diag::new()?.unix_listener_stats(&[&path])?;
    /// let shown = raindrops_core::EscapedName(path.as_os_str().as_bytes()).to_string();
    /// assert!(shown.ends_with("/\u{7ad}\\xbe\\xef")); // 0xde 0xad is UTF-8: U+07AD
    /// assert_eq!(stats.get(&shown).map(|s| s.queued), Some(1));
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`QueryError::Io`] if a symlink cannot be read;
    /// [`QueryError::Diag`] if the kernel query fails (other than the
    /// absence of unix_diag).
    pub fn unix_listener_stats<S: AsRef<OsStr>>(
        &mut self,
        paths: &[S],
    ) -> Result<Listeners, QueryError> {
        self.unix_listener_stats_with(paths, &UnixQuery::new())
    }

    /// [`Diag::unix_listener_stats`] counting what `query` asks for:
    /// [`UnixQuery::queued_only`] asks the kernel for listening sockets
    /// only (a fraction of the cost with many connections); `active` is
    /// then 0. `UnixQuery::new().with_backlog(false)` leaves `backlog`
    /// out and never asks the kernel for it.
    ///
    /// # Errors
    ///
    /// As [`Diag::unix_listener_stats`].
    pub fn unix_listener_stats_with<S: AsRef<OsStr>>(
        &mut self,
        paths: &[S],
        query: &UnixQuery,
    ) -> Result<Listeners, QueryError> {
        self.sockets.clear();
        let (wanted, names) = resolve(paths)?;
        if !paths.is_empty() && names.is_empty() {
            // Only names too long to be bound: nothing to ask the kernel.
            return Ok(assemble(&wanted, None));
        }
        let tally = UnixTally::new(&names, query);
        let r = if self.sockets_on {
            let c = &mut self.collector;
            self.sock
                .unix_query(&mut self.buf, &tally, &mut self.unix, c)
        } else {
            self.sock
                .unix_query(&mut self.buf, &tally, &mut self.unix, &mut ())
        };
        match r {
            Ok(()) => {
                self.unix_sockets(&wanted);
                Ok(assemble(&wanted, Some(&self.unix)))
            }
            Err(Error::MissingModule(DiagModule::Unix)) => self.unix_proc(&wanted, &names, query),
            Err(e) => Err(e.into()),
        }
    }

    /// Matches the Unix sockets collected by the last dump with the rows
    /// of the result (`wanted`, or every listener of the table).
    fn unix_sockets(&mut self, wanted: &Wanted) {
        if !self.sockets_on {
            return;
        }
        for &(name, inode) in &self.collector.unix {
            if wanted.is_empty() {
                if let Some(i) = self.unix.find(&name) {
                    self.sockets.push(ListenSocket::new(i, inode, None));
                }
            } else {
                for (i, _) in wanted.iter().enumerate().filter(|w| w.1.1 == Some(name)) {
                    self.sockets.push(ListenSocket::new(i, inode, None));
                }
            }
        }
        listen_sockets::finish(&mut self.sockets);
    }

    /// Statistics of every Unix listener, sorted by name.
    ///
    /// # Errors
    ///
    /// As [`Diag::unix_listener_stats`].
    pub fn unix_listener_stats_all(&mut self) -> Result<Listeners, QueryError> {
        self.unix_listener_stats::<&str>(&[])
    }

    /// [`Diag::unix_listener_stats`] computed from `/proc/net/unix` as the
    /// Ruby gem does (state `02` queued, `03` active), without netlink:
    /// the fallback for kernels without unix_diag. The scan costs several
    /// times the netlink query.
    ///
    /// # Errors
    ///
    /// [`QueryError::Io`] if `/proc/net/unix` cannot be read.
    pub fn unix_listener_stats_proc<S: AsRef<OsStr>>(
        &mut self,
        paths: &[S],
    ) -> Result<Listeners, QueryError> {
        let (wanted, names) = resolve(paths)?;
        if !paths.is_empty() && names.is_empty() {
            return Ok(assemble(&wanted, None));
        }
        self.sockets.clear();
        self.unix_proc(&wanted, &names, &UnixQuery::new())
    }

    fn unix_proc(
        &mut self,
        wanted: &Wanted,
        names: &[UnixName],
        query: &UnixQuery,
    ) -> Result<Listeners, QueryError> {
        let text = std::fs::read(PROC_NET_UNIX)?;
        let tally = UnixTally::new(names, query);
        let t = &mut self.unix;
        tally.start(t)?;
        self.collector.restart();
        // A name with a newline splits its line; such lines are skipped.
        for l in crate::proc_unix::ProcNetUnix::new(&text).flatten() {
            tally.proc_line(t, &l)?;
            if self.sockets_on && l.is_listener() {
                if let Some(name) = l.path.and_then(UnixName::new) {
                    self.collector.unix_line(name, l.inode);
                }
            }
        }
        tally.finish(t);
        self.unix_sockets(wanted);
        Ok(assemble(wanted, Some(&self.unix)))
    }
}

/// The canonical form of a listener address: no scope id, no flow label.
fn canonical(a: &SocketAddr) -> SocketAddr {
    match a {
        SocketAddr::V6(v6) => SocketAddr::new((*v6.ip()).into(), v6.port()),
        v4 => *v4,
    }
}

/// The rows of a Unix query in output order: the display form of the
/// name, and the name to look up (`None` if it cannot be a socket name);
/// empty for every listener.
type Wanted = Vec<(String, Option<UnixName>)>;

/// The rows of a query for `paths`, and the distinct names to ask for.
fn resolve<S: AsRef<OsStr>>(paths: &[S]) -> Result<(Wanted, Vec<UnixName>), QueryError> {
    let mut out: Wanted = Vec::new();
    let mut add = |printed: &[u8], name: Option<UnixName>| {
        let key = EscapedName(printed).to_string();
        if !out.iter().any(|(k, _)| *k == key) {
            out.push((key, name));
        }
    };
    for p in paths {
        let p = p.as_ref();
        let b = p.as_bytes();
        if b.starts_with(b"@") {
            add(b, UnixName::new(b));
            continue;
        }
        match resolve_link(Path::new(p))? {
            Some(target) => {
                let t = target.as_os_str().as_bytes();
                let name = UnixName::new(t);
                add(t, name);
                add(b, name);
            }
            None => add(b, UnixName::new(b)),
        }
    }
    let mut names: Vec<UnixName> = Vec::new();
    for n in out.iter().filter_map(|w| w.1) {
        if !names.contains(&n) {
            names.push(n);
        }
    }
    Ok((out, names))
}

/// The end of the symlink chain starting at `p`, or `None` if `p` is not
/// a symlink (or does not exist).
fn resolve_link(p: &Path) -> Result<Option<PathBuf>, QueryError> {
    let mut cur = p.to_path_buf();
    let mut followed = false;
    for _ in 0..40 {
        match std::fs::symlink_metadata(&cur) {
            Ok(m) if m.file_type().is_symlink() => {
                let target = std::fs::read_link(&cur)?;
                cur = if target.is_absolute() {
                    target
                } else {
                    cur.parent().unwrap_or(Path::new("/")).join(target)
                };
                followed = true;
            }
            _ => return Ok(followed.then_some(cur)),
        }
    }
    Err(QueryError::Io(std::io::Error::from_raw_os_error(
        errno::LOOP.raw(),
    )))
}

/// The result of a Unix query: the rows of `wanted` in order (zeros where
/// nothing listens), or with every listener (`wanted` empty) the rows of
/// `t`; `t` is `None` when nothing was asked of the kernel.
fn assemble(wanted: &Wanted, t: Option<&IndexedTable<UnixName>>) -> Listeners {
    let unix = |name: String, stats| Listener::new(name, Family::Unix, stats);
    match t {
        Some(t) if wanted.is_empty() => t
            .rows()
            .iter()
            .map(|r| unix(EscapedName(r.key.as_bytes()).to_string(), r.stats))
            .collect(),
        _ => wanted
            .iter()
            .map(|(k, n)| {
                let s = match (t, n) {
                    (Some(t), Some(n)) => t.find(n).map(|i| t.rows()[i].stats),
                    _ => None,
                };
                unix(k.clone(), s.unwrap_or(ListenStats::new(0, 0)))
            })
            .collect(),
    }
}

/// [`Diag::tcp_listener_stats`] with a socket opened for this one query.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let l = std::net::TcpListener::bind("127.0.0.1:0")?;
/// let addr = l.local_addr()?.to_string();
/// let stats = raindrops_diag::tcp_listener_stats(&[&addr])?;
/// assert_eq!(stats.names().collect::<Vec<_>>(), [addr.as_str()]);
/// # Ok(()) }
/// ```
///
/// # Errors
///
/// As [`Diag::tcp_listener_stats`].
pub fn tcp_listener_stats<S: AsRef<str>>(addrs: &[S]) -> Result<Listeners, QueryError> {
    Diag::new()?.tcp_listener_stats(addrs)
}

/// [`Diag::unix_listener_stats`] with a socket opened for this one query.
///
/// # Errors
///
/// As [`Diag::unix_listener_stats`].
pub fn unix_listener_stats<S: AsRef<OsStr>>(paths: &[S]) -> Result<Listeners, QueryError> {
    Diag::new()?.unix_listener_stats(paths)
}
