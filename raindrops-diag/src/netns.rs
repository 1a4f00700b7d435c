//! Network namespaces: their identity, their discovery from `/proc/*/ns/net`
//! and the names under `/run/netns`, and what a user may ask for
//! ([`NsSpec`]: a name, a pid or a path). The rules, costs and privileges
//! of the namespace layer are in `docs/namespaces.md` of the workspace.
//!
//! A network namespace has no name of its own: it is the inode of a file of
//! the `nsfs` filesystem, reached through `/proc/PID/ns/net` of any process
//! in it, or through a bind mount of that file (`ip netns add NAME` makes
//! `/run/netns/NAME`). Discovery stats every such file and deduplicates by
//! device and inode ([`NsId`]), so a namespace with a thousand processes
//! and two names is one [`NetNs`].
//!
//! Privileges: an unprivileged process sees the namespaces of its own
//! processes (`/proc/PID/ns/net` needs ptrace read access to the process)
//! and every name under `/run/netns` (world-readable); the others are
//! counted in [`Discovered::denied`]. Entering a namespace other than one's
//! own (`setns`, see [`NsSampler`](crate::NsSampler)) needs `CAP_SYS_ADMIN`.

use raindrops_core::{Errno, EscapedName};
use rustix::fd::{AsFd, OwnedFd};
use rustix::fs::{AtFlags, Mode, OFlags, RawDir};
use std::ffi::{OsStr, OsString};
use std::fmt;
use std::format;
use std::mem::MaybeUninit;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::string::{String, ToString};
use std::vec::Vec;

/// Where [`NsDiscovery`] looks for processes by default.
pub const PROC_ROOT: &str = "/proc";
/// Where `ip netns` keeps the names of network namespaces.
pub const NETNS_DIR: &str = "/run/netns";

/// The identity of a network namespace: the device and inode number of its
/// `nsfs` file. Stable for the namespace's lifetime; the inode is the
/// number `ip netns identify`, `lsns` and the `/proc/PID/ns/net` link
/// (`net:[4026531833]`) show.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NsId {
    /// `st_dev` of the nsfs file.
    pub dev: u64,
    /// `st_ino` of the nsfs file.
    pub ino: u64,
}

impl NsId {
    /// The namespace `path` refers to (following the `/proc` magic link or
    /// the bind mount): `stat(path)`.
    ///
    /// # Errors
    ///
    /// The `stat` error (`ENOENT` when the process exited, `EACCES` without
    /// ptrace access to it).
    pub fn of_path(path: impl AsRef<Path>) -> Result<NsId, Errno> {
        let st = rustix::fs::stat(path.as_ref()).map_err(errno)?;
        Ok(NsId::of_stat(&st))
    }

    /// The namespace an open nsfs file refers to: `fstat(fd)`.
    ///
    /// # Errors
    ///
    /// The `fstat` error.
    pub fn of_fd(fd: impl AsFd) -> Result<NsId, Errno> {
        let st = rustix::fs::fstat(fd).map_err(errno)?;
        Ok(NsId::of_stat(&st))
    }

    #[allow(clippy::useless_conversion)] // st_dev is u32 on some targets
    fn of_stat(st: &rustix::fs::Stat) -> NsId {
        NsId {
            dev: u64::from(st.st_dev),
            ino: u64::from(st.st_ino),
        }
    }

    /// The namespace of the calling thread (`/proc/thread-self/ns/net`).
    ///
    /// # Errors
    ///
    /// If `/proc` is not mounted.
    pub fn of_current_thread() -> Result<NsId, Errno> {
        NsId::of_path("/proc/thread-self/ns/net")
    }

    /// The namespace of this process (its main thread: `/proc/self/ns/net`).
    ///
    /// # Errors
    ///
    /// If `/proc` is not mounted.
    pub fn of_current_process() -> Result<NsId, Errno> {
        NsId::of_path("/proc/self/ns/net")
    }
}

impl fmt::Display for NsId {
    /// As the `/proc/PID/ns/net` link shows it: `net:[4026531833]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "net:[{}]", self.ino)
    }
}

pub(crate) use crate::errno::{is_denied, is_gone, of_io as io_errno, of_rustix as errno};

/// A network namespace found by [`NsDiscovery`]: its identity, its names
/// and a process in it, and the ways to enter it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct NetNs {
    /// Its identity.
    pub id: NsId,
    /// Its names under `/run/netns` (`ip netns`), sorted; may be empty.
    pub names: Vec<OsString>,
    /// The lowest pid of the processes found in it, if any.
    pub pid: Option<u32>,
    /// How many processes were found in it.
    pub processes: u32,
    /// Whether it is the namespace of this process.
    pub current: bool,
    /// Files that refer to it, in the order they are tried to enter it:
    /// named bind mounts, an explicit path, then `/proc/PID/ns/net`.
    pub paths: Vec<PathBuf>,
}

impl NetNs {
    fn new(id: NsId) -> Self {
        NetNs {
            id,
            names: Vec::new(),
            pid: None,
            processes: 0,
            current: false,
            paths: Vec::new(),
        }
    }

    /// The first name under `/run/netns`, if it has one.
    pub fn name(&self) -> Option<&OsStr> {
        self.names.first().map(OsString::as_os_str)
    }

    /// The name for outputs: the first `ip netns` name in its display form
    /// ([`EscapedName`]), else `net:[INODE]`.
    ///
    /// ```
    /// let ns = raindrops_diag::NsDiscovery::new().current().unwrap();
    /// assert!(ns.label().starts_with("net:[") || ns.name().is_some());
    /// ```
    pub fn label(&self) -> String {
        match self.name() {
            Some(n) => EscapedName(n.as_bytes()).to_string(),
            None => self.id.to_string(),
        }
    }

    fn merge(&mut self, other: NetNs) {
        for n in other.names {
            if !self.names.contains(&n) {
                self.names.push(n);
            }
        }
        self.names.sort();
        self.pid = match (self.pid, other.pid) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.processes = self.processes.saturating_add(other.processes);
        self.current |= other.current;
        for p in other.paths {
            if !self.paths.contains(&p) {
                self.paths.push(p);
            }
        }
    }
}

/// The namespaces [`NsDiscovery::all`] found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Discovered {
    /// The namespaces: this process's first, then the named ones by name,
    /// then the others by lowest pid.
    pub namespaces: Vec<NetNs>,
    /// Processes whose namespace could not be read (`EACCES`: another
    /// user's process, without `CAP_SYS_PTRACE`).
    pub denied: u32,
}

/// Finds network namespaces: every one ([`NsDiscovery::all`]), this
/// process's ([`NsDiscovery::current`]) or one a user named
/// ([`NsDiscovery::resolve`]).
#[derive(Clone, Debug)]
pub struct NsDiscovery {
    proc_root: PathBuf,
    netns_dir: PathBuf,
}

impl Default for NsDiscovery {
    fn default() -> Self {
        Self::new()
    }
}

impl NsDiscovery {
    /// Discovery in `/proc` and `/run/netns`.
    pub fn new() -> Self {
        NsDiscovery {
            proc_root: PathBuf::from(PROC_ROOT),
            netns_dir: PathBuf::from(NETNS_DIR),
        }
    }

    /// The same discovery with the names of `ip netns` looked up in `dir`
    /// instead of `/run/netns`.
    #[must_use]
    pub fn with_netns_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.netns_dir = dir.into();
        self
    }

    /// The namespace of this process.
    ///
    /// # Errors
    ///
    /// If `/proc` is not mounted.
    pub fn current(&self) -> Result<NetNs, Errno> {
        let path = self.proc_root.join("self/ns/net");
        let mut ns = NetNs::new(NsId::of_path(&path)?);
        ns.current = true;
        ns.pid = Some(std::process::id());
        ns.processes = 1;
        ns.paths.push(
            self.proc_root
                .join(format!("{}/ns/net", std::process::id())),
        );
        Ok(ns)
    }

    /// Every network namespace that a process or a name under `/run/netns`
    /// refers to, each once.
    ///
    /// Costs one `stat` per process and per name. Processes that exit
    /// meanwhile are skipped; those whose namespace may not be read are
    /// counted in [`Discovered::denied`].
    ///
    /// # Errors
    ///
    /// If `/proc` cannot be read.
    pub fn all(&self) -> Result<Discovered, Errno> {
        let current = NsId::of_path(self.proc_root.join("self/ns/net"))?;
        let mut out: Vec<NetNs> = Vec::new();
        let mut index: std::collections::HashMap<NsId, usize> = std::collections::HashMap::new();
        let mut denied = 0u32;
        let proc_dir = open_dir(&self.proc_root)?;
        let mut buf = [MaybeUninit::<u8>::uninit(); 8192];
        let mut dir = RawDir::new(&proc_dir, &mut buf);
        let mut rel = PidPath::new();
        while let Some(entry) = dir.next() {
            let entry = entry.map_err(errno)?;
            let Some(pid) = crate::procfs::parse_pid(entry.file_name().to_bytes()) else {
                continue;
            };
            match rustix::fs::statat(&proc_dir, rel.of(pid, "ns/net"), AtFlags::empty()) {
                Ok(st) => {
                    let id = NsId::of_stat(&st);
                    let i = *index.entry(id).or_insert_with(|| {
                        out.push(NetNs::new(id));
                        out.len() - 1
                    });
                    let ns = &mut out[i];
                    ns.processes = ns.processes.saturating_add(1);
                    if ns.pid.is_none_or(|p| pid < p) {
                        ns.pid = Some(pid);
                    }
                }
                Err(e) if is_denied(errno(e)) => denied = denied.saturating_add(1),
                Err(_) => {} // exited meanwhile
            }
        }
        for ns in &mut out {
            if let Some(pid) = ns.pid {
                ns.paths.push(self.proc_root.join(format!("{pid}/ns/net")));
            }
        }
        for named in self.named()? {
            match out.iter_mut().find(|n| n.id == named.id) {
                Some(ns) => {
                    // Names are the stable way in: try them before a pid.
                    let mut named = named;
                    named.merge(core::mem::replace(ns, NetNs::new(named.id)));
                    *ns = named;
                }
                None => out.push(named),
            }
        }
        for ns in &mut out {
            ns.current = ns.id == current;
        }
        sort(&mut out);
        Ok(Discovered {
            namespaces: out,
            denied,
        })
    }

    /// The namespaces named under `/run/netns` (none if it does not
    /// exist). Entries that are not bind mounts of a namespace (left over
    /// by an interrupted `ip netns add`) are skipped.
    ///
    /// # Errors
    ///
    /// If the directory exists but cannot be read.
    pub fn named(&self) -> Result<Vec<NetNs>, Errno> {
        let rd = match std::fs::read_dir(&self.netns_dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_errno(&e)),
        };
        let mut out: Vec<NetNs> = Vec::new();
        for entry in rd {
            let entry = entry.map_err(|e| io_errno(&e))?;
            let name = entry.file_name();
            let Ok(ns) = self.named_one(&name) else {
                continue;
            };
            match out.iter_mut().find(|n| n.id == ns.id) {
                Some(have) => have.merge(ns),
                None => out.push(ns),
            }
        }
        Ok(out)
    }

    fn named_one(&self, name: &OsStr) -> Result<NetNs, NsSkip> {
        let path = self.netns_dir.join(name);
        let mut ns = NetNs::new(netns_at(&path)?);
        ns.names.push(name.to_os_string());
        ns.paths.push(path);
        Ok(ns)
    }

    /// The namespace `spec` names: `/run/netns/NAME`, `/proc/PID/ns/net`
    /// or the path.
    ///
    /// # Errors
    ///
    /// [`NsSkip::Vanished`] if it does not exist, [`NsSkip::Denied`] if it
    /// may not be read, [`NsSkip::NotNetns`] if the file is not a network
    /// namespace.
    pub fn resolve(&self, spec: &NsSpec) -> Result<NetNs, NsSkip> {
        let current =
            NsId::of_path(self.proc_root.join("self/ns/net")).map_err(NsSkip::from_errno)?;
        let mut ns = match spec {
            NsSpec::Name(name) => self.named_one(name)?,
            NsSpec::Pid(pid) => {
                let path = self.proc_root.join(format!("{pid}/ns/net"));
                let mut ns = NetNs::new(netns_at(&path)?);
                ns.pid = Some(*pid);
                ns.processes = 1;
                ns.paths.push(path);
                ns
            }
            NsSpec::Path(path) => {
                let mut ns = NetNs::new(netns_at(path)?);
                ns.paths.push(path.clone());
                ns
            }
        };
        ns.current = ns.id == current;
        Ok(ns)
    }

    /// The namespaces of `specs`, each once (two specs naming the same
    /// namespace are merged), with the reason for each spec that could not
    /// be resolved.
    pub fn resolve_all<'a>(&self, specs: &'a [NsSpec]) -> (Vec<NetNs>, Vec<(&'a NsSpec, NsSkip)>) {
        let mut out: Vec<NetNs> = Vec::new();
        let mut failed = Vec::new();
        for spec in specs {
            match self.resolve(spec) {
                Ok(ns) => match out.iter_mut().find(|n| n.id == ns.id) {
                    Some(have) => have.merge(ns),
                    None => out.push(ns),
                },
                Err(e) => failed.push((spec, e)),
            }
        }
        sort(&mut out);
        (out, failed)
    }
}

/// Sorts namespaces: the current one, then named ones by name, then by pid.
fn sort(v: &mut [NetNs]) {
    v.sort_by(|a, b| {
        b.current
            .cmp(&a.current)
            .then_with(|| match (a.name(), b.name()) {
                (Some(x), Some(y)) => x.cmp(y),
                (Some(_), None) => core::cmp::Ordering::Less,
                (None, Some(_)) => core::cmp::Ordering::Greater,
                (None, None) => a.pid.cmp(&b.pid),
            })
            .then_with(|| a.id.cmp(&b.id))
    });
}

/// The network namespace the file at `path` is: it must be on nsfs (asked
/// of the path before opening it, so that a FIFO or a device named by a
/// user is never opened) and be a network namespace.
fn netns_at(path: &Path) -> Result<NsId, NsSkip> {
    let fd = open_ns(path)?;
    NsId::of_fd(&fd).map_err(NsSkip::from_errno)
}

/// Opens the namespace file at `path` for `setns`, checking that it is a
/// network namespace.
pub(crate) fn open_ns(path: &Path) -> Result<OwnedFd, NsSkip> {
    let fs = rustix::fs::statfs(path).map_err(|e| NsSkip::from_errno(errno(e)))?;
    if !is_nsfs(fs.f_type) {
        return Err(NsSkip::NotNetns);
    }
    let fd = rustix::fs::open(
        path,
        OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NONBLOCK | OFlags::NOCTTY,
        Mode::empty(),
    )
    .map_err(|e| NsSkip::from_errno(errno(e)))?;
    check_netns(&fd)?;
    Ok(fd)
}

/// Checks that `fd` is a network namespace: on nsfs (the path may have
/// changed since it was checked), and not a namespace of another type where
/// its descriptor's link in `/proc/thread-self/fd` says (`mnt:[INODE]`). A
/// bind mount's link is its path instead: its type is checked by `setns`,
/// which refuses another type with `EINVAL` ([`NsSkip::NotNetns`]).
fn check_netns(fd: &OwnedFd) -> Result<(), NsSkip> {
    let fs = rustix::fs::fstatfs(fd).map_err(|e| NsSkip::from_errno(errno(e)))?;
    if !is_nsfs(fs.f_type) {
        return Err(NsSkip::NotNetns);
    }
    let mut buf = [0u8; 256];
    let link = std::format!(
        "/proc/thread-self/fd/{}",
        rustix::fd::AsRawFd::as_raw_fd(fd)
    );
    let n = rustix::fs::readlinkat_raw(rustix::fs::CWD, link.as_str(), &mut buf[..])
        .map_err(|e| NsSkip::Sys(errno(e)))?;
    match buf.get(..n).and_then(crate::procfs::inode_link) {
        Some((kind, _)) if kind != b"net" => Err(NsSkip::NotNetns),
        _ => Ok(()),
    }
}

fn is_nsfs(f_type: rustix::fs::FsWord) -> bool {
    i128::from(f_type) == i128::from(linux_raw_sys::general::NSFS_MAGIC)
}

fn open_dir(path: &Path) -> Result<OwnedFd, Errno> {
    rustix::fs::open(
        path,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(errno)
}

/// `PID/rest` paths relative to `/proc`, built without allocation.
pub(crate) struct PidPath {
    buf: [u8; 64],
}

impl PidPath {
    pub(crate) const fn new() -> Self {
        PidPath { buf: [0; 64] }
    }

    /// `"{pid}/{rest}"`; `rest` must be short (under 50 bytes).
    pub(crate) fn of(&mut self, pid: u32, rest: &str) -> &str {
        let mut digits = [0u8; 10];
        let mut n = pid;
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        let d = &digits[i..];
        let end = d.len() + 1 + rest.len();
        if end > self.buf.len() {
            return "";
        }
        self.buf[..d.len()].copy_from_slice(d);
        self.buf[d.len()] = b'/';
        self.buf[d.len() + 1..end].copy_from_slice(rest.as_bytes());
        // Digits, '/' and a &str: always UTF-8.
        core::str::from_utf8(&self.buf[..end]).unwrap_or("")
    }
}

/// Why a namespace was skipped by a sample (or could not be resolved):
/// counted per kind ([`NsSkip::kind`]) so that an exporter can publish it
/// as a metric.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum NsSkip {
    /// It is gone: its processes exited and its name was removed
    /// (`ENOENT`, `ESRCH`), or the file that named it now names another
    /// namespace.
    Vanished,
    /// Entering or reading it was refused (`EPERM`: no `CAP_SYS_ADMIN` for
    /// `setns`; `EACCES`: no ptrace access to its process).
    Denied(Errno),
    /// Its worker did not answer within the sample's timeout (or has not
    /// answered the two samples before, and was not asked).
    Timeout,
    /// The file is not a network namespace.
    NotNetns,
    /// The listener query inside it failed.
    Query(crate::Error),
    /// Another system call failed (opening its file, starting a thread,
    /// reading `/proc`).
    Sys(Errno),
}

impl NsSkip {
    /// Every kind, in the order of [`SkipCounts::iter`].
    pub const KINDS: [&'static str; 6] = [
        "vanished",
        "denied",
        "timeout",
        "not_netns",
        "query",
        "error",
    ];

    /// The kind as a metric label value: `"vanished"`, `"denied"`,
    /// `"timeout"`, `"not_netns"`, `"query"` or `"error"`.
    pub const fn kind(&self) -> &'static str {
        Self::KINDS[self.index()]
    }

    const fn index(&self) -> usize {
        match self {
            NsSkip::Vanished => 0,
            NsSkip::Denied(_) => 1,
            NsSkip::Timeout => 2,
            NsSkip::NotNetns => 3,
            NsSkip::Query(_) => 4,
            NsSkip::Sys(_) => 5,
        }
    }

    /// The skip an `errno` means: gone, refused, not a network namespace
    /// (`EINVAL` from `setns` with `CLONE_NEWNET`), or another failure.
    pub fn from_errno(e: Errno) -> Self {
        if is_gone(e) {
            NsSkip::Vanished
        } else if is_denied(e) {
            NsSkip::Denied(e)
        } else if e == crate::errno::INVAL {
            NsSkip::NotNetns
        } else {
            NsSkip::Sys(e)
        }
    }
}

impl fmt::Display for NsSkip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NsSkip::Vanished => f.write_str("the namespace is gone"),
            NsSkip::Denied(e) => write!(f, "entering the namespace was refused: {e}"),
            NsSkip::Timeout => f.write_str("no answer from the namespace in time"),
            NsSkip::NotNetns => f.write_str("not a network namespace"),
            NsSkip::Query(e) => write!(f, "the query in the namespace failed: {e}"),
            NsSkip::Sys(e) => write!(f, "system call failed: {e}"),
        }
    }
}

impl std::error::Error for NsSkip {}

/// Skipped namespaces counted by kind since a sampler was made: monotonic
/// counters, for a metric such as
/// `raindrops_netns_skipped_total{reason="denied"}`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SkipCounts {
    counts: [u64; 6],
}

impl SkipCounts {
    /// Counts one skip.
    pub fn add(&mut self, skip: &NsSkip) {
        let c = &mut self.counts[skip.index()];
        *c = c.saturating_add(1);
    }

    /// The count of one kind ([`NsSkip::kind`]).
    pub fn get(&self, kind: &str) -> u64 {
        NsSkip::KINDS
            .iter()
            .position(|k| *k == kind)
            .map_or(0, |i| self.counts[i])
    }

    /// Every kind with its count, in the order of [`NsSkip::KINDS`].
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        NsSkip::KINDS
            .iter()
            .copied()
            .zip(self.counts.iter().copied())
    }

    /// The sum over every kind.
    pub fn total(&self) -> u64 {
        self.counts.iter().fold(0u64, |a, &b| a.saturating_add(b))
    }
}

/// A namespace as a user names it (`--namespace`): an `ip netns` name, a
/// process id, or the path of an nsfs file (`/proc/PID/ns/net`, a bind
/// mount, `/var/run/docker/netns/…`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum NsSpec {
    /// A name under `/run/netns`.
    Name(OsString),
    /// A process in the namespace.
    Pid(u32),
    /// A file that refers to the namespace.
    Path(PathBuf),
}

impl fmt::Display for NsSpec {
    /// As a user would write it, names and paths in display form
    /// ([`EscapedName`]).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NsSpec::Name(n) => EscapedName(n.as_bytes()).fmt(f),
            NsSpec::Pid(p) => p.fmt(f),
            NsSpec::Path(p) => EscapedName(p.as_os_str().as_bytes()).fmt(f),
        }
    }
}

/// Why a [`NsSpec`] could not be parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum NsSpecError {
    /// The string is empty.
    Empty,
    /// Only digits, but not a process id (0 or above `u32::MAX`).
    BadPid,
    /// A name that `ip netns` cannot have (`.`, `..`, or with a NUL byte).
    BadName,
}

impl fmt::Display for NsSpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NsSpecError::Empty => "empty namespace name",
            NsSpecError::BadPid => "not a process id",
            NsSpecError::BadName => "not a namespace name",
        })
    }
}

impl std::error::Error for NsSpecError {}

impl NsSpec {
    /// Reads `s`: digits only are a pid, anything with a `/` is a path, any
    /// other string is a name under `/run/netns`.
    ///
    /// ```
    /// use raindrops_diag::NsSpec;
    /// assert_eq!(NsSpec::parse("42"), Ok(NsSpec::Pid(42)));
    /// assert_eq!(NsSpec::parse("blue"), Ok(NsSpec::Name("blue".into())));
    /// assert_eq!(NsSpec::parse("/proc/1/ns/net"), Ok(NsSpec::Path("/proc/1/ns/net".into())));
    /// assert!(NsSpec::parse("..").is_err());
    /// ```
    ///
    /// # Errors
    ///
    /// [`NsSpecError`] for an empty string, digits that are not a pid, and
    /// names `ip netns` refuses.
    pub fn parse(s: impl AsRef<OsStr>) -> Result<NsSpec, NsSpecError> {
        let s = s.as_ref();
        let b = s.as_bytes();
        if b.is_empty() {
            return Err(NsSpecError::Empty);
        }
        if b.iter().all(u8::is_ascii_digit) {
            return crate::procfs::parse_pid(b)
                .map(NsSpec::Pid)
                .ok_or(NsSpecError::BadPid);
        }
        if b.contains(&0) {
            return Err(NsSpecError::BadName);
        }
        if b.contains(&b'/') {
            return Ok(NsSpec::Path(PathBuf::from(s)));
        }
        if b == b"." || b == b".." {
            return Err(NsSpecError::BadName);
        }
        Ok(NsSpec::Name(s.to_os_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn specs() {
        assert_eq!(NsSpec::parse(""), Err(NsSpecError::Empty));
        assert_eq!(NsSpec::parse("0"), Err(NsSpecError::BadPid));
        assert_eq!(NsSpec::parse("007"), Err(NsSpecError::BadPid));
        assert_eq!(NsSpec::parse("4294967296"), Err(NsSpecError::BadPid));
        assert_eq!(NsSpec::parse("."), Err(NsSpecError::BadName));
        assert_eq!(NsSpec::parse("a\0b"), Err(NsSpecError::BadName));
        assert_eq!(NsSpec::parse("./x"), Ok(NsSpec::Path("./x".into())));
        assert_eq!(NsSpec::parse("a b"), Ok(NsSpec::Name("a b".into())));
        for s in ["blue", "42", "/run/netns/x"] {
            assert_eq!(NsSpec::parse(s).unwrap().to_string(), s);
        }
        assert_eq!(NsSpec::parse("a\nb").unwrap().to_string(), "a\\x0ab");
    }

    #[test]
    fn pid_paths() {
        let mut p = PidPath::new();
        assert_eq!(p.of(0, "stat"), "0/stat");
        assert_eq!(p.of(4294967295, "ns/net"), "4294967295/ns/net");
        assert_eq!(p.of(1, &"x".repeat(63)), "");
    }

    #[test]
    fn current_namespace_is_found_once() {
        let d = NsDiscovery::new();
        let cur = d.current().unwrap();
        assert!(cur.current);
        let all = d.all().unwrap();
        let first = &all.namespaces[0];
        assert_eq!(first.id, cur.id);
        assert!(first.current && first.processes >= 1);
        let mut ids: Vec<_> = all.namespaces.iter().map(|n| n.id).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), all.namespaces.len());
        assert_eq!(
            d.resolve(&NsSpec::Pid(std::process::id())).unwrap().id,
            cur.id
        );
        // Not a namespace, and not there.
        assert_eq!(
            d.resolve(&NsSpec::Path("/proc/self/stat".into())),
            Err(NsSkip::NotNetns)
        );
        assert_eq!(
            d.resolve(&NsSpec::Name("rd-no-such-namespace".into())),
            Err(NsSkip::Vanished)
        );
        // Another kind of namespace file.
        assert_eq!(
            d.resolve(&NsSpec::Path("/proc/self/ns/uts".into())),
            Err(NsSkip::NotNetns)
        );
        // A FIFO is refused before it is opened (opening it would block).
        let fifo = std::env::temp_dir().join(format!("rd-netns-fifo-{}", std::process::id()));
        let _ = std::fs::remove_file(&fifo);
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::FileType::Fifo,
            Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        assert_eq!(
            d.resolve(&NsSpec::Path(fifo.clone())),
            Err(NsSkip::NotNetns)
        );
        std::fs::remove_file(&fifo).unwrap();
    }

    #[test]
    fn skip_counts() {
        let mut c = SkipCounts::default();
        c.add(&NsSkip::Timeout);
        c.add(&NsSkip::Denied(crate::errno::PERM));
        c.add(&NsSkip::Timeout);
        assert_eq!(c.get("timeout"), 2);
        assert_eq!(c.get("denied"), 1);
        assert_eq!(c.get("nope"), 0);
        assert_eq!(c.total(), 3);
        assert_eq!(c.iter().count(), NsSkip::KINDS.len());
        assert_eq!(NsSkip::from_errno(crate::errno::SRCH), NsSkip::Vanished);
        assert_eq!(NsSkip::Sys(crate::errno::IO).kind(), "error");
    }

    proptest! {
        #[test]
        fn spec_parse_total(s in ".{0,40}") {
            match NsSpec::parse(&s) {
                Ok(NsSpec::Pid(p)) => prop_assert_eq!(p.to_string(), s),
                Ok(NsSpec::Path(p)) => prop_assert!(s.contains('/') && p.as_os_str() == OsStr::new(&s)),
                Ok(NsSpec::Name(n)) => prop_assert!(!s.contains('/') && n == OsStr::new(&s)),
                Err(_) => {}
            }
        }
    }
}
