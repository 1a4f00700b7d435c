//! Where the slots of a region lie: planning a new object (page-rounded
//! sizes, Ruby's capacity) and finding the layout of an existing one from
//! its header or, for Ruby's files, its size. Nothing is mapped here.

use rustix::fd::AsFd;

use crate::error::{Error, LayoutError};
use crate::header::{HEADER_LEN, Kind, MAGIC, check_stride};
use crate::machine::page_size;
use crate::names::SlotNames;
use crate::object;
use crate::region::Backing;

/// How many slots of `stride` bytes fit when `len` of them, after
/// `data_offset` bytes, are rounded up to whole pages (Ruby's
/// `capa = page_align(size * slot) / slot`); gives `(bytes, capacity)`.
pub(crate) fn plan(data_offset: usize, len: usize, stride: usize) -> Result<(usize, usize), Error> {
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

/// The data offset of a new headered object whose slot name table has
/// `names_len` bytes: past header and table, rounded up to a
/// [`CACHE_LINE`](raindrops_core::CACHE_LINE) so that slots of that stride
/// are [`PaddedSlot`](raindrops_core::PaddedSlot)-aligned.
pub(crate) fn data_offset_for(names_len: usize) -> usize {
    (HEADER_LEN + names_len).next_multiple_of(raindrops_core::CACHE_LINE)
}

/// A slot name table read from an object (or given at creation).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct NameTable {
    bytes: Box<[u8]>,
    count: usize,
}

impl NameTable {
    /// The table for `names`; `None` when there are none.
    pub(crate) fn encode(names: &[&str]) -> Result<Option<NameTable>, Error> {
        if names.is_empty() {
            return Ok(None);
        }
        Ok(Some(NameTable {
            bytes: SlotNames::encode(names)?.into_boxed_slice(),
            count: names.len(),
        }))
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub(crate) fn count(&self) -> usize {
        self.count
    }

    pub(crate) fn view(&self) -> SlotNames<'_> {
        // Checked when made (encode or read); an inconsistency shows as no
        // names rather than a panic.
        SlotNames::parse(&self.bytes, self.count).unwrap_or(SlotNames::EMPTY)
    }
}

/// The layout of an existing object, validated against its size.
#[derive(Debug)]
pub(crate) struct Layout {
    pub(crate) backing: Backing,
    pub(crate) data_offset: usize,
    pub(crate) stride: usize,
    pub(crate) len: usize,
    pub(crate) capacity: usize,
    pub(crate) names: Option<NameTable>,
}

impl Layout {
    /// The bytes from the start of the object to the end of the last slot.
    pub(crate) fn object_len(&self) -> usize {
        // Checked when the layout was found: fits in isize.
        self.data_offset + self.capacity * self.stride
    }
}

fn conv(v: u64) -> Result<usize, Error> {
    usize::try_from(v).map_err(|_| Error::BadLayout(LayoutError::TooLarge))
}

/// Reads and validates the header (and slot name table) of the counters
/// object `fd`, and checks its size.
pub(crate) fn headered(fd: impl AsFd, backing: Backing) -> Result<Layout, Error> {
    let fd = fd.as_fd();
    let size = object::size_of_regular(fd)?;
    let h = object::read_header(fd, size)?;
    if h.kind != Kind::Counters {
        return Err(Error::BadLayout(LayoutError::Kind {
            found: h.kind.to_raw(),
        }));
    }
    let names = match h.names_count {
        0 => None,
        count => {
            // Bounded by the header's validation (at most 64 KiB names of
            // 256 bytes, inside the object's first data_offset bytes).
            let mut bytes = vec![0u8; h.names_len as usize];
            object::read_exact_at(fd, &mut bytes, HEADER_LEN as u64)?;
            let count = count as usize;
            SlotNames::parse(&bytes, count)?;
            Some(NameTable {
                bytes: bytes.into_boxed_slice(),
                count,
            })
        }
    };
    // A validated header fits in isize, so these conversions hold.
    Ok(Layout {
        backing,
        data_offset: conv(h.data_offset)?,
        stride: conv(h.stride)?,
        len: conv(h.len)?,
        capacity: conv(h.capacity)?,
        names,
    })
}

/// The layout of a Ruby file: every whole slot of `stride` bytes is a
/// counter (Ruby does not record its `size`).
pub(crate) fn ruby(fd: impl AsFd, stride: usize) -> Result<Layout, Error> {
    let stride = check_stride(stride as u64)?;
    let size = object::size_of_regular(fd)?;
    let len = conv(size / stride as u64)?;
    if len == 0 {
        return Err(Error::Truncated {
            needed: stride as u64,
            len: size,
        });
    }
    if len
        .checked_mul(stride)
        .is_none_or(|b| b > isize::MAX as usize)
    {
        return Err(Error::BadLayout(LayoutError::TooLarge));
    }
    Ok(Layout {
        backing: Backing::RubyFile,
        data_offset: 0,
        stride,
        len,
        capacity: len,
        names: None,
    })
}

/// Our headered layout if the object starts with [`MAGIC`], else Ruby's
/// if its size is a whole number of pages, as Ruby makes its files;
/// anything else is [`Error::BadMagic`] (a typo'd path, a log file).
pub(crate) fn detect(fd: impl AsFd, ruby_stride: usize) -> Result<Layout, Error> {
    let fd = fd.as_fd();
    let size = object::size_of_regular(fd)?;
    let mut magic = [0u8; 8];
    let got = object::read_prefix(fd, &mut magic)?;
    if got == magic.len() && &magic == MAGIC {
        return headered(fd, Backing::File);
    }
    if size == 0 || size % page_size() as u64 != 0 {
        return Err(Error::BadMagic { found: magic });
    }
    ruby(fd, ruby_stride)
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
    fn data_offsets() {
        assert_eq!(data_offset_for(0), crate::header::DATA_OFFSET);
        for n in [1, 63, 64, 65, 1000, 70_000] {
            let off = data_offset_for(n);
            assert!(off >= HEADER_LEN + n && off < HEADER_LEN + n + raindrops_core::CACHE_LINE);
            assert_eq!(off % raindrops_core::CACHE_LINE, 0);
        }
    }
}
