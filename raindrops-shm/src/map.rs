//! One memory mapping, unmapped on drop: the only place that calls
//! `mmap`, `mremap` and `munmap`.

use core::ffi::c_void;
use core::ptr::{NonNull, null_mut};

use rustix::fd::BorrowedFd;
use rustix::mm::{MapFlags, MremapFlags, ProtFlags};

use crate::error::{Call, Error};

/// A readable and writable mapping of `len` bytes at a page-aligned `ptr`.
///
/// Owning a `Mapping` means owning the address range: nothing else in this
/// process unmaps or remaps it, so it stays valid until `self` is dropped or
/// remapped through `&mut self` (which borrowck orders after every borrow of
/// the memory).
#[derive(Debug)]
pub(crate) struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: a `Mapping` is an owned address range, like a `Box<[u8]>` of
// atomics; every access to the bytes goes through atomics in `Counter` or
// `AtomicAggregate`, so it can move to and be shared with other threads.
unsafe impl Send for Mapping {}
// SAFETY: as above: `&Mapping` only hands out the base pointer, and all
// accesses through it are atomic.
unsafe impl Sync for Mapping {}

fn non_null(p: *mut c_void, call: Call) -> Result<NonNull<u8>, Error> {
    // mmap never returns NULL for a non-fixed mapping on Linux (the zero page
    // is excluded by mmap_min_addr); treat it as an error rather than assume.
    NonNull::new(p.cast::<u8>()).ok_or(Error::Sys {
        call,
        errno: crate::error::errno::NOMEM,
    })
}

impl Mapping {
    /// `mmap(NULL, len, PROT_READ|PROT_WRITE, MAP_SHARED|MAP_ANONYMOUS, -1, 0)`:
    /// zeroed memory shared with the children this process forks.
    pub(crate) fn anonymous(len: usize) -> Result<Mapping, Error> {
        // SAFETY: a new mapping at an address the kernel picks (NULL hint)
        // overlaps no existing allocation; no reference to it exists yet.
        let p = unsafe {
            rustix::mm::mmap_anonymous(
                null_mut(),
                len,
                ProtFlags::READ | ProtFlags::WRITE,
                MapFlags::SHARED,
            )
        }
        .map_err(Error::sys(Call::Mmap))?;
        Ok(Mapping {
            ptr: non_null(p, Call::Mmap)?,
            len,
        })
    }

    /// `mmap(NULL, len, PROT_READ|PROT_WRITE, MAP_SHARED, fd, 0)`, or with
    /// `MAP_PRIVATE` when `private` (for read-only descriptors: the pages
    /// follow the object until this process writes to them, and such writes
    /// never reach the object).
    ///
    /// The caller has checked that the object is at least `len` bytes long:
    /// pages past its end would raise `SIGBUS` when touched.
    pub(crate) fn of_fd(fd: BorrowedFd<'_>, len: usize, private: bool) -> Result<Mapping, Error> {
        let flags = if private {
            MapFlags::PRIVATE
        } else {
            MapFlags::SHARED
        };
        // SAFETY: as in `anonymous`, a new mapping at a kernel-chosen address
        // aliases nothing in this process.
        let p = unsafe {
            rustix::mm::mmap(
                null_mut(),
                len,
                ProtFlags::READ | ProtFlags::WRITE,
                flags,
                fd,
                0,
            )
        }
        .map_err(Error::sys(Call::Mmap))?;
        Ok(Mapping {
            ptr: non_null(p, Call::Mmap)?,
            len,
        })
    }

    /// `mremap(ptr, len, new_len, MREMAP_MAYMOVE)`: resizes the mapping,
    /// possibly moving it. On error the old mapping is unchanged.
    ///
    /// Only for mappings of a file that is at least `new_len` bytes long:
    /// growing a `MAP_SHARED | MAP_ANONYMOUS` mapping this way gives pages
    /// past the original size that raise `SIGBUS`.
    pub(crate) fn remap(&mut self, new_len: usize) -> Result<(), Error> {
        // SAFETY: `ptr`/`len` describe exactly the mapping this value owns,
        // and `&mut self` guarantees no reference into it is alive, so it may
        // move.
        let p = unsafe {
            rustix::mm::mremap(
                self.ptr.as_ptr().cast::<c_void>(),
                self.len,
                new_len,
                MremapFlags::MAYMOVE,
            )
        }
        .map_err(Error::sys(Call::Mremap))?;
        self.ptr = non_null(p, Call::Mremap)?;
        self.len = new_len;
        Ok(())
    }

    /// The first byte of the mapping (page-aligned).
    pub(crate) fn ptr(&self) -> NonNull<u8> {
        self.ptr
    }

    /// The length of the mapping in bytes.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Unmaps now, reporting an error (which drop would ignore).
    pub(crate) fn unmap(self) -> Result<(), Error> {
        let this = core::mem::ManuallyDrop::new(self);
        // SAFETY: the range is this value's own mapping, and consuming `self`
        // ends every borrow of it; `ManuallyDrop` keeps drop from unmapping
        // twice.
        unsafe { rustix::mm::munmap(this.ptr.as_ptr().cast::<c_void>(), this.len) }
            .map_err(Error::sys(Call::Munmap))
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: as in `unmap`; `&mut self` in drop means no borrow remains.
        // munmap of a range we own cannot fail in a way we could act on.
        let _ = unsafe { rustix::mm::munmap(self.ptr.as_ptr().cast::<c_void>(), self.len) };
    }
}
