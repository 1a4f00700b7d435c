//! [`RegionReader`]: the counters of a region copied with `pread`, for
//! tools that inspect objects they do not control.

use std::path::Path;

use rustix::fd::{AsFd, OwnedFd};

use crate::error::Error;
use crate::layout::{self, Layout, NameTable};
use crate::machine::ruby_stride;
use crate::names::SlotNames;
use crate::object::{self, Access, Create, ShmName};
use crate::region::Backing;

/// Reads the counters of a region by copying them (`pread`), never
/// mapping them: the inspecting side of `raindrops counters`.
///
/// A mapped region ([`Region`](crate::Region)) raises `SIGBUS` when another
/// process shrinks the object under it, and touching the holes of a sparse
/// object makes the kernel allocate memory for them. A reader has neither
/// problem: a shrink shows as [`Error::Truncated`] from
/// [`read`](Self::read), holes are skipped without reading
/// (`lseek(SEEK_DATA)`) and read as zero, and the work and memory of a read
/// are proportional to the counters asked for, whatever the header claims.
/// It opens objects read-only and never changes them.
///
/// The values are a copy, not live: read again for new values. A counter
/// updated during the copy is read whole on the machines this runs on
/// (aligned words), but the counters of one read are not one atomic
/// snapshot (no reader of shared counters has that).
///
/// ```
/// use raindrops_core::CounterArray;
/// use raindrops_shm::{Options, RegionReader};
///
/// let region = Options::new().names(&["calling", "writing"]).memfd("doc", 2)?;
/// region.set(1, 7)?;
/// let path = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&region.fd().unwrap()));
/// let reader = RegionReader::open(&path)?;
/// let mut values = [0; 2];
/// assert_eq!(reader.read(0, &mut values)?, 2);
/// assert_eq!(values, [0, 7]);
/// assert_eq!(reader.slot_names().get(1), Some(&b"writing"[..]));
/// # Ok::<(), raindrops_shm::Error>(())
/// ```
#[derive(Debug)]
pub struct RegionReader {
    fd: OwnedFd,
    layout: Layout,
}

/// Bytes read with one `pread`: a bound on the buffer a read needs.
const CHUNK: usize = 64 * 1024;

impl RegionReader {
    /// Opens `shm:NAME` (a POSIX shared memory object, never following a
    /// symlink or waiting on a FIFO) or the file `path`, read-only, and
    /// finds its layout as [`Options::open`](crate::Options::open) does:
    /// this crate's header (validated, with its slot name table), or Ruby's
    /// layout for files of whole pages.
    pub fn open(target: &str) -> Result<RegionReader, Error> {
        if let Some(name) = target.strip_prefix("shm:") {
            let fd = object::open_shm(&ShmName::new(name)?, Access::ReadOnly)?;
            let layout = layout::headered(&fd, Backing::Named)?;
            return Ok(RegionReader { fd, layout });
        }
        let fd = object::open_path(Path::new(target), Access::ReadOnly, Create::No)?;
        let layout = layout::detect(&fd, ruby_stride())?;
        Ok(RegionReader { fd, layout })
    }

    /// A reader of the headered object `fd` (a memfd, shm object or file
    /// someone passed).
    pub fn from_fd(fd: OwnedFd) -> Result<RegionReader, Error> {
        let layout = layout::headered(&fd, Backing::Fd)?;
        Ok(RegionReader { fd, layout })
    }

    /// The number of counters in use, as the object says (Ruby's `size`).
    pub fn len(&self) -> usize {
        self.layout.len
    }

    /// Whether the region has no counters in use.
    pub fn is_empty(&self) -> bool {
        self.layout.len == 0
    }

    /// Bytes from one counter to the next.
    pub fn stride(&self) -> usize {
        self.layout.stride
    }

    /// The number of slots the object holds (Ruby's `capa`).
    pub fn capacity(&self) -> usize {
        self.layout.capacity
    }

    /// What kind of object this is ([`Backing::Named`], [`Backing::File`],
    /// [`Backing::RubyFile`] or [`Backing::Fd`]).
    pub fn backing(&self) -> Backing {
        self.layout.backing
    }

    /// The slot names stored in the object's header (empty when none).
    /// Outside bytes: show them with
    /// [`EscapedName`](raindrops_core::EscapedName).
    pub fn slot_names(&self) -> SlotNames<'_> {
        self.layout
            .names
            .as_ref()
            .map_or(SlotNames::EMPTY, NameTable::view)
    }

    /// Copies counters `start..` into `out`, as many as fit and exist;
    /// returns how many. Holes of a sparse object read as zero without
    /// being read. The object ending before the counters the header
    /// promised (it shrank) is [`Error::Truncated`].
    pub fn read(&self, start: usize, out: &mut [usize]) -> Result<usize, Error> {
        let n = out.len().min(self.layout.len.saturating_sub(start));
        let stride = self.layout.stride;
        let per_chunk = (CHUNK / stride).max(1);
        let mut buf = vec![0u8; per_chunk.min(n.max(1)) * stride];
        let mut next_data: Option<Option<u64>> = None;
        let mut done = 0;
        while done < n {
            let count = per_chunk.min(n - done);
            let first = (start + done) as u64;
            let at = self.layout.data_offset as u64 + first * stride as u64;
            // The last counter needs only its word, not its whole slot.
            let len = (count - 1) * stride + raindrops_core::WORD;
            let chunk = &mut out[done..done + count];
            // Where the next data is, asked again only once passed.
            let data = match next_data {
                Some(d) if d.is_none_or(|d| d >= at) => d,
                _ => {
                    let d = object::next_data(&self.fd, at)?;
                    next_data = Some(d);
                    d
                }
            };
            if data.is_none_or(|d| d >= at + len as u64) {
                // A hole: zeros, if the object still reaches that far.
                let size = object::size_of_regular(&self.fd)?;
                if size < at + len as u64 {
                    return Err(Error::Truncated {
                        needed: at + len as u64,
                        len: size,
                    });
                }
                chunk.fill(0);
            } else {
                let bytes = &mut buf[..len];
                object::read_exact_at(&self.fd, bytes, at)?;
                for (i, v) in chunk.iter_mut().enumerate() {
                    let mut w = [0u8; raindrops_core::WORD];
                    w.copy_from_slice(&bytes[i * stride..i * stride + raindrops_core::WORD]);
                    *v = usize::from_ne_bytes(w);
                }
            }
            done += count;
        }
        Ok(n)
    }

    /// The descriptor of the object.
    pub fn fd(&self) -> rustix::fd::BorrowedFd<'_> {
        self.fd.as_fd()
    }
}
