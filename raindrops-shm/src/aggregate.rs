//! One [`AtomicAggregate`] in shared memory, fed by many processes.

use core::fmt;
use core::ops::Deref;

use raindrops_core::AtomicAggregate;
use rustix::fd::{AsFd, OwnedFd};
use rustix::process::{Pid, getpid};

use crate::error::{Error, LayoutError};
use crate::header::{DATA_OFFSET, Kind, RegionHeader};
use crate::machine::page_size;
use crate::map::Mapping;
use crate::object::{self, Access, Identity, ShmName};

/// How to create a named [`SharedAggregate`]: permissions and unlinking,
/// in the style of [`Options`](crate::Options).
///
/// ```no_run
/// use raindrops_shm::AggregateOptions;
///
/// let waited = AggregateOptions::new().unlink_on_drop(true).create_named("/myapp-wait")?;
/// waited.push(12);
/// # Ok::<(), raindrops_shm::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AggregateOptions {
    mode: u32,
    unlink_on_drop: bool,
}

impl Default for AggregateOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl AggregateOptions {
    /// The defaults: mode `0o600`, no unlinking on drop.
    pub const fn new() -> Self {
        AggregateOptions {
            mode: 0o600,
            unlink_on_drop: false,
        }
    }

    /// Permission bits of the created object (setuid, setgid and sticky
    /// bits are refused, see [`Options::mode`](crate::Options::mode)).
    pub const fn mode(mut self, mode: u32) -> Self {
        self.mode = mode;
        self
    }

    /// Removes the name when the aggregate is dropped in the creating
    /// process, while the name still refers to its object.
    pub const fn unlink_on_drop(mut self, unlink: bool) -> Self {
        self.unlink_on_drop = unlink;
        self
    }

    /// Creates the named shared memory object `name` (`O_CREAT | O_EXCL`)
    /// holding an empty aggregate behind a header of kind
    /// [`Kind::Aggregate`].
    pub fn create_named(&self, name: &str) -> Result<SharedAggregate, Error> {
        let name = ShmName::new(name)?;
        let fd = object::create_shm(&name, self.mode)?;
        let made = (|| {
            let h = SharedAggregate::header();
            let bytes = h.object_len() as usize;
            object::grow_to(&fd, bytes as u64)?;
            let map = Mapping::of_fd(fd.as_fd(), bytes, false)?;
            object::write_header(&fd, &h)?;
            Ok(map)
        })();
        match made {
            Ok(map) => Ok(SharedAggregate {
                map,
                offset: DATA_OFFSET,
                fd: Some(fd),
                name: Some(name.into_boxed_str()),
                pid: getpid(),
                unlink_on_drop: self.unlink_on_drop,
            }),
            Err(e) => {
                let _ = object::unlink_shm(&name);
                Err(e)
            }
        }
    }
}

/// An [`AtomicAggregate`] in shared memory: forked workers (or, when named,
/// unrelated processes) [`push`](AtomicAggregate::push) samples into one
/// distribution and any of them reads a
/// [`snapshot`](AtomicAggregate::snapshot). It dereferences to the
/// aggregate, so every operation is raindrops-core's.
///
/// This is what replaces the POSIX message queue of Ruby's
/// `Raindrops::Aggregate::PMQ` (e.g. for `LastDataRecv`): all-zero memory is
/// an empty aggregate, so fresh shared memory needs no initialisation.
///
/// ```
/// use raindrops_shm::SharedAggregate;
///
/// let wait_ms = SharedAggregate::anonymous()?;
/// wait_ms.push(3);
/// wait_ms.push(5);
/// // ... fork workers here; each pushes into the same memory ...
/// assert_eq!(wait_ms.snapshot().count(), 2);
/// # Ok::<(), raindrops_shm::Error>(())
/// ```
pub struct SharedAggregate {
    map: Mapping,
    offset: usize,
    fd: Option<OwnedFd>,
    name: Option<Box<str>>,
    pid: Pid,
    unlink_on_drop: bool,
}

impl SharedAggregate {
    /// An empty aggregate in anonymous shared memory (`MAP_SHARED |
    /// MAP_ANONYMOUS`), shared with every child forked afterwards.
    pub fn anonymous() -> Result<SharedAggregate, Error> {
        let bytes = AtomicAggregate::SIZE.next_multiple_of(page_size());
        Ok(SharedAggregate {
            map: Mapping::anonymous(bytes)?,
            offset: 0,
            fd: None,
            name: None,
            pid: getpid(),
            unlink_on_drop: false,
        })
    }

    /// Creates the named aggregate `name` with the default
    /// [`AggregateOptions`] (mode `0o600`, kept when dropped).
    pub fn create_named(name: &str) -> Result<SharedAggregate, Error> {
        AggregateOptions::new().create_named(name)
    }

    /// Attaches read-write to the named aggregate `name`, validating its
    /// header (kind, and a size equal to this build's `AtomicAggregate`).
    pub fn open_named(name: &str) -> Result<SharedAggregate, Error> {
        let name = ShmName::new(name)?;
        let fd = object::open_shm(&name, Access::ReadWrite)?;
        let size = object::size_of_regular(&fd)?;
        let h = object::read_header(&fd, size)?;
        if h.kind != Kind::Aggregate {
            return Err(Error::BadLayout(LayoutError::Kind {
                found: h.kind.to_raw(),
            }));
        }
        if h.stride != AtomicAggregate::SIZE as u64 {
            return Err(Error::BadLayout(LayoutError::Stride { stride: h.stride }));
        }
        // Checked by `read_header`: the object holds `object_len` bytes,
        // which fit in isize.
        let bytes =
            usize::try_from(h.object_len()).map_err(|_| Error::BadLayout(LayoutError::TooLarge))?;
        let offset =
            usize::try_from(h.data_offset).map_err(|_| Error::BadLayout(LayoutError::TooLarge))?;
        let map = Mapping::of_fd(fd.as_fd(), bytes, false)?;
        Ok(SharedAggregate {
            map,
            offset,
            fd: Some(fd),
            name: Some(name.into_boxed_str()),
            pid: getpid(),
            unlink_on_drop: false,
        })
    }

    fn header() -> RegionHeader {
        RegionHeader {
            kind: Kind::Aggregate,
            data_offset: DATA_OFFSET as u64,
            stride: AtomicAggregate::SIZE as u64,
            len: 1,
            capacity: 1,
            names_len: 0,
            names_count: 0,
        }
    }

    /// The shared memory name, for named aggregates.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The descriptor of a named aggregate's object; `None` when anonymous.
    pub fn fd(&self) -> Option<rustix::fd::BorrowedFd<'_>> {
        self.fd.as_ref().map(AsFd::as_fd)
    }

    /// Removes the name now (`shm_unlink`) if it still refers to this
    /// aggregate's object ([`Error::NameReplaced`] otherwise, see
    /// [`Region::unlink`](crate::Region::unlink)); mappings stay valid. Does
    /// nothing for anonymous aggregates.
    pub fn unlink(&self) -> Result<(), Error> {
        match (&self.name, &self.fd) {
            (Some(name), Some(fd)) => {
                object::unlink_shm_if(&ShmName::new(name)?, Identity::of(fd)?)
            }
            _ => Ok(()),
        }
    }
}

impl Deref for SharedAggregate {
    type Target = AtomicAggregate;

    fn deref(&self) -> &AtomicAggregate {
        let ptr = self.map.ptr().as_ptr().wrapping_add(self.offset);
        // SAFETY: every constructor maps at least `offset + SIZE` bytes
        // (anonymous: a page-rounded SIZE at offset 0; named: the header's
        // object length, validated to be DATA_OFFSET-or-more + SIZE), the
        // mapping is page-aligned and `offset` a multiple of 8, so the
        // pointer is aligned for `AtomicAggregate` (all `AtomicU64`). All-zero
        // bytes and any other bits are valid for it, every access is atomic,
        // and the borrow of `self` keeps the mapping alive.
        unsafe { &*ptr.cast::<AtomicAggregate>() }
    }
}

impl Drop for SharedAggregate {
    fn drop(&mut self) {
        if self.unlink_on_drop && getpid() == self.pid {
            let _ = self.unlink();
        }
    }
}

impl fmt::Debug for SharedAggregate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedAggregate")
            .field("name", &self.name)
            .field("snapshot", &self.snapshot())
            .finish()
    }
}
