//! Cgroup v2 ids mapped to their paths: a socket's `INET_DIAG_CGROUP_ID`
//! is the inode number of its cgroup's directory under the cgroup2 mount,
//! so [`CgroupMap`] walks that tree once, keeps `id -> path`, and walks it
//! again when an id it does not know appears.
//!
//! The paths are relative to the root of this process's cgroup namespace,
//! as `/proc/PID/cgroup` prints them (`/system.slice/nginx.service`), and
//! [`cgroup_origin`](crate::cgroup_path::cgroup_origin) reads the systemd
//! unit and container out of them. Walking needs read access to the
//! cgroup directories (world-readable by default). `docs/namespaces.md` of
//! the workspace has the rules in one place.

use crate::netns::{errno, io_errno};
use crate::procfs::{parse_mountinfo_line, unescape_octal};
use raindrops_core::{Errno, EscapedName};
use rustix::fd::AsFd;
use rustix::fs::{FileType, Mode, OFlags, RawDir};
use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::mem::MaybeUninit;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};
use std::string::{String, ToString};
use std::sync::Arc;
use std::vec::Vec;

/// Where the mounts of this process are listed.
pub const MOUNTINFO: &str = "/proc/self/mountinfo";
/// How much of the mount table is read at most.
const MOUNTINFO_LIMIT: usize = 4 << 20;
/// How many cgroups a walk visits at most, by default.
pub const DEFAULT_MAX_CGROUPS: usize = 1 << 16;
/// How deep a walk goes at most.
const MAX_DEPTH: usize = 64;

/// Where the cgroup v2 hierarchy is mounted.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Cgroup2Mount {
    /// The mount point (`/sys/fs/cgroup`, `/sys/fs/cgroup/unified` on
    /// hybrid systems).
    pub mount_point: PathBuf,
    /// The cgroup shown at the mount point, relative to the cgroup
    /// namespace's root (`/` unless the mount shows a sub-tree).
    pub root: Vec<u8>,
}

/// The first cgroup2 mount of a mount table (`/proc/PID/mountinfo` text);
/// malformed lines are skipped.
///
/// ```
/// use raindrops_diag::cgroup::cgroup2_mount;
/// let m = cgroup2_mount(b"41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n").unwrap();
/// assert_eq!(m.mount_point, std::path::Path::new("/sys/fs/cgroup/unified"));
/// ```
pub fn cgroup2_mount(mountinfo: &[u8]) -> Option<Cgroup2Mount> {
    mountinfo
        .split(|&b| b == b'\n')
        .filter_map(|l| parse_mountinfo_line(l).ok())
        .find(|m| m.fs_type == b"cgroup2")
        .map(|m| Cgroup2Mount {
            mount_point: PathBuf::from(OsString::from_vec(unescape_octal(m.mount_point).collect())),
            root: unescape_octal(m.root).collect(),
        })
}

/// The cgroup2 mount of this process, from [`MOUNTINFO`]; `None` where
/// there is none (a cgroup v1 only system).
///
/// # Errors
///
/// If the mount table cannot be read.
pub fn find_cgroup2_mount() -> Result<Option<Cgroup2Mount>, Errno> {
    use std::io::Read;
    let f = std::fs::File::open(MOUNTINFO).map_err(|e| io_errno(&e))?;
    let mut text = Vec::new();
    f.take(MOUNTINFO_LIMIT as u64)
        .read_to_end(&mut text)
        .map_err(|e| io_errno(&e))?;
    Ok(cgroup2_mount(&text))
}

/// Cgroup ids and their paths (display form, [`EscapedName`]), walked from
/// the cgroup2 mount and refreshed when an unknown id is asked for.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::os::unix::fs::MetadataExt;
/// let Some(mut map) = raindrops_diag::CgroupMap::new()? else { return Ok(()) };
/// let root_id = std::fs::metadata(&map.mount().mount_point)?.ino();
/// assert_eq!(map.path(root_id).as_deref(), Some("/"));
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct CgroupMap {
    mount: Cgroup2Mount,
    by_id: HashMap<u64, Arc<str>>,
    missed: HashSet<u64>,
    walks: u64,
    max_cgroups: usize,
    truncated: bool,
}

impl CgroupMap {
    /// A map of this process's cgroup2 mount, or `None` where there is
    /// none. Nothing is walked until the first lookup.
    ///
    /// # Errors
    ///
    /// If the mount table cannot be read.
    pub fn new() -> Result<Option<Self>, Errno> {
        Ok(find_cgroup2_mount()?.map(Self::at))
    }

    /// A map of the cgroup2 hierarchy mounted as `mount`.
    pub fn at(mount: Cgroup2Mount) -> Self {
        CgroupMap {
            mount,
            by_id: HashMap::new(),
            missed: HashSet::new(),
            walks: 0,
            max_cgroups: DEFAULT_MAX_CGROUPS,
            truncated: false,
        }
    }

    /// The same map, visiting at most `n` cgroups per walk (65,536 by
    /// default): a bound on the time and memory of one walk.
    #[must_use]
    pub fn with_max_cgroups(mut self, n: usize) -> Self {
        self.max_cgroups = n;
        self
    }

    /// The mount it walks.
    pub fn mount(&self) -> &Cgroup2Mount {
        &self.mount
    }

    /// How many walks it made.
    pub fn walks(&self) -> u64 {
        self.walks
    }

    /// Whether the last walk stopped at the cgroup limit.
    pub fn truncated(&self) -> bool {
        self.truncated
    }

    /// The path of cgroup `id`: from the cache, else after a new walk. An
    /// id still unknown after a walk (a removed cgroup) is remembered as
    /// such until a walk happens for another id, so it costs one walk.
    pub fn path(&mut self, id: u64) -> Option<Arc<str>> {
        if let Some(p) = self.by_id.get(&id) {
            return Some(Arc::clone(p));
        }
        if self.missed.contains(&id) {
            return None;
        }
        if self.refresh().is_err() {
            self.missed.insert(id);
            return None;
        }
        let p = self.by_id.get(&id).cloned();
        if p.is_none() {
            self.missed.insert(id);
        }
        p
    }

    /// The path of cgroup `id` if it is cached; never walks.
    pub fn cached(&self, id: u64) -> Option<&str> {
        self.by_id.get(&id).map(|p| &**p)
    }

    /// Walks the hierarchy again, replacing the cache.
    ///
    /// # Errors
    ///
    /// If the mount point cannot be opened.
    pub fn refresh(&mut self) -> Result<(), Errno> {
        let root = rustix::fs::open(
            &self.mount.mount_point,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(errno)?;
        let st = rustix::fs::fstat(&root).map_err(errno)?;
        let mut w = Walk {
            by_id: HashMap::new(),
            left: self.max_cgroups,
            buf: std::vec![MaybeUninit::uninit(); 8192],
            children: Vec::new(),
        };
        let mut path = self.mount.root.clone();
        if path.is_empty() {
            path.push(b'/');
        }
        #[allow(clippy::useless_conversion)] // st_ino is u64 on every target but the type is not
        w.add(u64::from(st.st_ino), &path);
        w.dir(&root, &mut path, 0);
        self.truncated = w.left == 0;
        self.by_id = w.by_id;
        self.missed.clear();
        self.walks = self.walks.saturating_add(1);
        Ok(())
    }
}

struct Walk {
    by_id: HashMap<u64, Arc<str>>,
    left: usize,
    buf: Vec<MaybeUninit<u8>>,
    /// Scratch list of (inode, name) of the directory being read.
    children: Vec<(u64, Vec<u8>)>,
}

impl Walk {
    fn add(&mut self, id: u64, path: &[u8]) {
        if self.left > 0 {
            self.left -= 1;
            self.by_id
                .insert(id, Arc::from(EscapedName(path).to_string().as_str()));
        }
    }

    /// Adds the sub-cgroups of `dir` (whose path is `path`), depth first.
    fn dir(&mut self, dir: &impl AsFd, path: &mut Vec<u8>, depth: usize) {
        if depth >= MAX_DEPTH || self.left == 0 {
            return;
        }
        // The entries are collected first so that the one buffer serves
        // every level; kernfs reports the cgroup id as each entry's inode.
        self.children.clear();
        let mut rd = RawDir::new(dir, &mut self.buf);
        while let Some(Ok(e)) = rd.next() {
            let name = e.file_name().to_bytes();
            if e.file_type() == FileType::Directory && name != b"." && name != b".." {
                self.children.push((e.ino(), name.to_vec()));
            }
        }
        let children = core::mem::take(&mut self.children);
        for (ino, name) in &children {
            if self.left == 0 {
                break;
            }
            let len = path.len();
            if path.last() != Some(&b'/') {
                path.push(b'/');
            }
            path.extend_from_slice(name);
            self.add(*ino, path);
            if let Ok(sub) = rustix::fs::openat(
                dir,
                name.as_slice(),
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC | OFlags::NOFOLLOW,
                Mode::empty(),
            ) {
                self.dir(&sub, path, depth + 1);
            }
            path.truncate(len);
        }
    }
}

/// The cgroup v2 path of process `pid` from `/proc/PID/cgroup`, in display
/// form; `None` if it has none or exited.
pub fn process_cgroup(proc_root: impl AsRef<Path>, pid: u32) -> Option<String> {
    use std::io::Read;
    let f = std::fs::File::open(proc_root.as_ref().join(std::format!("{pid}/cgroup"))).ok()?;
    let mut text = Vec::new();
    f.take(4096).read_to_end(&mut text).ok()?;
    crate::procfs::cgroup_v2_path(&text).map(|p| EscapedName(p).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn mount_tables() {
        let text = b"22 27 0:21 / /proc rw - proc proc rw\ngarbage\n41 31 0:38 /sub /sys/fs/cgroup\\040x rw shared:9 - cgroup2 cgroup2 rw\n";
        let m = cgroup2_mount(text).unwrap();
        assert_eq!(m.mount_point, Path::new("/sys/fs/cgroup x"));
        assert_eq!(m.root, b"/sub");
        assert_eq!(
            cgroup2_mount(b"22 27 0:21 / /proc rw - proc proc rw\n"),
            None
        );
    }

    #[test]
    fn walks_this_machine() {
        let Some(mut map) = CgroupMap::new().unwrap() else {
            std::eprintln!("no cgroup2 mount: skipped");
            return;
        };
        let mp = map.mount().mount_point.clone();
        let root_id = std::fs::metadata(&mp).unwrap().ino();
        assert_eq!(map.path(root_id).as_deref(), Some("/"));
        assert_eq!(map.walks(), 1);
        // Our own cgroup, as /proc/self/cgroup names it.
        if let Some(mine) = process_cgroup("/proc", std::process::id()) {
            let rel = mine.trim_start_matches('/');
            let dir = if rel.is_empty() {
                mp.clone()
            } else {
                mp.join(rel)
            };
            if let Ok(md) = std::fs::metadata(&dir) {
                assert_eq!(map.path(md.ino()).as_deref(), Some(mine.as_str()));
            }
        }
        // An unknown id: one walk, then remembered.
        let walks = map.walks();
        assert_eq!(map.path(u64::MAX), None);
        assert_eq!(map.path(u64::MAX), None);
        assert_eq!(map.walks(), walks + 1);
        let mut small = CgroupMap::at(map.mount().clone()).with_max_cgroups(1);
        small.refresh().unwrap();
        assert_eq!(small.cached(root_id), Some("/"));
        assert_eq!(small.by_id.len(), 1);
    }
}
