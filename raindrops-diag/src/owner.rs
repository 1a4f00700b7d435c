//! The processes that hold a listening socket, found as `ss -p` finds
//! them: every `/proc/PID/fd/N` whose link reads `socket:[INODE]`, with the
//! process's command name and start time from `/proc/PID/stat`.
//!
//! Reading every descriptor of every process is the expensive part (`ss
//! -p` does it on every run), so [`Owners`] keeps what it found between
//! samples and scans `/proc` again only when it must:
//!
//! - a socket inode it has not seen appears (a new listener);
//! - a cached owner is gone: its `/proc/PID/stat` is missing or shows
//!   another start time (the pid was reused); checking costs one small
//!   read per owning process per sample;
//! - the optional rescan interval passed ([`Owners::with_rescan_interval`]),
//!   which also finds processes that inherited a known socket later (a
//!   pre-forking server's new workers).
//!
//! Socket inodes are global, so the owners of sockets in every network
//! namespace are found in one scan, with this process's pids (processes
//! of other pid namespaces under their pids here).
//!
//! Privileges: listing another user's descriptors needs read access to
//! `/proc/PID/fd` (its owner, or `CAP_DAC_READ_SEARCH`) and reading their
//! links needs ptrace read access (`CAP_SYS_PTRACE`); without them, a
//! process is skipped and counted in [`OwnerStats::denied`], and its
//! sockets show no owner. An unprivileged caller sees its own processes.
//! `docs/namespaces.md` of the workspace has the rules in one place.

use crate::netns::{PidPath, errno, is_denied};
use crate::procfs::{cgroup_v2_path, cmdline_args, parse_pid, parse_stat, socket_inode};
use raindrops_core::{Errno, EscapedName};
use rustix::fd::{AsFd, OwnedFd};
use rustix::fs::{Mode, OFlags, RawDir};
use std::collections::{HashMap, HashSet};
use std::mem::MaybeUninit;
use std::path::Path;
use std::string::{String, ToString};
use std::sync::Arc;
use std::time::{Duration, Instant};
use std::vec::Vec;

/// How much of `/proc/PID/cmdline` is read.
pub const CMDLINE_LIMIT: usize = 4096;
/// How much of `/proc/PID/cgroup` is read (a line per hierarchy).
const CGROUP_LIMIT: usize = 4096;
/// How much of `/proc/PID/stat` is read: the start time is field 22, well
/// within (the command name is at most 64 bytes).
const STAT_LIMIT: usize = 1024;

/// A process that holds a socket: what `ss -p` prints, and more.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProcessInfo {
    /// Its process id (in this process's pid namespace).
    pub pid: u32,
    /// Its start time in clock ticks after boot (`/proc/PID/stat` field
    /// 22): with the pid, the process's identity.
    pub start_time: u64,
    /// Its command name (`/proc/PID/comm`) in display form
    /// ([`EscapedName`]): a process may name itself anything.
    pub comm: String,
    /// Its command line, arguments in display form joined by spaces (at
    /// most [`CMDLINE_LIMIT`] bytes read), when asked for
    /// ([`Owners::with_cmdline`]).
    pub cmdline: Option<String>,
    /// Its cgroup v2 path (`/proc/PID/cgroup`), in display form.
    pub cgroup: Option<String>,
}

/// One descriptor of a socket in a process: the `(name, pid, fd)` triple
/// of `ss -p`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Holder {
    /// The process id.
    pub pid: u32,
    /// The descriptor number.
    pub fd: u32,
    /// The process.
    pub process: Arc<ProcessInfo>,
}

/// What [`Owners`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct OwnerStats {
    /// Full scans of `/proc` since creation.
    pub scans: u64,
    /// Processes visited by the last scan.
    pub processes: u32,
    /// Processes whose descriptors the last scan could not read (another
    /// user's, without `CAP_DAC_READ_SEARCH` or `CAP_SYS_PTRACE`).
    pub denied: u32,
    /// Updates answered from the cache, without a scan.
    pub cached: u64,
}

/// Why [`Owners::update`] rescanned `/proc`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Rescan {
    /// The cache answered; no scan.
    No,
    /// A socket inode was new.
    NewSocket,
    /// A cached owner exited or its pid was reused.
    OwnerGone,
    /// The rescan interval passed.
    Interval,
}

/// The owners of listening sockets, cached between samples (see the
/// module documentation of [`owner`](crate::owner) for when it scans).
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::os::unix::fs::MetadataExt;
/// let l = std::net::TcpListener::bind("127.0.0.1:0")?;
/// let ino = std::fs::metadata(format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&l)))?.ino();
/// let mut owners = raindrops_diag::Owners::new()?;
/// owners.update([ino])?;
/// let me = owners.owners(ino).next().unwrap();
/// assert_eq!(me.pid, std::process::id());
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Owners {
    proc_dir: OwnedFd,
    cmdline: bool,
    rescan_interval: Option<Duration>,
    last_scan: Option<Instant>,
    /// Holders `(pid, fd)` per socket inode, sorted; empty for sockets whose
    /// holder is not visible (another pid namespace, no permission).
    by_inode: HashMap<u64, Vec<(u32, u32)>>,
    procs: HashMap<u32, Arc<ProcessInfo>>,
    present: HashSet<u64>,
    checked: HashSet<u32>,
    stats: OwnerStats,
    dirbuf: Vec<MaybeUninit<u8>>,
    fdbuf: Vec<MaybeUninit<u8>>,
}

impl Owners {
    /// An empty cache reading `/proc`.
    ///
    /// # Errors
    ///
    /// If `/proc` cannot be opened.
    pub fn new() -> Result<Self, Errno> {
        Self::with_proc_root(crate::netns::PROC_ROOT)
    }

    /// An empty cache reading the proc filesystem mounted at `root`.
    ///
    /// # Errors
    ///
    /// If `root` cannot be opened as a directory.
    pub fn with_proc_root(root: impl AsRef<Path>) -> Result<Self, Errno> {
        let proc_dir = rustix::fs::open(
            root.as_ref(),
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(errno)?;
        Ok(Owners {
            proc_dir,
            cmdline: false,
            rescan_interval: None,
            last_scan: None,
            by_inode: HashMap::new(),
            procs: HashMap::new(),
            present: HashSet::new(),
            checked: HashSet::new(),
            stats: OwnerStats::default(),
            dirbuf: std::vec![MaybeUninit::uninit(); 16 * 1024],
            fdbuf: std::vec![MaybeUninit::uninit(); 16 * 1024],
        })
    }

    /// The same cache, reading each owner's command line or not (off by
    /// default: `ss -p` shows only the command name).
    #[must_use]
    pub fn with_cmdline(mut self, on: bool) -> Self {
        self.cmdline = on;
        self
    }

    /// The same cache, scanning `/proc` at least every `interval` (to find
    /// processes that inherited a known socket since), or only when it
    /// must (`None`, the default).
    #[must_use]
    pub fn with_rescan_interval(mut self, interval: Option<Duration>) -> Self {
        self.rescan_interval = interval;
        self
    }

    /// Brings the cache up to date for the listening socket inodes of a
    /// sample, scanning `/proc` only if one is new, a cached owner is gone,
    /// or the rescan interval passed; returns why it scanned. Inodes not
    /// in `inodes` are forgotten.
    ///
    /// # Errors
    ///
    /// If `/proc` cannot be listed.
    pub fn update(&mut self, inodes: impl IntoIterator<Item = u64>) -> Result<Rescan, Errno> {
        self.present.clear();
        self.present.extend(inodes);
        let why = self.why_rescan();
        if why == Rescan::No {
            self.stats.cached = self.stats.cached.saturating_add(1);
            let present = &self.present;
            self.by_inode.retain(|i, _| present.contains(i));
        } else {
            self.scan()?;
        }
        Ok(why)
    }

    fn why_rescan(&mut self) -> Rescan {
        if self.present.iter().any(|i| !self.by_inode.contains_key(i)) {
            return Rescan::NewSocket;
        }
        if let (Some(every), Some(last)) = (self.rescan_interval, self.last_scan) {
            if last.elapsed() >= every {
                return Rescan::Interval;
            }
        }
        self.checked.clear();
        let mut rel = PidPath::new();
        let mut buf = [0u8; STAT_LIMIT];
        for ino in &self.present {
            for &(pid, _) in self.by_inode.get(ino).map_or(&[][..], Vec::as_slice) {
                if !self.checked.insert(pid) {
                    continue;
                }
                let alive = match (
                    self.procs.get(&pid),
                    read_at(&self.proc_dir, rel.of(pid, "stat"), &mut buf),
                ) {
                    (Some(p), Ok(n)) => {
                        parse_stat(&buf[..n]).is_ok_and(|s| s.start_time == p.start_time)
                    }
                    _ => false,
                };
                if !alive {
                    return Rescan::OwnerGone;
                }
            }
        }
        Rescan::No
    }

    /// Reads every descriptor of every process and keeps the owners of
    /// the present inodes.
    fn scan(&mut self) -> Result<(), Errno> {
        let mut found: HashMap<u64, Vec<(u32, u32)>> =
            self.present.iter().map(|&i| (i, Vec::new())).collect();
        let mut matched: Vec<u32> = Vec::new();
        let mut processes = 0u32;
        let mut denied = 0u32;
        let mut rel = PidPath::new();
        let mut link = [0u8; 64];
        // The directory is read from its start again: the descriptor is
        // reused across scans.
        rustix::fs::seek(&self.proc_dir, rustix::fs::SeekFrom::Start(0)).map_err(errno)?;
        let mut dir = RawDir::new(&self.proc_dir, &mut self.dirbuf);
        while let Some(entry) = dir.next() {
            let entry = entry.map_err(errno)?;
            let Some(pid) = parse_pid(entry.file_name().to_bytes()) else {
                continue;
            };
            processes = processes.saturating_add(1);
            let fd_dir = match rustix::fs::openat(
                &self.proc_dir,
                rel.of(pid, "fd"),
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            ) {
                Ok(d) => d,
                Err(e) => {
                    if is_denied(errno(e)) {
                        denied = denied.saturating_add(1);
                    }
                    continue;
                }
            };
            let mut any = false;
            let mut refused = false;
            let mut fds = RawDir::new(&fd_dir, &mut self.fdbuf);
            while let Some(Ok(e)) = fds.next() {
                let name = e.file_name();
                let Some(fd) = parse_fd(name.to_bytes()) else {
                    continue;
                };
                match rustix::fs::readlinkat_raw(&fd_dir, name, &mut link[..]) {
                    Ok(n) => {
                        let Some(ino) = link.get(..n).and_then(socket_inode) else {
                            continue;
                        };
                        if let Some(v) = found.get_mut(&ino) {
                            v.push((pid, fd));
                            any = true;
                        }
                    }
                    Err(e) if is_denied(errno(e)) => {
                        refused = true;
                        break;
                    }
                    Err(_) => {} // closed meanwhile
                }
            }
            if refused {
                denied = denied.saturating_add(1);
            }
            if any {
                matched.push(pid);
            }
        }
        // Identify the processes that hold a wanted socket; one that
        // exited meanwhile loses its descriptors.
        let mut procs = HashMap::with_capacity(matched.len());
        let mut gone: Vec<u32> = Vec::new();
        for pid in matched {
            match self.process_info(pid) {
                Some(p) => {
                    procs.insert(pid, p);
                }
                None => gone.push(pid),
            }
        }
        for v in found.values_mut() {
            v.retain(|(pid, _)| !gone.contains(pid));
            v.sort_unstable();
        }
        self.by_inode = found;
        self.procs = procs;
        self.last_scan = Some(Instant::now());
        self.stats.scans = self.stats.scans.saturating_add(1);
        self.stats.processes = processes;
        self.stats.denied = denied;
        Ok(())
    }

    /// The process `pid` now: the cached one if its start time still
    /// matches (its cgroup re-read), else read afresh; `None` if it exited.
    fn process_info(&self, pid: u32) -> Option<Arc<ProcessInfo>> {
        let mut rel = PidPath::new();
        let mut buf = [0u8; STAT_LIMIT];
        let n = read_at(&self.proc_dir, rel.of(pid, "stat"), &mut buf).ok()?;
        let st = parse_stat(&buf[..n]).ok()?;
        let cgroup = self.read_cgroup(pid);
        if let Some(p) = self.procs.get(&pid) {
            if p.start_time == st.start_time {
                if p.cgroup == cgroup {
                    return Some(Arc::clone(p));
                }
                let mut q = ProcessInfo::clone(p);
                q.cgroup = cgroup;
                return Some(Arc::new(q));
            }
        }
        let cmdline = if self.cmdline {
            let mut buf = std::vec![0u8; CMDLINE_LIMIT];
            read_at(&self.proc_dir, rel.of(pid, "cmdline"), &mut buf)
                .ok()
                .map(|n| {
                    let mut s = String::new();
                    for (i, a) in cmdline_args(&buf[..n]).enumerate() {
                        if i > 0 {
                            s.push(' ');
                        }
                        s.push_str(&EscapedName(a).to_string());
                    }
                    s
                })
        } else {
            None
        };
        Some(Arc::new(ProcessInfo {
            pid,
            start_time: st.start_time,
            comm: EscapedName(st.comm).to_string(),
            cmdline,
            cgroup,
        }))
    }

    fn read_cgroup(&self, pid: u32) -> Option<String> {
        let mut rel = PidPath::new();
        let mut buf = [0u8; CGROUP_LIMIT];
        let n = read_at(&self.proc_dir, rel.of(pid, "cgroup"), &mut buf).ok()?;
        cgroup_v2_path(&buf[..n]).map(|p| EscapedName(p).to_string())
    }

    /// The descriptors that hold the socket `inode`, sorted by pid and
    /// descriptor; empty if it is unknown or its holders are not visible.
    pub fn owners(&self, inode: u64) -> impl Iterator<Item = Holder> + '_ {
        self.by_inode
            .get(&inode)
            .map_or(&[][..], Vec::as_slice)
            .iter()
            .filter_map(|&(pid, fd)| {
                let process = Arc::clone(self.procs.get(&pid)?);
                Some(Holder { pid, fd, process })
            })
    }

    /// The descriptors that hold any of `inodes` (the sockets of one
    /// listener, several for a `SO_REUSEPORT` group), sorted by pid and
    /// descriptor, each once.
    pub fn owners_of(&self, inodes: &[u64]) -> Vec<Holder> {
        let mut v: Vec<Holder> = inodes.iter().flat_map(|&i| self.owners(i)).collect();
        v.sort_by_key(|o| (o.pid, o.fd));
        v.dedup_by_key(|o| (o.pid, o.fd));
        v
    }

    /// The cached process `pid`, if it holds a known socket.
    pub fn process(&self, pid: u32) -> Option<&Arc<ProcessInfo>> {
        self.procs.get(&pid)
    }

    /// What the cache did so far.
    pub fn stats(&self) -> OwnerStats {
        self.stats
    }

    /// Forgets everything: the next update scans.
    pub fn clear(&mut self) {
        self.by_inode.clear();
        self.procs.clear();
    }
}

/// A descriptor number from a `/proc/PID/fd` entry name.
fn parse_fd(name: &[u8]) -> Option<u32> {
    if name == b"0" {
        return Some(0);
    }
    parse_pid(name)
}

/// Reads at most `buf.len()` bytes of the file at `path` under `dir`.
fn read_at(dir: &impl AsFd, path: &str, buf: &mut [u8]) -> Result<usize, Errno> {
    let fd = rustix::fs::openat(dir, path, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())
        .map_err(errno)?;
    let mut n = 0;
    while n < buf.len() {
        match rustix::io::read(&fd, &mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(errno(e)),
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::MetadataExt;

    fn inode_of(fd: &impl AsRawFd) -> u64 {
        std::fs::metadata(std::format!("/proc/self/fd/{}", fd.as_raw_fd()))
            .unwrap()
            .ino()
    }

    #[test]
    fn finds_this_process_and_caches() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let dup = l.try_clone().unwrap();
        let ino = inode_of(&l);
        let mut o = Owners::new().unwrap().with_cmdline(true);
        assert_eq!(o.update([ino]).unwrap(), Rescan::NewSocket);
        let v = o.owners_of(&[ino]);
        let fds: Vec<u32> = v.iter().map(|x| x.fd).collect();
        let mut want = std::vec![l.as_raw_fd() as u32, dup.as_raw_fd() as u32];
        want.sort();
        assert_eq!(fds, want);
        let me = &v[0].process;
        assert_eq!(me.pid, std::process::id());
        let comm = std::fs::read_to_string("/proc/self/comm").unwrap();
        assert_eq!(me.comm, comm.trim_end_matches('\n'));
        assert!(me.cmdline.as_deref().unwrap().contains("raindrops_diag"));
        // Nothing new: answered from the cache.
        assert_eq!(o.update([ino]).unwrap(), Rescan::No);
        assert_eq!(o.stats().scans, 1);
        assert_eq!(o.stats().cached, 1);
        // An inode nobody holds is remembered as such: no scan per sample.
        assert_eq!(o.update([ino, u64::MAX]).unwrap(), Rescan::NewSocket);
        assert_eq!(o.owners(u64::MAX).count(), 0);
        assert_eq!(o.update([ino, u64::MAX]).unwrap(), Rescan::No);
        // Forgotten when absent.
        assert_eq!(o.update([]).unwrap(), Rescan::No);
        assert_eq!(o.owners(ino).count(), 0);
        o.clear();
        assert_eq!(o.update([ino]).unwrap(), Rescan::NewSocket);
        let o = o.with_rescan_interval(Some(Duration::ZERO));
        let mut o = o;
        assert_eq!(o.update([ino]).unwrap(), Rescan::Interval);
    }

    #[test]
    fn fd_names() {
        assert_eq!(parse_fd(b"0"), Some(0));
        assert_eq!(parse_fd(b"17"), Some(17));
        assert_eq!(parse_fd(b"00"), None);
        assert_eq!(parse_fd(b"."), None);
    }
}
