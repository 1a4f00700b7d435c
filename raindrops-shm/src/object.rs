//! Opening and sizing the objects behind regions: POSIX shared memory
//! names, files and memfds. No mapping happens here.

use std::path::Path;

use rustix::fd::{AsFd, OwnedFd};
use rustix::fs::{AtFlags, FileType, Mode, OFlags, SealFlags};

use crate::error::{Call, Error};
use crate::header::{HEADER_LEN, RegionHeader};

/// How a region is opened.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Access {
    /// Read and write the shared counters (the default).
    #[default]
    ReadWrite,
    /// Open the object read-only (`O_RDONLY`, so read permission suffices)
    /// and never change it: no resizing, zeroing or header update. The
    /// region is mapped copy-on-write (`MAP_PRIVATE`): pages show the live
    /// shared values until this process writes to them, and such writes stay
    /// private (and stop that page from following the object). Read with
    /// `get`/`snapshot`/`values`.
    ReadOnly,
}

/// The directory where Linux keeps POSIX shared memory objects (glibc's
/// and rustix's `shm_open` use the same).
const SHM_DIR: &str = "/dev/shm";

/// A validated POSIX shared memory name: `/name` for display and the bare
/// `name` that is opened in [`SHM_DIR`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ShmName(String);

impl ShmName {
    /// The canonical form `/name` of a name given as `name` or `/name`.
    ///
    /// The kernel's `NAME_MAX` (255) bounds the name with its leading `/`,
    /// as glibc and rustix count it, so the bare name has at most 254
    /// bytes; one leading `/` is allowed, no other, and no NUL.
    pub(crate) fn new(name: &str) -> Result<ShmName, Error> {
        let bare = name.strip_prefix('/').unwrap_or(name);
        if bare.is_empty()
            || bare == "."
            || bare == ".."
            || bare.len() + 1 > linux_raw_sys::general::NAME_MAX as usize
            || bare.bytes().any(|b| b == b'/' || b == 0)
        {
            return Err(Error::BadName);
        }
        Ok(ShmName(format!("/{bare}")))
    }

    /// `/name`.
    #[cfg(test)]
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }

    /// `name`, the file name in [`SHM_DIR`].
    fn bare(&self) -> &str {
        &self.0[1..]
    }

    pub(crate) fn into_boxed_str(self) -> Box<str> {
        self.0.into_boxed_str()
    }
}

/// `open("/dev/shm", O_DIRECTORY | O_PATH | O_CLOEXEC)`, to open names in.
fn shm_dir() -> Result<OwnedFd, Error> {
    rustix::fs::open(
        SHM_DIR,
        OFlags::DIRECTORY | OFlags::PATH | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(Error::sys(Call::OpenShmDir))
}

/// Checks permission bits for a new object: no setuid, setgid or sticky
/// bit (a counter object has no use for them, and a setuid file made by a
/// privileged process would be a gift to an attacker), nothing past
/// `0o777`.
pub(crate) fn check_mode(bits: u32) -> Result<Mode, Error> {
    if bits & !0o777 != 0 {
        return Err(Error::BadMode { mode: bits });
    }
    Ok(Mode::from_raw_mode(bits))
}

/// Flags every open of an existing object gets: no controlling terminal,
/// and `O_NONBLOCK`, so that a FIFO planted under the name answers at once
/// (it is then refused as not a regular file) instead of waiting for a
/// writer.
fn base_flags(access: Access) -> OFlags {
    OFlags::CLOEXEC
        | OFlags::NOCTTY
        | OFlags::NONBLOCK
        | match access {
            Access::ReadWrite => OFlags::RDWR,
            Access::ReadOnly => OFlags::RDONLY,
        }
}

/// `openat(/dev/shm, name, O_CREAT | O_EXCL | O_RDWR | O_NOFOLLOW, mode)`:
/// the equivalent of `shm_open` that never follows a symlink.
pub(crate) fn create_shm(name: &ShmName, mode_bits: u32) -> Result<OwnedFd, Error> {
    let mode = check_mode(mode_bits)?;
    let dir = shm_dir()?;
    let flags = base_flags(Access::ReadWrite) | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW;
    rustix::fs::openat(&dir, name.bare(), flags, mode).map_err(Error::sys(Call::ShmOpen))
}

/// `openat(/dev/shm, name, O_RDWR or O_RDONLY | O_NOFOLLOW | O_NONBLOCK)`,
/// then `fstat`: the object must be a regular file. A symlink under the
/// name (`ELOOP` with `O_NOFOLLOW`) is [`Error::NotRegularFile`]: it is
/// never followed, so a local user cannot point a process at a file of
/// their choosing (which `zero(true)` would clear).
pub(crate) fn open_shm(name: &ShmName, access: Access) -> Result<OwnedFd, Error> {
    let dir = shm_dir()?;
    let fd = rustix::fs::openat(
        &dir,
        name.bare(),
        base_flags(access) | OFlags::NOFOLLOW,
        Mode::empty(),
    )
    .map_err(|e| match e {
        rustix::io::Errno::LOOP => Error::NotRegularFile,
        e => Error::sys(Call::ShmOpen)(e),
    })?;
    size_of_regular(&fd)?;
    Ok(fd)
}

/// `unlinkat(/dev/shm, name)`, whatever object it names.
pub(crate) fn unlink_shm(name: &ShmName) -> Result<(), Error> {
    let dir = shm_dir()?;
    rustix::fs::unlinkat(&dir, name.bare(), AtFlags::empty()).map_err(Error::sys(Call::ShmUnlink))
}

/// The device and inode of an object: what it is, whatever its name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Identity {
    dev: u64,
    ino: u64,
}

impl Identity {
    /// The identity of the open object `fd`.
    pub(crate) fn of(fd: impl AsFd) -> Result<Identity, Error> {
        let st = rustix::fs::fstat(fd).map_err(Error::sys(Call::Fstat))?;
        Ok(Identity::from_stat(&st))
    }

    fn from_stat(st: &rustix::fs::Stat) -> Identity {
        Identity {
            dev: st.st_dev,
            ino: st.st_ino,
        }
    }

    /// Whether `name` in `dir` (not followed if a symlink) is this object.
    fn is_named(self, dir: impl AsFd, name: &Path) -> Result<bool, Error> {
        match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => Ok(Identity::from_stat(&st) == self),
            Err(rustix::io::Errno::NOENT) => Ok(false),
            Err(e) => Err(Error::sys(Call::Stat)(e)),
        }
    }
}

/// Removes `name` if it still names the object `id`, else
/// [`Error::NameReplaced`]. Between the check and the removal another
/// process could replace the name (a window of two system calls, which
/// only a process that may write `/dev/shm` entries can use); Linux has no
/// "unlink if this inode" call to close it.
pub(crate) fn unlink_shm_if(name: &ShmName, id: Identity) -> Result<(), Error> {
    let dir = shm_dir()?;
    if !id.is_named(&dir, Path::new(name.bare()))? {
        return Err(Error::NameReplaced);
    }
    rustix::fs::unlinkat(&dir, name.bare(), AtFlags::empty()).map_err(Error::sys(Call::ShmUnlink))
}

/// Removes `path` if it still names the object `id` (see
/// [`unlink_shm_if`] for the window this leaves).
pub(crate) fn unlink_path_if(path: &Path, id: Identity) -> Result<(), Error> {
    if !id.is_named(rustix::fs::CWD, path)? {
        return Err(Error::NameReplaced);
    }
    rustix::fs::unlink(path).map_err(Error::sys(Call::Unlink))
}

/// How to open a path.
pub(crate) enum Create {
    /// Open an existing file only.
    No,
    /// Create it if missing, with these mode bits.
    IfMissing(u32),
    /// Create it, failing with [`Error::AlreadyExists`] if it exists.
    Exclusive(u32),
}

/// `open(path, ...)` with `O_CLOEXEC | O_NOCTTY | O_NONBLOCK` (so that a FIFO
/// given by mistake does not block), then `fstat`: the object must be a
/// regular file of a filesystem that holds data ([`size_of_regular`]).
/// Symlinks in paths are followed, as every tool does with paths.
pub(crate) fn open_path(path: &Path, access: Access, create: Create) -> Result<OwnedFd, Error> {
    let mut flags = base_flags(access);
    let m = match create {
        Create::No => Mode::empty(),
        Create::IfMissing(bits) => {
            flags |= OFlags::CREATE;
            check_mode(bits)?
        }
        Create::Exclusive(bits) => {
            flags |= OFlags::CREATE | OFlags::EXCL;
            check_mode(bits)?
        }
    };
    let fd = rustix::fs::open(path, flags, m).map_err(Error::sys(Call::Open))?;
    size_of_regular(&fd)?;
    Ok(fd)
}

/// Filesystems whose "regular files" are not data: their sizes are made up
/// (sysfs says 4096 for everything, procfs 0) and they cannot be mapped or
/// read as a region.
const PSEUDO_FILESYSTEMS: &[u32] = {
    use linux_raw_sys::general as g;
    &[
        g::PROC_SUPER_MAGIC,
        g::SYSFS_MAGIC,
        g::DEBUGFS_MAGIC,
        g::TRACEFS_MAGIC,
        g::SECURITYFS_MAGIC,
        g::SELINUX_MAGIC,
        g::SMACK_MAGIC,
        g::CGROUP_SUPER_MAGIC,
        g::CGROUP2_SUPER_MAGIC,
        g::BPF_FS_MAGIC,
        g::PSTOREFS_MAGIC,
        g::EFIVARFS_MAGIC,
        g::BINFMTFS_MAGIC,
        g::NSFS_MAGIC,
        g::DEVPTS_SUPER_MAGIC,
    ]
};

/// The size in bytes of the regular file (or shm object, or memfd) `fd`;
/// anything else, including a file of `/proc` or `/sys`, is
/// [`Error::NotRegularFile`].
pub(crate) fn size_of_regular(fd: impl AsFd) -> Result<u64, Error> {
    let fd = fd.as_fd();
    let st = rustix::fs::fstat(fd).map_err(Error::sys(Call::Fstat))?;
    if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
        return Err(Error::NotRegularFile);
    }
    let fs = rustix::fs::fstatfs(fd).map_err(Error::sys(Call::Fstatfs))?;
    // f_type is signed on some architectures; the magic numbers are u32.
    #[allow(clippy::cast_sign_loss, clippy::unnecessary_cast)]
    let magic = fs.f_type as u64 & 0xffff_ffff;
    if PSEUDO_FILESYSTEMS.iter().any(|&m| u64::from(m) == magic) {
        return Err(Error::NotRegularFile);
    }
    Ok(u64::try_from(st.st_size).unwrap_or(0))
}

/// Extends the object to at least `len` bytes; never shrinks it (a shrink
/// would make other processes' mappings raise `SIGBUS`).
pub(crate) fn grow_to(fd: impl AsFd, len: u64) -> Result<(), Error> {
    let fd = fd.as_fd();
    if size_of_regular(fd)? < len {
        rustix::fs::ftruncate(fd, len).map_err(Error::sys(Call::Ftruncate))?;
    }
    Ok(())
}

/// Reads the first `N` bytes (fewer if the object is shorter); returns the
/// number read.
pub(crate) fn read_prefix<const N: usize>(
    fd: impl AsFd,
    buf: &mut [u8; N],
) -> Result<usize, Error> {
    let fd = fd.as_fd();
    let mut got = 0;
    while got < N {
        match rustix::io::pread(fd, &mut buf[got..], got as u64) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(Error::sys(Call::Pread)(e)),
        }
    }
    Ok(got)
}

/// Fills `buf` from offset `at` (`pread` until full); an end of file
/// before that (the object is shorter than its header says, or shrank) is
/// [`Error::Truncated`] with the length reached.
pub(crate) fn read_exact_at(fd: impl AsFd, buf: &mut [u8], at: u64) -> Result<(), Error> {
    let fd = fd.as_fd();
    let mut got = 0;
    while got < buf.len() {
        match rustix::io::pread(fd, &mut buf[got..], at + got as u64) {
            Ok(0) => {
                return Err(Error::Truncated {
                    needed: at + buf.len() as u64,
                    len: at + got as u64,
                });
            }
            Ok(n) => got += n,
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(Error::sys(Call::Pread)(e)),
        }
    }
    Ok(())
}

/// The offset of the first byte of data at or after `at` (`lseek` with
/// `SEEK_DATA`), `None` if only a hole follows up to the end of the
/// object. Filesystems without hole tracking report everything as data.
pub(crate) fn next_data(fd: impl AsFd, at: u64) -> Result<Option<u64>, Error> {
    match rustix::fs::seek(fd, rustix::fs::SeekFrom::Data(at)) {
        Ok(off) => Ok(Some(off)),
        // ENXIO: nothing but hole from `at` to the end (or `at` is past it).
        Err(rustix::io::Errno::NXIO) => Ok(None),
        Err(e) => Err(Error::sys(Call::Seek)(e)),
    }
}

/// Reads and validates the header of an object of `size` bytes, and checks
/// that the object is as long as the header says.
pub(crate) fn read_header(fd: impl AsFd, size: u64) -> Result<RegionHeader, Error> {
    let mut buf = [0u8; HEADER_LEN];
    let got = read_prefix(fd, &mut buf)?;
    let h = RegionHeader::parse(&buf[..got])?;
    let needed = h.object_len();
    if size < needed {
        return Err(Error::Truncated { needed, len: size });
    }
    Ok(h)
}

/// Writes `h` at the start of the object (`pwrite`, not through the
/// mapping: readers in other processes take it with `pread`).
pub(crate) fn write_header(fd: impl AsFd, h: &RegionHeader) -> Result<(), Error> {
    write_at(fd, &h.to_bytes(), 0)
}

/// Writes all of `bytes` at offset `at` (`pwrite`).
pub(crate) fn write_at(fd: impl AsFd, bytes: &[u8], at: u64) -> Result<(), Error> {
    let fd = fd.as_fd();
    let mut done = 0;
    while done < bytes.len() {
        match rustix::io::pwrite(fd, &bytes[done..], at + done as u64) {
            Ok(0) => {
                return Err(Error::Sys {
                    call: Call::Pwrite,
                    errno: crate::error::errno::IO,
                });
            }
            Ok(n) => done += n,
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(Error::sys(Call::Pwrite)(e)),
        }
    }
    Ok(())
}

/// `memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING)`.
pub(crate) fn create_memfd(name: &str) -> Result<OwnedFd, Error> {
    use rustix::fs::MemfdFlags as M;
    rustix::fs::memfd_create(name, M::CLOEXEC | M::ALLOW_SEALING)
        .map_err(Error::sys(Call::MemfdCreate))
}

/// Seals `fd` against shrinking, and the seal set against changes.
pub(crate) fn seal_shrink(fd: impl AsFd) -> Result<(), Error> {
    rustix::fs::fcntl_add_seals(fd, SealFlags::SHRINK | SealFlags::SEAL)
        .map_err(Error::sys(Call::Seals))
}

/// Whether `fd` carries `F_SEAL_SHRINK` (false for objects that cannot be
/// sealed).
pub(crate) fn is_shrink_sealed(fd: impl AsFd) -> bool {
    rustix::fs::fcntl_get_seals(fd).is_ok_and(|s| s.contains(SealFlags::SHRINK))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shm_names() {
        let name = |n: &str| ShmName::new(n).map(|n| n.as_str().to_owned());
        assert_eq!(name("x").as_deref(), Ok("/x"));
        assert_eq!(name("/x.y-z").as_deref(), Ok("/x.y-z"));
        assert_eq!(ShmName::new("/x").unwrap().bare(), "x");
        for bad in ["", "/", ".", "/..", "a/b", "//a", "a\0b"] {
            assert_eq!(name(bad), Err(Error::BadName), "{bad:?}");
        }
        // NAME_MAX counts the leading '/'.
        assert!(name(&"n".repeat(254)).is_ok());
        assert!(name(&format!("/{}", "n".repeat(254))).is_ok());
        assert_eq!(name(&"n".repeat(255)), Err(Error::BadName));
    }

    #[test]
    fn modes() {
        assert!(check_mode(0o600).is_ok());
        assert!(check_mode(0o777).is_ok());
        for bits in [0o4600, 0o2600, 0o1600, 0o10600] {
            assert_eq!(check_mode(bits), Err(Error::BadMode { mode: bits }));
        }
    }
}
