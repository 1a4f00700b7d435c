//! A region of shared counters, whatever memory backs it.

use core::fmt;
use std::path::{Path, PathBuf};

use raindrops_core::{Counter, CounterArray, CounterView, PaddedSlot};
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::process::{Pid, getpid};

use crate::error::{Error, LayoutError};
use crate::header::{DATA_OFFSET, Header, Kind, MAGIC, check_stride};
use crate::machine::{page_size, ruby_stride};
use crate::map::Mapping;
use crate::object::{self, Access, Create};

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
    /// Whether objects of this backing start with a [`Header`].
    pub const fn is_headered(self) -> bool {
        matches!(
            self,
            Backing::Named | Backing::File | Backing::Memfd | Backing::Fd
        )
    }
}

/// How to create or open a [`Region`]: slot stride, permissions, zeroing,
/// unlinking and access. `Options::new()` gives the defaults.
///
/// ```
/// use raindrops_core::CounterArray;
/// use raindrops_shm::Options;
///
/// // Ruby's slot size (64 bytes on x86_64) instead of the default 128.
/// let region = Options::new().ruby_stride().anonymous(3)?;
/// assert_eq!(region.stride(), raindrops_shm::ruby_stride());
/// region.incr(2, 1)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options {
    stride: Option<usize>,
    mode: u32,
    zero: bool,
    unlink_on_drop: bool,
    access: Access,
}

impl Default for Options {
    fn default() -> Self {
        Self::new()
    }
}

/// How many slots of `stride` bytes fit when `len` of them, after
/// `data_offset` bytes, are rounded up to whole pages (Ruby's
/// `capa = page_align(size * slot) / slot`); gives `(bytes, capacity)`.
fn plan(data_offset: usize, len: usize, stride: usize) -> Result<(usize, usize), Error> {
    if len == 0 {
        return Err(Error::ZeroLength);
    }
    let too_large = Error::BadLayout(LayoutError::TooLarge);
    let bytes = len
        .checked_mul(stride)
        .and_then(|b| b.checked_add(data_offset))
        .and_then(|b| b.checked_next_multiple_of(page_size()))
        .filter(|&b| b <= isize::MAX as usize)
        .ok_or(too_large)?;
    Ok((bytes, (bytes - data_offset) / stride))
}

/// The capacity Ruby's raindrops gives `len` counters of `stride` bytes:
/// `page_align(len * stride) / stride` (`None` on overflow or `len == 0`).
///
/// ```
/// assert_eq!(raindrops_shm::ruby_capacity(1, 64), Some(raindrops_shm::page_size() / 64));
/// ```
pub fn ruby_capacity(len: usize, stride: usize) -> Option<usize> {
    plan(0, len, stride).ok().map(|(_, capa)| capa)
}

/// Removes the POSIX shared memory object `name` (`shm_unlink`); mappings of
/// it stay valid until unmapped.
pub fn unlink_named(name: &str) -> Result<(), Error> {
    object::unlink_shm(&object::shm_name(name)?)
}

/// Everything but the mapping, to assemble a region from.
struct Parts {
    backing: Backing,
    access: Access,
    fd: Option<OwnedFd>,
    name: Option<Box<str>>,
    path: Option<PathBuf>,
    creator: bool,
    unlink_on_drop: bool,
}

impl Options {
    /// The defaults: stride [`CACHE_LINE`](raindrops_core::CACHE_LINE) (Ruby's
    /// stride for the Ruby layout), mode `0o600`, no zeroing, no unlinking on
    /// drop, [`Access::ReadWrite`].
    pub const fn new() -> Self {
        Options {
            stride: None,
            mode: 0o600,
            zero: false,
            unlink_on_drop: false,
            access: Access::ReadWrite,
        }
    }

    /// Uses slots of `bytes` bytes for regions created from now on (and for
    /// reading Ruby-layout files). Checked when used: a multiple of the word
    /// size from one word up to [`MAX_STRIDE`](crate::MAX_STRIDE). Ignored when
    /// opening a headered object, whose header gives its stride.
    pub const fn stride(mut self, bytes: usize) -> Self {
        self.stride = Some(bytes);
        self
    }

    /// Uses Ruby's slot size on this machine ([`ruby_stride`]).
    pub fn ruby_stride(self) -> Self {
        self.stride(ruby_stride())
    }

    /// Permission bits for created shared memory objects and files (default
    /// `0o600`: the owner only).
    pub const fn mode(mut self, mode: u32) -> Self {
        self.mode = mode;
        self
    }

    /// Sets every slot to zero when opening an existing object, like Ruby's
    /// `zero: true` (new objects are zero anyway).
    pub const fn zero(mut self, zero: bool) -> Self {
        self.zero = zero;
        self
    }

    /// Removes the name or path of a created object when its region is
    /// dropped, but only in the process that created it: a forked child
    /// dropping its copy never unlinks its parent's name. Off by default.
    pub const fn unlink_on_drop(mut self, unlink: bool) -> Self {
        self.unlink_on_drop = unlink;
        self
    }

    /// Read-write (default) or read-only access when opening existing objects.
    pub const fn access(mut self, access: Access) -> Self {
        self.access = access;
        self
    }

    fn stride_or(&self, default: usize) -> Result<usize, Error> {
        check_stride(self.stride.unwrap_or(default) as u64)
    }

    /// `len` counters in anonymous shared memory (`MAP_SHARED |
    /// MAP_ANONYMOUS`), shared with every child forked afterwards; Ruby's
    /// `Raindrops.new(len)`.
    pub fn anonymous(&self, len: usize) -> Result<Region, Error> {
        let stride = self.stride_or(raindrops_core::CACHE_LINE)?;
        let (bytes, capacity) = plan(0, len, stride)?;
        let map = Mapping::anonymous(bytes)?;
        Ok(Region::assemble(
            map,
            0,
            stride,
            len,
            capacity,
            Parts {
                backing: Backing::Anonymous,
                access: Access::ReadWrite,
                fd: None,
                name: None,
                path: None,
                creator: true,
                unlink_on_drop: false,
            },
        ))
    }

    /// Creates the POSIX shared memory object `name` (`"/name"` or
    /// `"name"`) with `O_CREAT | O_EXCL` and `len` counters, for unrelated
    /// processes to [`open_named`](Self::open_named). An existing name is
    /// [`Error::AlreadyExists`]; nothing is ever replaced.
    pub fn create_named(&self, name: &str, len: usize) -> Result<Region, Error> {
        let name = object::shm_name(name)?;
        let stride = self.stride_or(raindrops_core::CACHE_LINE)?;
        let (bytes, capacity) = plan(DATA_OFFSET, len, stride)?;
        let fd = object::create_shm(&name, self.mode)?;
        let made = self.init_headered(fd, bytes, stride, len, capacity, Backing::Named);
        match made {
            Ok(mut region) => {
                region.name = Some(name.into_boxed_str());
                Ok(region)
            }
            Err(e) => {
                // The name is ours (O_EXCL): do not leave a half-made object.
                let _ = object::unlink_shm(&name);
                Err(e)
            }
        }
    }

    /// Attaches to the POSIX shared memory object `name`, validating its
    /// header (see [`Error`] for what can be wrong) before mapping it.
    pub fn open_named(&self, name: &str) -> Result<Region, Error> {
        let name = object::shm_name(name)?;
        let fd = object::open_shm(&name, self.access)?;
        let mut region = self.attach_headered(fd, Backing::Named)?;
        region.name = Some(name.into_boxed_str());
        Ok(region)
    }

    /// Creates the file `path` (`O_CREAT | O_EXCL`) in this crate's headered
    /// layout with `len` counters.
    pub fn create_file(&self, path: impl AsRef<Path>, len: usize) -> Result<Region, Error> {
        let path = path.as_ref();
        let stride = self.stride_or(raindrops_core::CACHE_LINE)?;
        let (bytes, capacity) = plan(DATA_OFFSET, len, stride)?;
        let fd = object::open_path(path, Access::ReadWrite, Create::Exclusive(self.mode))?;
        match self.init_headered(fd, bytes, stride, len, capacity, Backing::File) {
            Ok(mut region) => {
                region.path = Some(path.to_path_buf());
                Ok(region)
            }
            Err(e) => {
                let _ = rustix::fs::unlink(path);
                Err(e)
            }
        }
    }

    /// Opens the headered file `path`, validating its header before mapping.
    pub fn open_file(&self, path: impl AsRef<Path>) -> Result<Region, Error> {
        let path = path.as_ref();
        let fd = object::open_path(path, self.access, Create::No)?;
        let mut region = self.attach_headered(fd, Backing::File)?;
        region.path = Some(path.to_path_buf());
        Ok(region)
    }

    /// A new memfd (`memfd_create(name)`) with `len` counters and a header,
    /// sealed against shrinking (`F_SEAL_SHRINK | F_SEAL_SEAL`), so that a
    /// process it is passed to ([`Region::fd`], then [`from_fd`](Self::from_fd)
    /// there) can never be made to fault by a truncation. It is inherited by
    /// forked children like anonymous memory, and unlike anonymous memory it
    /// grows past its capacity without breaking the sharing.
    pub fn memfd(&self, name: &str, len: usize) -> Result<Region, Error> {
        let stride = self.stride_or(raindrops_core::CACHE_LINE)?;
        let (bytes, capacity) = plan(DATA_OFFSET, len, stride)?;
        let fd = object::create_memfd(name)?;
        object::grow_to(&fd, bytes as u64)?;
        object::seal_shrink(&fd)?;
        self.init_headered(fd, bytes, stride, len, capacity, Backing::Memfd)
    }

    /// Attaches to a headered object given by descriptor: a memfd passed by
    /// another process, a shared memory object or a file. The descriptor is
    /// kept (and closed with the region).
    pub fn from_fd(&self, fd: OwnedFd) -> Result<Region, Error> {
        self.attach_headered(fd, Backing::Fd)
    }

    /// Opens (creating it if missing, with [`mode`](Self::mode)) the file
    /// `path` in the layout of Ruby's `Raindrops.new(len, io: file)`: `len`
    /// counters of Ruby's stride, native-endian words, no header. Like Ruby,
    /// the file is extended to the page-aligned size and
    /// [`zero`](Self::zero) clears it; unlike Ruby, a longer file is never
    /// shortened (that would make other processes' mappings fault). With
    /// [`Access::ReadOnly`] the file is neither created nor extended and must
    /// already be long enough.
    pub fn ruby_file(&self, path: impl AsRef<Path>, len: usize) -> Result<Region, Error> {
        let path = path.as_ref();
        let create = match self.access {
            Access::ReadWrite => Create::IfMissing(self.mode),
            Access::ReadOnly => Create::No,
        };
        let fd = object::open_path(path, self.access, create)?;
        let mut region = self.ruby_fd(fd, len)?;
        region.path = Some(path.to_path_buf());
        Ok(region)
    }

    /// [`ruby_file`](Self::ruby_file) for an open descriptor (Ruby's `io:`
    /// argument); the descriptor is kept and closed with the region.
    pub fn ruby_fd(&self, fd: OwnedFd, len: usize) -> Result<Region, Error> {
        let stride = self.stride_or(ruby_stride())?;
        let (bytes, capacity) = plan(0, len, stride)?;
        let size = object::size_of_regular(&fd)?;
        match self.access {
            Access::ReadWrite => object::grow_to(&fd, bytes as u64)?,
            Access::ReadOnly if size < bytes as u64 => {
                return Err(Error::Truncated {
                    needed: bytes as u64,
                    len: size,
                });
            }
            Access::ReadOnly => {}
        }
        let map = Mapping::of_fd(fd.as_fd(), bytes, self.access == Access::ReadOnly)?;
        let region = Region::assemble(
            map,
            0,
            stride,
            len,
            capacity,
            Parts {
                backing: Backing::RubyFile,
                access: self.access,
                fd: Some(fd),
                name: None,
                path: None,
                creator: self.access == Access::ReadWrite,
                unlink_on_drop: self.unlink_on_drop,
            },
        );
        if self.zero && self.access == Access::ReadWrite {
            region.capacity_view().clear();
        }
        Ok(region)
    }

    /// Opens an existing Ruby-layout file without resizing it: every whole
    /// slot of Ruby's stride (or [`stride`](Self::stride)) in the file is a
    /// counter, so [`len`](CounterArray::len) is Ruby's `capa` (Ruby does not
    /// record its `size`).
    pub fn open_ruby_file(&self, path: impl AsRef<Path>) -> Result<Region, Error> {
        let path = path.as_ref();
        let fd = object::open_path(path, self.access, Create::No)?;
        let mut region = self.attach_ruby(fd)?;
        region.path = Some(path.to_path_buf());
        Ok(region)
    }

    fn attach_ruby(&self, fd: OwnedFd) -> Result<Region, Error> {
        let stride = self.stride_or(ruby_stride())?;
        let size = object::size_of_regular(&fd)?;
        let len = usize::try_from(size / stride as u64)
            .map_err(|_| Error::BadLayout(LayoutError::TooLarge))?;
        if len == 0 {
            return Err(Error::Truncated {
                needed: stride as u64,
                len: size,
            });
        }
        let bytes = len * stride; // <= size, which fits in memory
        let map = Mapping::of_fd(fd.as_fd(), bytes, self.access == Access::ReadOnly)?;
        let region = Region::assemble(
            map,
            0,
            stride,
            len,
            len,
            Parts {
                backing: Backing::RubyFile,
                access: self.access,
                fd: Some(fd),
                name: None,
                path: None,
                creator: false,
                unlink_on_drop: false,
            },
        );
        if self.zero && self.access == Access::ReadWrite {
            region.capacity_view().clear();
        }
        Ok(region)
    }

    /// Opens what `target` names, for tools such as `raindrops counters`:
    /// `shm:NAME` is a named shared memory object; anything else is a path,
    /// read in this crate's headered layout when the file starts with
    /// [`MAGIC`], else in Ruby's layout ([`open_ruby_file`](Self::open_ruby_file))
    /// if its size is a whole number of pages, as Ruby makes its files
    /// (anything else is [`Error::BadMagic`]).
    ///
    /// With [`Access::ReadOnly`] this never changes the object.
    pub fn open(&self, target: &str) -> Result<Region, Error> {
        if let Some(name) = target.strip_prefix("shm:") {
            return self.open_named(name);
        }
        let path = Path::new(target);
        let fd = object::open_path(path, self.access, Create::No)?;
        let mut magic = [0u8; 8];
        let got = object::read_prefix(&fd, &mut magic)?;
        let mut region = if got == magic.len() && &magic == MAGIC {
            self.attach_headered(fd, Backing::File)?
        } else {
            // Ruby sizes its files to whole pages: anything else without
            // our magic is not a counter region (a typo'd path, a log).
            let size = object::size_of_regular(&fd)?;
            if size == 0 || size % page_size() as u64 != 0 {
                return Err(Error::BadMagic { found: magic });
            }
            self.attach_ruby(fd)?
        };
        region.path = Some(path.to_path_buf());
        Ok(region)
    }

    /// Sizes a new object, writes its header and maps it.
    fn init_headered(
        &self,
        fd: OwnedFd,
        bytes: usize,
        stride: usize,
        len: usize,
        capacity: usize,
        backing: Backing,
    ) -> Result<Region, Error> {
        object::grow_to(&fd, bytes as u64)?;
        // The header goes in last, so a process attaching too early sees a
        // clear error (BadMagic or Truncated) rather than half a region.
        let map = Mapping::of_fd(fd.as_fd(), bytes, false)?;
        object::write_header(&fd, &Header::counters(stride, len, capacity))?;
        let sealed_memfd = backing == Backing::Memfd;
        Ok(Region::assemble(
            map,
            DATA_OFFSET,
            stride,
            len,
            capacity,
            Parts {
                backing,
                access: Access::ReadWrite,
                fd: Some(fd),
                name: None,
                path: None,
                creator: true,
                unlink_on_drop: self.unlink_on_drop && !sealed_memfd,
            },
        ))
    }

    /// Validates the header and size of an existing object, then maps it.
    fn attach_headered(&self, fd: OwnedFd, backing: Backing) -> Result<Region, Error> {
        let size = object::size_of_regular(&fd)?;
        let h = object::read_header(&fd, size)?;
        if h.kind != Kind::Counters {
            return Err(Error::BadLayout(LayoutError::Kind {
                found: h.kind.to_raw(),
            }));
        }
        // A validated header fits in isize, so these conversions hold.
        let conv = |v: u64| usize::try_from(v).map_err(|_| Error::BadLayout(LayoutError::TooLarge));
        let bytes = conv(h.object_len())?;
        let map = Mapping::of_fd(fd.as_fd(), bytes, self.access == Access::ReadOnly)?;
        let region = Region::assemble(
            map,
            conv(h.data_offset)?,
            conv(h.stride)?,
            conv(h.len)?,
            conv(h.capacity)?,
            Parts {
                backing,
                access: self.access,
                fd: Some(fd),
                name: None,
                path: None,
                creator: false,
                unlink_on_drop: false,
            },
        );
        if self.zero && self.access == Access::ReadWrite {
            region.capacity_view().clear();
        }
        Ok(region)
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
}

impl Region {
    fn assemble(
        map: Mapping,
        data_offset: usize,
        stride: usize,
        len: usize,
        capacity: usize,
        parts: Parts,
    ) -> Region {
        Region {
            view: view_of(&map, data_offset, stride, len, capacity),
            capacity,
            data_offset,
            map: Some(map),
            fd: parts.fd,
            name: parts.name,
            path: parts.path,
            backing: parts.backing,
            access: parts.access,
            creator: parts.creator,
            pid: getpid(),
            unlink_on_drop: parts.unlink_on_drop,
        }
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
    /// changing it: the one call for tools that print live values (see
    /// [`Options::open`] and [`Access::ReadOnly`]).
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
        object::write_header(
            fd,
            &Header {
                kind: Kind::Counters,
                data_offset: self.data_offset as u64,
                stride: self.view.stride() as u64,
                len: self.view.len() as u64,
                capacity: self.capacity as u64,
            },
        )
    }

    /// An independent copy of the current values in fresh anonymous shared
    /// memory, with the same length and stride (Ruby's `dup`).
    pub fn dup(&self) -> Result<Region, Error> {
        let copy = Options::new()
            .stride(self.view.stride())
            .anonymous(self.view.len().max(1))?;
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
    pub fn unlink(&self) -> Result<(), Error> {
        if let Some(name) = &self.name {
            return object::unlink_shm(name);
        }
        if let Some(path) = &self.path {
            return rustix::fs::unlink(path).map_err(Error::sys(crate::error::Call::Unlink));
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

    #[test]
    fn plan_rounds_to_pages_like_ruby() {
        let page = page_size();
        assert_eq!(plan(0, 1, 64), Ok((page, page / 64)));
        assert_eq!(plan(0, page / 64, 64), Ok((page, page / 64)));
        assert_eq!(plan(0, page / 64 + 1, 64), Ok((2 * page, 2 * page / 64)));
        assert_eq!(plan(128, 1, 128), Ok((page, (page - 128) / 128)));
        // A stride that does not divide the page leaves the tail unused.
        assert_eq!(plan(0, 1, 24), Ok((page, page / 24)));
        assert_eq!(plan(0, 0, 64), Err(Error::ZeroLength));
        assert_eq!(
            plan(0, usize::MAX / 2, 64),
            Err(Error::BadLayout(LayoutError::TooLarge))
        );
        assert_eq!(ruby_capacity(0, 64), None);
    }

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
