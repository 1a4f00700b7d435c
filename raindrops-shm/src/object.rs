//! Opening and sizing the objects behind regions: POSIX shared memory
//! names, files and memfds. No mapping happens here.

use std::path::Path;

use rustix::fd::{AsFd, OwnedFd};
use rustix::fs::{FileType, Mode, OFlags, SealFlags};

use crate::error::{Call, Error};
use crate::header::{HEADER_LEN, Header};

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

/// The canonical form `/name` of a POSIX shared memory name given as `name`
/// or `/name`.
pub(crate) fn shm_name(name: &str) -> Result<String, Error> {
    let bare = name.strip_prefix('/').unwrap_or(name);
    if bare.is_empty()
        || bare == "."
        || bare == ".."
        || bare.len() > 255
        || bare.bytes().any(|b| b == b'/' || b == 0)
    {
        return Err(Error::BadName);
    }
    Ok(format!("/{bare}"))
}

fn mode(bits: u32) -> Mode {
    Mode::from_raw_mode(bits & 0o7777)
}

/// `shm_open(name, O_CREAT|O_EXCL|O_RDWR, mode)`.
pub(crate) fn create_shm(name: &str, mode_bits: u32) -> Result<OwnedFd, Error> {
    use rustix::shm::OFlags as S;
    rustix::shm::open(name, S::CREATE | S::EXCL | S::RDWR, mode(mode_bits))
        .map_err(Error::sys(Call::ShmOpen))
}

/// `shm_open(name, O_RDWR or O_RDONLY, 0)`.
pub(crate) fn open_shm(name: &str, access: Access) -> Result<OwnedFd, Error> {
    use rustix::shm::OFlags as S;
    let flags = match access {
        Access::ReadWrite => S::RDWR,
        Access::ReadOnly => S::RDONLY,
    };
    rustix::shm::open(name, flags, Mode::empty()).map_err(Error::sys(Call::ShmOpen))
}

/// `shm_unlink(name)`.
pub(crate) fn unlink_shm(name: &str) -> Result<(), Error> {
    rustix::shm::unlink(name).map_err(Error::sys(Call::ShmUnlink))
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
/// given by mistake does not block; it is refused by [`size_of_regular`]).
pub(crate) fn open_path(path: &Path, access: Access, create: Create) -> Result<OwnedFd, Error> {
    let mut flags = OFlags::CLOEXEC | OFlags::NOCTTY | OFlags::NONBLOCK;
    flags |= match access {
        Access::ReadWrite => OFlags::RDWR,
        Access::ReadOnly => OFlags::RDONLY,
    };
    let m = match create {
        Create::No => Mode::empty(),
        Create::IfMissing(bits) => {
            flags |= OFlags::CREATE;
            mode(bits)
        }
        Create::Exclusive(bits) => {
            flags |= OFlags::CREATE | OFlags::EXCL;
            mode(bits)
        }
    };
    rustix::fs::open(path, flags, m).map_err(Error::sys(Call::Open))
}

/// The size in bytes of the regular file (or shm object, or memfd) `fd`.
pub(crate) fn size_of_regular(fd: impl AsFd) -> Result<u64, Error> {
    let st = rustix::fs::fstat(fd).map_err(Error::sys(Call::Fstat))?;
    if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
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

/// Reads and validates the header of an object of `size` bytes, and checks
/// that the object is as long as the header says.
pub(crate) fn read_header(fd: impl AsFd, size: u64) -> Result<Header, Error> {
    let mut buf = [0u8; HEADER_LEN];
    let got = read_prefix(fd, &mut buf)?;
    let h = Header::parse(&buf[..got])?;
    let needed = h.object_len();
    if size < needed {
        return Err(Error::Truncated { needed, len: size });
    }
    Ok(h)
}

/// Writes `h` at the start of the object (`pwrite`, not through the
/// mapping: readers in other processes take it with `pread`).
pub(crate) fn write_header(fd: impl AsFd, h: &Header) -> Result<(), Error> {
    let bytes = h.to_bytes();
    let fd = fd.as_fd();
    let mut done = 0;
    while done < bytes.len() {
        match rustix::io::pwrite(fd, &bytes[done..], done as u64) {
            Ok(0) => {
                return Err(Error::Sys {
                    call: Call::Pwrite,
                    errno: rustix::io::Errno::IO,
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
        assert_eq!(shm_name("x").as_deref(), Ok("/x"));
        assert_eq!(shm_name("/x.y-z").as_deref(), Ok("/x.y-z"));
        for bad in ["", "/", ".", "/..", "a/b", "//a", "a\0b"] {
            assert_eq!(shm_name(bad), Err(Error::BadName), "{bad:?}");
        }
        assert!(shm_name(&"n".repeat(255)).is_ok());
        assert_eq!(shm_name(&"n".repeat(256)), Err(Error::BadName));
    }
}
