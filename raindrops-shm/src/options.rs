//! [`Options`]: every way to create or open a [`Region`].

use std::path::Path;

use rustix::fd::{AsFd, OwnedFd};

use crate::error::{Error, LayoutError};
use crate::header::{HEADER_LEN, RegionHeader, check_stride};
use crate::layout::{self, Layout, NameTable, data_offset_for, plan};
use crate::machine::ruby_stride;
use crate::map::Mapping;
use crate::object::{self, Access, Create, ShmName};
use crate::region::{Backing, Parts, Region};

/// How to create or open a [`Region`]: slot stride, permissions, zeroing,
/// unlinking, access and slot names. `Options::new()` gives the defaults.
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
pub struct Options<'a> {
    stride: Option<usize>,
    mode: u32,
    zero: bool,
    unlink_on_drop: bool,
    access: Access,
    names: &'a [&'a str],
}

impl Default for Options<'_> {
    fn default() -> Self {
        Options::new()
    }
}

impl Options<'static> {
    /// The defaults: stride [`CACHE_LINE`](raindrops_core::CACHE_LINE) (Ruby's
    /// stride for the Ruby layout), mode `0o600`, no zeroing, no unlinking on
    /// drop, [`Access::ReadWrite`], no slot names.
    pub const fn new() -> Self {
        Options {
            stride: None,
            mode: 0o600,
            zero: false,
            unlink_on_drop: false,
            access: Access::ReadWrite,
            names: &[],
        }
    }
}

impl<'a> Options<'a> {
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
    /// `0o600`: the owner only), less the process umask. Only the
    /// permission bits `0o777` may be given: setuid, setgid and sticky bits
    /// are refused with [`Error::BadMode`] when the object is created.
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
    /// dropped, but only in the process that created it (a forked child
    /// dropping its copy never unlinks its parent's name) and only while
    /// the name still refers to the object this region created (see
    /// [`Region::unlink`]). Off by default.
    pub const fn unlink_on_drop(mut self, unlink: bool) -> Self {
        self.unlink_on_drop = unlink;
        self
    }

    /// Read-write (default) or read-only access when opening existing objects.
    pub const fn access(mut self, access: Access) -> Self {
        self.access = access;
        self
    }

    /// Names for the first slots of created regions, in slot order (`""`
    /// for a slot without a name): a `named_counters!` type's `MEMBERS`, or
    /// one name per shard. Headered objects (named, file, memfd) store them
    /// after their header, where [`Region::slot_names`], a
    /// [`RegionReader`](crate::RegionReader) and `raindrops counters` find
    /// them; other backings keep them in this process only. At most
    /// [`MAX_NAMES`](crate::MAX_NAMES) names of at most
    /// [`MAX_NAME_LEN`](crate::MAX_NAME_LEN) bytes, no more names than
    /// counters ([`LayoutError::Names`] otherwise).
    ///
    /// ```
    /// use raindrops_shm::Options;
    /// raindrops_core::named_counters! { struct Stats { calling, writing } }
    ///
    /// let region = Options::new().names(&Stats::MEMBERS).memfd("stats", Stats::LEN)?;
    /// let names: Vec<_> = region.slot_names().iter().collect();
    /// assert_eq!(names, [Some(&b"calling"[..]), Some(&b"writing"[..])]);
    /// # Ok::<(), raindrops_shm::Error>(())
    /// ```
    pub const fn names<'b>(self, names: &'b [&'b str]) -> Options<'b>
    where
        'a: 'b,
    {
        Options {
            stride: self.stride,
            mode: self.mode,
            zero: self.zero,
            unlink_on_drop: self.unlink_on_drop,
            access: self.access,
            names,
        }
    }

    fn stride_or(&self, default: usize) -> Result<usize, Error> {
        check_stride(self.stride.unwrap_or(default) as u64)
    }

    /// The name table for `len` new counters.
    fn name_table(&self, len: usize) -> Result<Option<NameTable>, Error> {
        if self.names.len() > len {
            return Err(Error::BadLayout(LayoutError::Names {
                index: self.names.len() as u64,
            }));
        }
        NameTable::encode(self.names)
    }

    /// `len` counters in anonymous shared memory (`MAP_SHARED |
    /// MAP_ANONYMOUS`), shared with every child forked afterwards; Ruby's
    /// `Raindrops.new(len)`.
    pub fn anonymous(&self, len: usize) -> Result<Region, Error> {
        let stride = self.stride_or(raindrops_core::CACHE_LINE)?;
        let names = self.name_table(len)?;
        let (bytes, capacity) = plan(0, len, stride)?;
        let map = Mapping::anonymous(bytes)?;
        let layout = Layout {
            backing: Backing::Anonymous,
            data_offset: 0,
            stride,
            len,
            capacity,
            names,
        };
        Ok(Region::assemble(
            map,
            layout,
            Parts::new(Access::ReadWrite, None).created(false),
        ))
    }

    /// Creates the POSIX shared memory object `name` (`"/name"` or
    /// `"name"`) with `O_CREAT | O_EXCL` and `len` counters, for unrelated
    /// processes to [`open_named`](Self::open_named). An existing name
    /// (even a dangling symlink) is [`Error::AlreadyExists`]; nothing is
    /// ever replaced.
    pub fn create_named(&self, name: &str, len: usize) -> Result<Region, Error> {
        let name = ShmName::new(name)?;
        let fd = object::create_shm(&name, self.mode)?;
        let id = object::Identity::of(&fd)?;
        match self.init_headered(fd, len, Backing::Named) {
            Ok(mut region) => {
                region.set_name(name.into_boxed_str());
                Ok(region)
            }
            Err(e) => {
                // The object is ours (O_EXCL): do not leave it half-made.
                let _ = object::unlink_shm_if(&name, id);
                Err(e)
            }
        }
    }

    /// Attaches to the POSIX shared memory object `name`, validating its
    /// header (see [`Error`] for what can be wrong) before mapping it.
    ///
    /// The name is opened in `/dev/shm` with `O_NOFOLLOW | O_NONBLOCK`: a
    /// symlink or a FIFO someone planted under the name is
    /// [`Error::NotRegularFile`], never followed or waited on.
    pub fn open_named(&self, name: &str) -> Result<Region, Error> {
        let name = ShmName::new(name)?;
        let fd = object::open_shm(&name, self.access)?;
        let mut region = self.attach_headered(fd, Backing::Named)?;
        region.set_name(name.into_boxed_str());
        Ok(region)
    }

    /// Creates the file `path` (`O_CREAT | O_EXCL`) in this crate's headered
    /// layout with `len` counters.
    pub fn create_file(&self, path: impl AsRef<Path>, len: usize) -> Result<Region, Error> {
        let path = path.as_ref();
        let fd = object::open_path(path, Access::ReadWrite, Create::Exclusive(self.mode))?;
        let id = object::Identity::of(&fd)?;
        match self.init_headered(fd, len, Backing::File) {
            Ok(mut region) => {
                region.set_path(path.to_path_buf());
                Ok(region)
            }
            Err(e) => {
                let _ = object::unlink_path_if(path, id);
                Err(e)
            }
        }
    }

    /// Opens the headered file `path`, validating its header before mapping.
    pub fn open_file(&self, path: impl AsRef<Path>) -> Result<Region, Error> {
        let path = path.as_ref();
        let fd = object::open_path(path, self.access, Create::No)?;
        let mut region = self.attach_headered(fd, Backing::File)?;
        region.set_path(path.to_path_buf());
        Ok(region)
    }

    /// A new memfd (`memfd_create(name)`) with `len` counters and a header,
    /// sealed against shrinking (`F_SEAL_SHRINK | F_SEAL_SEAL`), so that a
    /// process it is passed to ([`Region::fd`], then [`from_fd`](Self::from_fd)
    /// there) can never be made to fault by a truncation. It is inherited by
    /// forked children like anonymous memory, and unlike anonymous memory it
    /// grows past its capacity without breaking the sharing.
    pub fn memfd(&self, name: &str, len: usize) -> Result<Region, Error> {
        let fd = object::create_memfd(name)?;
        self.init_headered(fd, len, Backing::Memfd)
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
        region.set_path(path.to_path_buf());
        Ok(region)
    }

    /// [`ruby_file`](Self::ruby_file) for an open descriptor (Ruby's `io:`
    /// argument); the descriptor is kept and closed with the region.
    pub fn ruby_fd(&self, fd: OwnedFd, len: usize) -> Result<Region, Error> {
        let stride = self.stride_or(ruby_stride())?;
        let names = self.name_table(len)?;
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
        let layout = Layout {
            backing: Backing::RubyFile,
            data_offset: 0,
            stride,
            len,
            capacity,
            names,
        };
        let created = self.access == Access::ReadWrite;
        self.map_layout(fd, layout, created)
    }

    /// Opens an existing Ruby-layout file without resizing it: every whole
    /// slot of Ruby's stride (or [`stride`](Self::stride)) in the file is a
    /// counter, so [`len`](raindrops_core::CounterArray::len) is Ruby's
    /// `capa` (Ruby does not record its `size`).
    pub fn open_ruby_file(&self, path: impl AsRef<Path>) -> Result<Region, Error> {
        let path = path.as_ref();
        let fd = object::open_path(path, self.access, Create::No)?;
        let layout = layout::ruby(&fd, self.stride.unwrap_or_else(ruby_stride))?;
        let mut region = self.map_layout(fd, layout, false)?;
        region.set_path(path.to_path_buf());
        Ok(region)
    }

    /// Opens `shm:NAME` (see [`open_named`](Self::open_named)) or the file
    /// `path`: in this crate's headered layout if it starts with
    /// [`MAGIC`](crate::MAGIC), else in Ruby's layout
    /// ([`open_ruby_file`](Self::open_ruby_file)) if its size is a whole
    /// number of pages, as Ruby makes its files (anything else is
    /// [`Error::BadMagic`]).
    ///
    /// With [`Access::ReadOnly`] this never changes the object. To read an
    /// object that another process might shrink, prefer a
    /// [`RegionReader`](crate::RegionReader), which copies instead of
    /// mapping.
    pub fn open(&self, target: &str) -> Result<Region, Error> {
        if let Some(name) = target.strip_prefix("shm:") {
            return self.open_named(name);
        }
        let path = Path::new(target);
        let fd = object::open_path(path, self.access, Create::No)?;
        let layout = layout::detect(&fd, self.stride.unwrap_or_else(ruby_stride))?;
        let mut region = self.map_layout(fd, layout, false)?;
        region.set_path(path.to_path_buf());
        Ok(region)
    }

    /// Sizes a new object, writes its name table and header, and maps it.
    fn init_headered(&self, fd: OwnedFd, len: usize, backing: Backing) -> Result<Region, Error> {
        let stride = self.stride_or(raindrops_core::CACHE_LINE)?;
        let names = self.name_table(len)?;
        let names_len = names.as_ref().map_or(0, |n| n.bytes().len());
        let data_offset = data_offset_for(names_len);
        let (bytes, capacity) = plan(data_offset, len, stride)?;
        object::grow_to(&fd, bytes as u64)?;
        if backing == Backing::Memfd {
            object::seal_shrink(&fd)?;
        }
        if let Some(n) = &names {
            object::write_at(&fd, n.bytes(), HEADER_LEN as u64)?;
        }
        let layout = Layout {
            backing,
            data_offset,
            stride,
            len,
            capacity,
            names,
        };
        // The header goes in last, so a process attaching too early sees a
        // clear error (BadMagic or Truncated) rather than half a region.
        let map = Mapping::of_fd(fd.as_fd(), bytes, false)?;
        let header = RegionHeader::counters_at(
            data_offset,
            stride,
            len,
            layout.capacity,
            layout.names.as_ref(),
        );
        object::write_header(&fd, &header)?;
        // A memfd has no name to unlink.
        let unlink = self.unlink_on_drop && backing != Backing::Memfd;
        Ok(Region::assemble(
            map,
            layout,
            Parts::new(Access::ReadWrite, Some(fd)).created(unlink),
        ))
    }

    /// Validates the header and size of an existing object, then maps it.
    fn attach_headered(&self, fd: OwnedFd, backing: Backing) -> Result<Region, Error> {
        let layout = layout::headered(&fd, backing)?;
        self.map_layout(fd, layout, false)
    }

    /// Maps `layout` of `fd` with this access, zeroing when asked.
    fn map_layout(&self, fd: OwnedFd, layout: Layout, created: bool) -> Result<Region, Error> {
        let read_only = self.access == Access::ReadOnly;
        let map = Mapping::of_fd(fd.as_fd(), layout.object_len(), read_only)?;
        let mut parts = Parts::new(self.access, Some(fd));
        if created {
            parts = parts.created(self.unlink_on_drop);
        }
        let region = Region::assemble(map, layout, parts);
        if self.zero && !read_only {
            region.clear_capacity();
        }
        Ok(region)
    }
}

impl RegionHeader {
    /// The header of a counters object with this layout and name table.
    pub(crate) fn counters_at(
        data_offset: usize,
        stride: usize,
        len: usize,
        capacity: usize,
        names: Option<&NameTable>,
    ) -> RegionHeader {
        let mut h = RegionHeader::counters(stride, len, capacity);
        h.data_offset = data_offset as u64;
        if let Some(n) = names {
            // Bounded by MAX_NAMES * (1 + MAX_NAME_LEN) < 2^32.
            h.names_len = n.bytes().len() as u32;
            h.names_count = n.count() as u32;
        }
        h
    }
}
