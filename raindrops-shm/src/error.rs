//! The error type of the crate.

use core::fmt;

pub use raindrops_core::Errno;

/// `errno` values this crate tells apart, from the kernel's headers.
pub(crate) mod errno {
    use linux_raw_sys::errno as e;

    use super::Errno;

    pub(crate) const NOENT: Errno = Errno::from_raw(e::ENOENT as i32);
    pub(crate) const EXIST: Errno = Errno::from_raw(e::EEXIST as i32);
    pub(crate) const INVAL: Errno = Errno::from_raw(e::EINVAL as i32);
    pub(crate) const NODEV: Errno = Errno::from_raw(e::ENODEV as i32);
    pub(crate) const NOMEM: Errno = Errno::from_raw(e::ENOMEM as i32);
    pub(crate) const IO: Errno = Errno::from_raw(e::EIO as i32);
    pub(crate) const LOOP: Errno = Errno::from_raw(e::ELOOP as i32);
    pub(crate) const NAMETOOLONG: Errno = Errno::from_raw(e::ENAMETOOLONG as i32);
    pub(crate) const NOTDIR: Errno = Errno::from_raw(e::ENOTDIR as i32);
    pub(crate) const ISDIR: Errno = Errno::from_raw(e::EISDIR as i32);
    pub(crate) const NXIO: Errno = Errno::from_raw(e::ENXIO as i32);
    pub(crate) const ACCES: Errno = Errno::from_raw(e::EACCES as i32);
    pub(crate) const PERM: Errno = Errno::from_raw(e::EPERM as i32);
    pub(crate) const SPIPE: Errno = Errno::from_raw(e::ESPIPE as i32);
    pub(crate) const ROFS: Errno = Errno::from_raw(e::EROFS as i32);
}

/// The system call that failed, named in [`Error::Sys`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Call {
    /// `mmap(2)`.
    Mmap,
    /// `mremap(2)`.
    Mremap,
    /// `munmap(2)`.
    Munmap,
    /// `shm_open(3)`.
    ShmOpen,
    /// `shm_unlink(3)`.
    ShmUnlink,
    /// `open(2)` of a path.
    Open,
    /// `unlink(2)` of a path.
    Unlink,
    /// `memfd_create(2)`.
    MemfdCreate,
    /// `fcntl(F_ADD_SEALS)` or `fcntl(F_GET_SEALS)`.
    Seals,
    /// `ftruncate(2)`.
    Ftruncate,
    /// `fstat(2)`.
    Fstat,
    /// `pread(2)`.
    Pread,
    /// `pwrite(2)`.
    Pwrite,
    /// `lseek(2)` with `SEEK_DATA`.
    Seek,
    /// `fstatfs(2)`.
    Fstatfs,
    /// `stat(2)` of a name before unlinking it.
    Stat,
    /// `open(2)` of the shared memory directory `/dev/shm`.
    OpenShmDir,
}

impl Call {
    /// The name of the call as in its man page, e.g. `"shm_open"`.
    pub const fn name(self) -> &'static str {
        match self {
            Call::Mmap => "mmap",
            Call::Mremap => "mremap",
            Call::Munmap => "munmap",
            Call::ShmOpen => "shm_open",
            Call::ShmUnlink => "shm_unlink",
            Call::Open => "open",
            Call::Unlink => "unlink",
            Call::MemfdCreate => "memfd_create",
            Call::Seals => "fcntl(F_ADD_SEALS/F_GET_SEALS)",
            Call::Ftruncate => "ftruncate",
            Call::Fstat => "fstat",
            Call::Pread => "pread",
            Call::Pwrite => "pwrite",
            Call::Seek => "lseek(SEEK_DATA)",
            Call::Fstatfs => "fstatfs",
            Call::Stat => "stat",
            Call::OpenShmDir => "open(/dev/shm)",
        }
    }
}

/// What is wrong with the layout of a region, either as asked for by the
/// caller or as described by the header of an existing object.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LayoutError {
    /// The header was written on a machine of the other byte order.
    ByteOrder,
    /// The counter word size differs from this machine's `usize`.
    WordSize {
        /// The word size in bytes that was found.
        found: u32,
    },
    /// The stride is zero, not a multiple of the word size, smaller than a
    /// word or larger than [`MAX_STRIDE`](crate::MAX_STRIDE).
    Stride {
        /// The stride in bytes.
        stride: u64,
    },
    /// The counter count is larger than the capacity, or the capacity is zero.
    Count {
        /// The number of counters in use.
        len: u64,
        /// The number of counters the object holds.
        capacity: u64,
    },
    /// The counters' offset is inside the header or not word-aligned.
    DataOffset {
        /// The offset in bytes of the first counter.
        offset: u64,
    },
    /// The header describes something other than what was asked for (an
    /// aggregate where counters were expected, or an unknown kind).
    Kind {
        /// The kind number found in the header.
        found: u32,
    },
    /// The sizes overflow the address space.
    TooLarge,
    /// The table of slot names is malformed (in a header), or a name given
    /// to [`Options::names`](crate::Options::names) is too long or there are
    /// more names than slots (or than [`MAX_NAMES`](crate::MAX_NAMES)).
    Names {
        /// The index of the first bad name, or the count when there are
        /// too many.
        index: u64,
    },
}

impl fmt::Display for LayoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            LayoutError::ByteOrder => f.write_str("written with the other byte order"),
            LayoutError::WordSize { found } => write!(
                f,
                "counter words of {found} bytes, this machine's are {}",
                raindrops_core::WORD
            ),
            LayoutError::Stride { stride } => write!(
                f,
                "stride of {stride} bytes is not a multiple of {} between {} and {}",
                raindrops_core::WORD,
                raindrops_core::WORD,
                crate::MAX_STRIDE
            ),
            LayoutError::Count { len, capacity } => {
                write!(f, "{len} counters in use with a capacity of {capacity}")
            }
            LayoutError::DataOffset { offset } => {
                write!(
                    f,
                    "counters at byte offset {offset}, inside the header or unaligned"
                )
            }
            LayoutError::Kind { found } => {
                write!(f, "object of kind {found} is not the one expected")
            }
            LayoutError::TooLarge => f.write_str("sizes overflow the address space"),
            LayoutError::Names { index } => write!(
                f,
                "bad slot name table at name {index} (at most {} names of at most {} bytes, one per slot)",
                crate::MAX_NAMES,
                crate::MAX_NAME_LEN
            ),
        }
    }
}

/// Why a shared region could not be created, opened or resized.
///
/// A small `Copy` value that allocates nothing; [`Display`](fmt::Display)
/// gives a one-line message. Every validation error is reported before
/// anything is mapped, so bad input never ends in `SIGBUS`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Error {
    /// A system call failed with `errno`.
    Sys {
        /// The call that failed.
        call: Call,
        /// Its error number.
        errno: Errno,
    },
    /// No shared memory object or file by that name (`ENOENT`).
    NotFound,
    /// The name or path is taken and creation is exclusive (`EEXIST`).
    AlreadyExists,
    /// A shared memory name is empty, `.`/`..`, holds a `/` after the
    /// leading one or a NUL byte, or is longer than the kernel's `NAME_MAX`
    /// (255 bytes, counting the leading `/`).
    BadName,
    /// The object does not start with this crate's magic bytes.
    BadMagic {
        /// The first eight bytes found.
        found: [u8; 8],
    },
    /// The header's layout version is not one this crate reads.
    UnsupportedVersion {
        /// The version found.
        found: u32,
        /// The version this crate reads and writes.
        supported: u32,
    },
    /// The object is shorter than its header (or layout) requires.
    Truncated {
        /// Bytes needed.
        needed: u64,
        /// Bytes present.
        len: u64,
    },
    /// The layout asked for, or the one described by a header, is invalid.
    BadLayout(LayoutError),
    /// The path is not a regular file (a directory, a device, a FIFO, a
    /// file of a pseudo filesystem such as `/proc` or `/sys`), or a shared
    /// memory name is a symbolic link (never followed).
    NotRegularFile,
    /// Permission bits with setuid, setgid or sticky bits (or bits beyond
    /// `0o7777`) were given to [`Options::mode`](crate::Options::mode).
    BadMode {
        /// The bits given.
        mode: u32,
    },
    /// The name or path no longer names the object this handle created or
    /// opened (it was removed, and maybe created anew by someone else), so
    /// it was left alone.
    NameReplaced,
    /// A region of zero counters was asked for (Ruby: "size must be >= 1").
    ZeroLength,
    /// A remap was attempted in a process other than the one that created
    /// the mapping: a forked child cannot grow the region (as in Ruby).
    ForkedChild {
        /// The process id of the creating process.
        creator: i32,
    },
    /// The region was attached to an existing object (`open_*`, `from_fd`,
    /// read-only): only the handle that created the object may grow it.
    NotCreator,
    /// A counter operation failed (an index out of range), converted so that
    /// `?` mixes region and counter calls.
    Counter(raindrops_core::Error),
}

impl From<raindrops_core::Error> for Error {
    fn from(e: raindrops_core::Error) -> Self {
        Error::Counter(e)
    }
}

impl Error {
    /// Turns rustix's errno from `call` into an error: the two that callers
    /// act on get their own variants, the rest keep the number.
    pub(crate) fn sys(call: Call) -> impl FnOnce(rustix::io::Errno) -> Error {
        move |e| match e {
            rustix::io::Errno::NOENT => Error::NotFound,
            rustix::io::Errno::EXIST => Error::AlreadyExists,
            e => Error::Sys {
                call,
                errno: Errno::from_raw(e.raw_os_error()),
            },
        }
    }

    /// The error number behind this error, where there is one.
    pub fn errno(&self) -> Option<Errno> {
        match *self {
            Error::Sys { errno, .. } => Some(errno),
            Error::NotFound => Some(errno::NOENT),
            Error::AlreadyExists => Some(errno::EXIST),
            Error::BadName | Error::BadMode { .. } => Some(errno::INVAL),
            Error::NotRegularFile => Some(errno::NODEV),
            _ => None,
        }
    }

    /// Whether the error says that the name or path given does not lead to
    /// a usable counter region (missing, not a regular file, a symlink
    /// loop, too long, not a region, truncated, shrunk while read): bad
    /// input, as opposed to a failure of the system (out of memory, a
    /// failing disk). Commands exit 2 on these, 1 on the rest.
    pub fn is_bad_target(&self) -> bool {
        match *self {
            Error::Sys { call, errno } => {
                matches!(call, Call::Open | Call::ShmOpen)
                    && [
                        errno::LOOP,
                        errno::NAMETOOLONG,
                        errno::NOTDIR,
                        errno::ISDIR,
                        errno::NXIO,
                        errno::ACCES,
                        errno::PERM,
                        errno::NODEV,
                        errno::ROFS,
                    ]
                    .contains(&errno)
                    || [errno::SPIPE, errno::ISDIR, errno::INVAL].contains(&errno)
                        && matches!(call, Call::Pread | Call::Seek | Call::Mmap)
            }
            Error::NotFound
            | Error::BadName
            | Error::BadMagic { .. }
            | Error::UnsupportedVersion { .. }
            | Error::Truncated { .. }
            | Error::BadLayout(_)
            | Error::NotRegularFile
            | Error::ZeroLength
            | Error::BadMode { .. } => true,
            Error::AlreadyExists
            | Error::NameReplaced
            | Error::ForkedChild { .. }
            | Error::NotCreator
            | Error::Counter(_) => false,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Error::Sys { call, errno } => write!(f, "{} failed: {errno}", call.name()),
            Error::NotFound => f.write_str("no such shared memory object or file"),
            Error::AlreadyExists => f.write_str("a shared memory object or file by that name already exists"),
            Error::BadName => f.write_str(
                "bad shared memory name: want 1-254 bytes after one optional leading '/', no other '/' or NUL",
            ),
            Error::BadMagic { found } => write!(
                f,
                "not a raindrops region: magic {:?} instead of {:?}",
                EscapedBytes(&found),
                EscapedBytes(crate::header::MAGIC)
            ),
            Error::UnsupportedVersion { found, supported } => write!(
                f,
                "raindrops region layout version {found} is not supported (this build reads {supported})"
            ),
            Error::Truncated { needed, len } => write!(
                f,
                "truncated raindrops region: {needed} bytes needed, {len} present"
            ),
            Error::BadLayout(e) => write!(f, "bad raindrops region layout: {e}"),
            Error::NotRegularFile => {
                f.write_str("not a regular file (or a symbolic link under a shared memory name)")
            }
            Error::BadMode { mode } => write!(
                f,
                "refusing mode {mode:o}: setuid, setgid and sticky bits are not allowed"
            ),
            Error::NameReplaced => f.write_str(
                "the name no longer refers to this region's object: left alone",
            ),
            Error::ZeroLength => f.write_str("a region needs at least one counter"),
            Error::ForkedChild { creator } => write!(
                f,
                "cannot remap the region outside the process that created it (pid {creator})"
            ),
            Error::NotCreator => {
                f.write_str("cannot grow an attached region: only its creator can")
            }
            Error::Counter(e) => fmt::Display::fmt(&e, f),
        }
    }
}

impl std::error::Error for Error {}

impl From<Error> for std::io::Error {
    fn from(e: Error) -> Self {
        let kind = match e {
            Error::Sys { errno, .. } => return std::io::Error::from_raw_os_error(errno.raw()),
            Error::NotFound | Error::NameReplaced => std::io::ErrorKind::NotFound,
            Error::AlreadyExists => std::io::ErrorKind::AlreadyExists,
            Error::BadName | Error::ZeroLength | Error::Counter(_) | Error::BadMode { .. } => {
                std::io::ErrorKind::InvalidInput
            }
            Error::BadMagic { .. }
            | Error::UnsupportedVersion { .. }
            | Error::Truncated { .. }
            | Error::BadLayout(_)
            | Error::NotRegularFile => std::io::ErrorKind::InvalidData,
            Error::ForkedChild { .. } | Error::NotCreator => std::io::ErrorKind::PermissionDenied,
        };
        std::io::Error::new(kind, e)
    }
}

/// Bytes shown as an escaped ASCII string.
struct EscapedBytes<'a>(&'a [u8]);

impl fmt::Debug for EscapedBytes<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"")?;
        for &b in self.0 {
            for c in core::ascii::escape_default(b) {
                fmt::Write::write_char(f, char::from(c))?;
            }
        }
        f.write_str("\"")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_messages() {
        let all = [
            Error::Sys {
                call: Call::Mmap,
                errno: errno::NOMEM,
            },
            Error::NotFound,
            Error::BadMode { mode: 0o4755 },
            Error::NameReplaced,
            Error::BadLayout(LayoutError::Names { index: 3 }),
            Error::AlreadyExists,
            Error::BadName,
            Error::BadMagic {
                found: *b"\0\x01abcdef",
            },
            Error::UnsupportedVersion {
                found: 9,
                supported: 1,
            },
            Error::Truncated {
                needed: 8192,
                len: 64,
            },
            Error::BadLayout(LayoutError::Stride { stride: 3 }),
            Error::BadLayout(LayoutError::ByteOrder),
            Error::BadLayout(LayoutError::WordSize { found: 4 }),
            Error::BadLayout(LayoutError::Count {
                len: 9,
                capacity: 3,
            }),
            Error::BadLayout(LayoutError::DataOffset { offset: 7 }),
            Error::BadLayout(LayoutError::Kind { found: 77 }),
            Error::BadLayout(LayoutError::TooLarge),
            Error::NotRegularFile,
            Error::ZeroLength,
            Error::ForkedChild { creator: 42 },
            Error::NotCreator,
            Error::Counter(raindrops_core::Error::IndexOutOfRange { index: 5, len: 2 }),
        ];
        for e in all {
            let s = e.to_string();
            assert!(!s.is_empty() && !s.contains('\n'), "{s:?}");
            let io: std::io::Error = e.into();
            assert!(!io.to_string().is_empty());
        }
        assert_eq!(
            Error::Sys {
                call: Call::Mmap,
                errno: errno::NOMEM
            }
            .to_string(),
            "mmap failed: Cannot allocate memory (os error 12)"
        );
        assert!(
            Error::BadMagic {
                found: *b"\0\x01abcdef"
            }
            .to_string()
            .contains(r#""\x00\x01abcdef""#)
        );
        assert!(
            Error::Truncated {
                needed: 8192,
                len: 64
            }
            .to_string()
            .contains("8192 bytes needed, 64 present")
        );
    }

    #[test]
    fn errno_mapping() {
        use rustix::io::Errno as R;
        assert_eq!(Error::sys(Call::ShmOpen)(R::NOENT), Error::NotFound);
        assert_eq!(Error::sys(Call::Open)(R::EXIST), Error::AlreadyExists);
        assert_eq!(
            Error::sys(Call::Open)(R::ACCESS),
            Error::Sys {
                call: Call::Open,
                errno: errno::ACCES
            }
        );
        // rustix's numbers and the kernel headers' agree.
        assert_eq!(R::LOOP.raw_os_error(), errno::LOOP.raw());
        assert_eq!(R::NAMETOOLONG.raw_os_error(), errno::NAMETOOLONG.raw());
        assert_eq!(Error::NotFound.errno(), Some(errno::NOENT));
        assert_eq!(Error::ZeroLength.errno(), None);
        let e = Error::sys(Call::Open)(R::LOOP);
        assert!(e.is_bad_target());
        assert_eq!(
            std::io::Error::from(e).raw_os_error(),
            Some(errno::LOOP.raw())
        );
        assert!(!Error::sys(Call::Mmap)(R::NOMEM).is_bad_target());
    }
}
