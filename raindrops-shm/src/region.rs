//! A region of shared counters, whatever memory backs it.

use core::fmt;
use std::path::{Path, PathBuf};

use raindrops_core::{Counter, CounterArray, CounterView, PaddedSlot};
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::process::{Pid, getpid};

use crate::error::Error;
use crate::header::RegionHeader;
use crate::layout::{Layout, NameTable, plan};
use crate::map::Mapping;
use crate::names::SlotNames;
use crate::object::{self, Access, Identity, ShmName};
use crate::options::Options;

/// What memory a [`Region`] lives in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Backing {
    /// `MAP_SHARED | MAP_ANONYMOUS` memory, shared with forked children
    /// (Ruby's default). Raw slots, no header.
    Anonymous,
    /// A named POSIX shared memory object (`shm_open`), with a header.
    Named,
    /// A file in this crate's headered layout.
    File,
    /// A file in the layout of Ruby's `Raindrops.new(n, io: file)`: raw
    /// slots of Ruby's stride, no header.
    RubyFile,
    /// A memfd (`memfd_create`) with a header, sealed against shrinking.
    Memfd,
    /// A headered object attached through a descriptor ([`Options::from_fd`]).
    Fd,
}

impl Backing {
    /// Whether objects of this backing start with a
    /// [`RegionHeader`](crate::header::RegionHeader).
    pub const fn is_headered(self) -> bool {
        matches!(
            self,
            Backing::Named | Backing::File | Backing::Memfd | Backing::Fd
        )
    }

    /// A short lower-case name for tools and logs: `anonymous`, `shm`,
    /// `file`, `ruby-file`, `memfd` or `fd`.
    pub const fn name(self) -> &'static str {
        match self {
            Backing::Anonymous => "anonymous",
            Backing::Named => "shm",
            Backing::File => "file",
            Backing::RubyFile => "ruby-file",
            Backing::Memfd => "memfd",
            Backing::Fd => "fd",
        }
    }
}

impl fmt::Display for Backing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Removes the POSIX shared memory object `name` (`shm_unlink`), whatever
/// object the name refers to now; mappings of it stay valid until unmapped.
/// [`Region::unlink`] removes a name only if it still refers to the
/// region's own object.
pub fn unlink_named(name: &str) -> Result<(), Error> {
    object::unlink_shm(&ShmName::new(name)?)
}

/// Everything but the mapping and the layout, to assemble a region from:
/// built only by [`Parts::new`].
pub(crate) struct Parts {
    access: Access,
    fd: Option<OwnedFd>,
    creator: bool,
    unlink_on_drop: bool,
}

impl Parts {
    /// An attached (not created) object with this access and descriptor.
    pub(crate) fn new(access: Access, fd: Option<OwnedFd>) -> Parts {
        Parts {
            access,
            fd,
            creator: false,
            unlink_on_drop: false,
        }
    }

    /// Marks the object as created by this handle, which may grow it and,
    /// if `unlink_on_drop`, removes its name when dropped.
    pub(crate) fn created(self, unlink_on_drop: bool) -> Parts {
        Parts {
            creator: true,
            unlink_on_drop,
            ..self
        }
    }
}

/// Counters in shared memory: anonymous (inherited by forked children), a
/// named POSIX shared memory object, a file (headered or in Ruby's layout)
/// or a memfd.
///
/// A region is a [`CounterArray`]: `incr`, `decr`, `get`, `set`,
/// `snapshot`, `values` and `clear` are the same code as for a `static`
/// [`Counters`](raindrops_core::Counters), atomic and lock-free across every
/// process that maps the memory. With the default stride
/// ([`CACHE_LINE`](raindrops_core::CACHE_LINE)), [`slots`](Self::slots) gives
/// the [`PaddedSlot`]s for `named_counters!`'s `from_slots`,
/// [`Counters::from_slots`](raindrops_core::Counters::from_slots) and
/// [`Sharded::new`](raindrops_core::Sharded::new).
///
/// # Size and capacity
///
/// As in Ruby, the memory is whole pages, so [`capacity`](Self::capacity)
/// `>= len()`. [`set_len`](Self::set_len) within the capacity is free;
/// growing past it remaps, which only the handle that created the object may
/// do, and only in the process that created it ([`Error::ForkedChild`]
/// otherwise). Anonymous memory cannot be extended in place (the new pages
/// would fault), so an anonymous region moves to fresh memory: children
/// forked before that keep the old memory and stop sharing with the parent.
/// Grow before forking, or use a [`memfd`](Options::memfd), which grows in
/// place and keeps sharing.
///
/// # Dropping, evaporating and unlinking
///
/// Dropping unmaps (and closes the descriptor); [`evaporate`](Self::evaporate)
/// does it now and reports errors. Names and paths are removed only on
/// request: [`unlink`](Self::unlink), or
/// [`Options::unlink_on_drop`] in the creating process.
///
/// # The shrink hazard
///
/// Every object is checked to be as long as its header (or layout) says
/// before it is mapped, so bad input is an error, never a `SIGBUS`. What no
/// check can prevent is another process shrinking a file or shared memory
/// object (`ftruncate`) *after* it is mapped: touching a counter past the new
/// end then raises `SIGBUS`. This crate never shrinks an object; keep the
/// default mode `0o600` so other users cannot either, and prefer a memfd
/// (sealed with `F_SEAL_SHRINK`, see [`is_shrink_sealed`](Self::is_shrink_sealed))
/// when handing memory to processes you do not trust.
///
/// Which backing guarantees what:
///
/// - anonymous memory has no file anyone could shrink: never `SIGBUS`;
/// - a sealed memfd ([`Options::memfd`], or one received with
///   `is_shrink_sealed()` true) cannot be shrunk by anyone: never `SIGBUS`;
/// - named shared memory and files (ours or Ruby's) can be shrunk by any
///   process with write access: a mapped region of one may raise `SIGBUS`.
///   To read such objects without that risk, copy them with a
///   [`RegionReader`](crate::RegionReader), which reports a shrink as
///   [`Error::Truncated`].
pub struct Region {
    /// The `len` counters in use. `'static` is a private fiction: the view
    /// is only handed out reborrowed from `&self`, and the mapping it points
    /// into changes only through `&mut self` or `self`, which end those
    /// borrows first.
    view: CounterView<'static>,
    capacity: usize,
    data_offset: usize,
    map: Option<Mapping>,
    fd: Option<OwnedFd>,
    name: Option<Box<str>>,
    path: Option<PathBuf>,
    backing: Backing,
    access: Access,
    creator: bool,
    pid: Pid,
    unlink_on_drop: bool,
    names: Option<NameTable>,
}

impl Region {
    /// The one place a region is put together.
    pub(crate) fn assemble(map: Mapping, layout: Layout, parts: Parts) -> Region {
        let Layout {
            backing,
            data_offset,
            stride,
            len,
            capacity,
            names,
        } = layout;
        Region {
            view: view_of(&map, data_offset, stride, len, capacity),
            capacity,
            data_offset,
            map: Some(map),
            fd: parts.fd,
            name: None,
            path: None,
            backing,
            access: parts.access,
            creator: parts.creator,
            pid: getpid(),
            unlink_on_drop: parts.unlink_on_drop,
            names,
        }
    }

    pub(crate) fn set_name(&mut self, name: Box<str>) {
        self.name = Some(name);
    }

    pub(crate) fn set_path(&mut self, path: PathBuf) {
        self.path = Some(path);
    }

    /// Zeroes all `capacity` slots (Ruby's `zero: true`).
    pub(crate) fn clear_capacity(&self) {
        self.capacity_view().clear();
    }

    /// `len` counters in anonymous shared memory with the default options
    /// (see [`Options::anonymous`]); Ruby's `Raindrops.new(len)`.
    pub fn anonymous(len: usize) -> Result<Region, Error> {
        Options::new().anonymous(len)
    }

    /// Creates the named shared memory object `name` (see
    /// [`Options::create_named`]).
    pub fn create_named(name: &str, len: usize) -> Result<Region, Error> {
        Options::new().create_named(name, len)
    }

    /// Attaches to the named shared memory object `name` (see
    /// [`Options::open_named`]).
    pub fn open_named(name: &str) -> Result<Region, Error> {
        Options::new().open_named(name)
    }

    /// A new sealed memfd region (see [`Options::memfd`]).
    pub fn memfd(name: &str, len: usize) -> Result<Region, Error> {
        Options::new().memfd(name, len)
    }

    /// Opens `shm:NAME` or a path (headered or Ruby layout) read-only, never
    /// changing it, mapped so that values stay live (see [`Options::open`]
    /// and [`Access::ReadOnly`]). Mapped memory is only as safe as the
    /// backing (see "The shrink hazard" below): a tool that prints values
    /// of objects it does not trust should use a
    /// [`RegionReader`](crate::RegionReader), which copies.
    pub fn open_read_only(target: &str) -> Result<Region, Error> {
        Options::new().access(Access::ReadOnly).open(target)
    }

    /// The number of slots the mapping holds (Ruby's `capa`).
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Bytes from one counter to the next.
    pub fn stride(&self) -> usize {
        self.view.stride()
    }

    /// What memory backs this region.
    pub fn backing(&self) -> Backing {
        self.backing
    }

    /// How the region was opened.
    pub fn access(&self) -> Access {
        self.access
    }

    /// The shared memory name (`/name`), for named regions.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The file path, for file-backed regions opened by path.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The descriptor of the object (Ruby's `to_io`); `None` for anonymous
    /// memory. Duplicate it (`try_clone_to_owned`) to pass it on.
    pub fn fd(&self) -> Option<BorrowedFd<'_>> {
        self.fd.as_ref().map(AsFd::as_fd)
    }

    /// Whether the object carries `F_SEAL_SHRINK`, so that no process can
    /// shrink it under this mapping (true for [`Options::memfd`]).
    pub fn is_shrink_sealed(&self) -> bool {
        self.fd.as_ref().is_some_and(object::is_shrink_sealed)
    }

    /// The slot names given at creation ([`Options::names`]) or stored in
    /// the object's header; empty when there are none. They come from
    /// shared memory: show them with
    /// [`EscapedName`](raindrops_core::EscapedName).
    pub fn slot_names(&self) -> SlotNames<'_> {
        self.names
            .as_ref()
            .map_or(SlotNames::EMPTY, NameTable::view)
    }

    /// The counters as a [`CounterView`].
    pub fn view(&self) -> CounterView<'_> {
        self.view
    }

    /// The counters as [`PaddedSlot`]s, when the stride is
    /// [`CACHE_LINE`](raindrops_core::CACHE_LINE) (the default; not Ruby's
    /// stride): for `named_counters!`'s `from_slots`,
    /// [`Counters::from_slots`](raindrops_core::Counters::from_slots) and
    /// [`Sharded::new`](raindrops_core::Sharded::new).
    pub fn slots(&self) -> Option<&[PaddedSlot]> {
        let ptr = self.view.as_ptr();
        if self.view.stride() != core::mem::size_of::<PaddedSlot>()
            || ptr.align_offset(core::mem::align_of::<PaddedSlot>()) != 0
        {
            return None;
        }
        // SAFETY: the view's `len` words lie `stride` = `size_of::<PaddedSlot>()`
        // bytes apart inside the live mapping (the `Region` invariant), so
        // `len` whole slots do; `ptr` is aligned for `PaddedSlot` (checked).
        // A `PaddedSlot` is a `Counter` (an atomic word, valid for any bits)
        // at offset 0 plus padding, and is only accessed through shared
        // references and atomics; the slice borrows `self`, which keeps the
        // mapping in place.
        Some(unsafe { core::slice::from_raw_parts(ptr.cast::<PaddedSlot>(), self.view.len()) })
    }

    /// All `capacity` slots.
    fn capacity_view(&self) -> CounterView<'_> {
        match &self.map {
            Some(map) => view_of(
                map,
                self.data_offset,
                self.view.stride(),
                self.capacity,
                self.capacity,
            ),
            None => self.view,
        }
    }

    /// Sets the number of counters (Ruby's `size=`).
    ///
    /// Within [`capacity`](Self::capacity) this is free and values beyond the
    /// new length are kept for a later regrowth, as in Ruby. Past it the
    /// region is remapped: only the handle that created the object may do
    /// that ([`Error::NotCreator`]), only in the creating process
    /// ([`Error::ForkedChild`]); on error nothing changes. The new capacity is
    /// Ruby's page-rounded one. Headered objects record the new length and
    /// capacity in their header for later attachers.
    pub fn set_len(&mut self, len: usize) -> Result<(), Error> {
        if len > self.capacity {
            self.grow(len)?;
        }
        let Some(map) = &self.map else {
            return Ok(());
        };
        self.view = view_of(
            map,
            self.data_offset,
            self.view.stride(),
            len,
            self.capacity,
        );
        self.update_header()
    }

    fn grow(&mut self, len: usize) -> Result<(), Error> {
        if self.access == Access::ReadOnly || !self.creator {
            return Err(Error::NotCreator);
        }
        if getpid() != self.pid {
            return Err(Error::ForkedChild {
                creator: self.pid.as_raw_pid(),
            });
        }
        let stride = self.view.stride();
        let (bytes, capacity) = plan(self.data_offset, len, stride)?;
        match &self.fd {
            None => {
                // MAP_SHARED|MAP_ANONYMOUS cannot grow in place (its backing
                // object has a fixed size): copy into fresh memory.
                let new = Mapping::anonymous(bytes)?;
                let old = self.capacity_view();
                let fresh = view_of(&new, 0, stride, capacity, capacity);
                for (i, v) in old.values().enumerate() {
                    // In range: the new capacity exceeds the old one.
                    let _ = fresh.set(i, v);
                }
                self.map = Some(new);
            }
            Some(fd) => {
                object::grow_to(fd, bytes as u64)?;
                if let Some(map) = &mut self.map {
                    map.remap(bytes)?;
                }
            }
        }
        self.capacity = capacity;
        Ok(())
    }

    fn update_header(&self) -> Result<(), Error> {
        let (Some(fd), true) = (&self.fd, self.backing.is_headered()) else {
            return Ok(());
        };
        if !self.creator || self.access == Access::ReadOnly || getpid() != self.pid {
            return Ok(());
        }
        let h = RegionHeader::counters_at(
            self.data_offset,
            self.view.stride(),
            self.view.len(),
            self.capacity,
            self.names.as_ref(),
        );
        object::write_header(fd, &h)
    }

    /// An independent copy of the current values in fresh anonymous shared
    /// memory (Ruby's `dup`): the same length, stride and slot names, a
    /// capacity of its own. Like every anonymous region it is shared with
    /// the children forked after it is made, and not with the processes
    /// that share `self`. Works on any backing and access, including
    /// read-only regions: a snapshot to keep.
    ///
    /// ```
    /// use raindrops_core::CounterArray;
    /// let live = raindrops_shm::Region::anonymous(2)?;
    /// live.set(1, 5)?;
    /// let copy = live.dup()?;
    /// live.incr(1, 1)?;
    /// assert_eq!((copy.get(1)?, live.get(1)?), (5, 6));
    /// # Ok::<(), raindrops_shm::Error>(())
    /// ```
    pub fn dup(&self) -> Result<Region, Error> {
        let stride = self.view.stride();
        let len = self.view.len();
        let (bytes, capacity) = plan(0, len.max(1), stride)?;
        let map = Mapping::anonymous(bytes)?;
        let layout = Layout {
            backing: Backing::Anonymous,
            data_offset: 0,
            stride,
            len,
            capacity,
            names: self.names.clone(),
        };
        let copy = Region::assemble(
            map,
            layout,
            Parts::new(Access::ReadWrite, None).created(false),
        );
        for (i, v) in self.view.values().enumerate() {
            // In range: the copy has the same length.
            let _ = copy.set(i, v);
        }
        Ok(copy)
    }

    /// Unmaps the memory now (Ruby's `evaporate!`), reporting a failure that
    /// dropping would ignore. Unlinks like a drop would.
    pub fn evaporate(mut self) -> Result<(), Error> {
        match self.map.take() {
            Some(map) => map.unmap(),
            None => Ok(()),
        }
    }

    /// Removes the object's name or path now (`shm_unlink` or `unlink`);
    /// every mapping stays valid. Does nothing for anonymous memory, memfds
    /// and descriptors.
    ///
    /// Only a name that still refers to this region's object is removed
    /// (device and inode compared): if it was removed and someone made a new
    /// object under it, that object is left alone and this is
    /// [`Error::NameReplaced`]. The check and the removal are two system
    /// calls; a process able to replace entries of the directory could swap
    /// the name in between, which Linux gives no way to rule out.
    pub fn unlink(&self) -> Result<(), Error> {
        let Some(fd) = &self.fd else {
            return Ok(());
        };
        if let Some(name) = &self.name {
            return object::unlink_shm_if(&ShmName::new(name)?, Identity::of(fd)?);
        }
        if let Some(path) = &self.path {
            return object::unlink_path_if(path, Identity::of(fd)?);
        }
        Ok(())
    }
}

/// A view of `len` of the `capacity` slots of `stride` bytes that start
/// `data_offset` bytes into `map`.
fn view_of(
    map: &Mapping,
    data_offset: usize,
    stride: usize,
    len: usize,
    capacity: usize,
) -> CounterView<'static> {
    // Every constructor checks these before mapping; keep them obvious.
    let fits = capacity
        .checked_mul(stride)
        .and_then(|b| b.checked_add(data_offset))
        .is_some_and(|end| end <= map.len());
    let len = if fits && len <= capacity { len } else { 0 };
    let base = map.ptr().as_ptr().wrapping_add(data_offset);
    let base = core::ptr::NonNull::new(base).unwrap_or(map.ptr());
    // SAFETY: `stride` passed `check_stride` (a non-zero multiple of the
    // word size), `map.ptr()` is page-aligned and `data_offset` a multiple
    // of the word size, so every counter is usize-aligned. The `len` words
    // at `base + i * stride` lie inside `map` (checked just above, else the
    // view is empty), which is one live read-write mapping of at most
    // `isize::MAX` bytes. The view's lifetime is tied to `&Region` when it is
    // handed out, and the mapping only changes through `&mut Region` or by
    // consuming it, so it stays mapped while any view exists. All access from
    // this process is atomic (`Counter`); other processes use this crate or
    // Ruby's raindrops, whose `__sync` builtins are atomic too.
    unsafe { CounterView::from_raw_parts(base, len, stride) }
}

impl CounterArray for Region {
    #[inline]
    fn len(&self) -> usize {
        self.view.len()
    }

    #[inline]
    fn counter(&self, index: usize) -> Option<&Counter> {
        self.view.counter(index)
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        // Only the creating handle in the creating process removes a name:
        // a forked child dropping its copy must not unlink its parent's.
        if self.unlink_on_drop && self.creator && getpid() == self.pid {
            let _ = self.unlink();
        }
    }
}

impl fmt::Debug for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Region");
        d.field("backing", &self.backing);
        if let Some(name) = &self.name {
            d.field("name", name);
        }
        if let Some(path) = &self.path {
            d.field("path", path);
        }
        d.field("len", &self.view.len())
            .field("capacity", &self.capacity)
            .field("stride", &self.view.stride())
            .field("access", &self.access)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::machine::page_size;

    #[test]
    fn views_never_exceed_the_mapping() {
        let map = Mapping::anonymous(page_size()).unwrap();
        // Consistent: the view has what was asked for.
        assert_eq!(view_of(&map, 0, 64, 3, page_size() / 64).len(), 3);
        // Inconsistent (a bug elsewhere): an empty view, not an overrun.
        assert_eq!(view_of(&map, 0, 64, 3, page_size()).len(), 0);
        assert_eq!(view_of(&map, 128, 64, 5, 4).len(), 0);
    }
}
