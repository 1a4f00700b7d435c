//! The self-describing header of named shared memory objects, headered
//! files and memfds.
//!
//! Every object this crate creates (except anonymous memory and the
//! Ruby-compatible file layout, which are raw slots) starts with a
//! [`HEADER_LEN`]-byte header, in the machine's byte order:
//!
//! | bytes | field | value |
//! |---|---|---|
//! | 0..8 | magic | [`MAGIC`], `b"RAINDRPS"` |
//! | 8..12 | layout version | [`VERSION`] (`u32`) |
//! | 12..16 | byte-order mark | `0x01020304` (`u32`), reads `0x04030201` on a machine of the other order |
//! | 16..20 | kind | 1 = counters, 2 = an [`AtomicAggregate`](raindrops_core::AtomicAggregate) (`u32`) |
//! | 20..24 | word size | bytes per counter word, `size_of::<usize>()` (`u32`) |
//! | 24..32 | data offset | byte offset of the first slot, [`DATA_OFFSET`] when written here (`u64`) |
//! | 32..40 | stride | bytes from one slot to the next (`u64`) |
//! | 40..48 | len | counters in use, Ruby's `size` (`u64`) |
//! | 48..56 | capacity | slots the object holds, Ruby's `capa` (`u64`) |
//! | 56..60 | names length | bytes of the slot name table, 0 for none (`u32`) |
//! | 60..64 | names count | names in the table, 0 for none (`u32`) |
//!
//! The slot name table, when present, follows the header at byte
//! [`HEADER_LEN`] and ends before the data offset (see [`crate::names`] for
//! its format and limits). Objects written before the table existed have
//! zeros there (the bytes were reserved), so they read as having no names,
//! and readers that predate it skip it, since they find the slots at the data
//! offset.
//!
//! The object is at least `data offset + capacity * stride` bytes long;
//! [`RegionHeader::parse`] checks every field, and the openers check the object's
//! size against [`RegionHeader::object_len`] before mapping anything.

use crate::error::{Error, LayoutError};

/// The first eight bytes of every headered object.
pub const MAGIC: &[u8; 8] = b"RAINDRPS";

/// The layout version this crate reads and writes. A change of the header
/// or slot layout that older readers would misread gets a new version.
pub const VERSION: u32 = 1;

/// The length of the header in bytes.
pub const HEADER_LEN: usize = 64;

/// The offset of the first slot in objects written by this crate: the header
/// rounded up to a [`CACHE_LINE`](raindrops_core::CACHE_LINE), so that slots
/// of that stride are [`PaddedSlot`](raindrops_core::PaddedSlot)-aligned.
pub const DATA_OFFSET: usize = HEADER_LEN.next_multiple_of(raindrops_core::CACHE_LINE);

/// The largest slot stride accepted, in bytes.
pub const MAX_STRIDE: usize = 1 << 16;

const BYTE_ORDER_MARK: u32 = 0x0102_0304;

/// Byte ranges of the header fields.
mod field {
    pub(super) type Field = core::ops::Range<usize>;
    pub(super) const MAGIC: Field = 0..8;
    pub(super) const VERSION: Field = 8..12;
    pub(super) const BYTE_ORDER: Field = 12..16;
    pub(super) const KIND: Field = 16..20;
    pub(super) const WORD: Field = 20..24;
    pub(super) const DATA_OFFSET: Field = 24..32;
    pub(super) const STRIDE: Field = 32..40;
    pub(super) const LEN: Field = 40..48;
    pub(super) const CAPACITY: Field = 48..56;
    pub(super) const NAMES_LEN: Field = 56..60;
    pub(super) const NAMES_COUNT: Field = 60..64;
}

/// What a headered object holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Counter slots (a [`Region`](crate::Region)).
    Counters,
    /// One [`AtomicAggregate`](raindrops_core::AtomicAggregate) (a
    /// `SharedAggregate`).
    Aggregate,
    /// A kind this build does not know, kept as found.
    Unknown(u32),
}

impl Kind {
    /// The number stored in the header.
    pub const fn to_raw(self) -> u32 {
        match self {
            Kind::Counters => 1,
            Kind::Aggregate => 2,
            Kind::Unknown(n) => n,
        }
    }

    /// The kind stored as `raw`.
    pub const fn from_raw(raw: u32) -> Kind {
        match raw {
            1 => Kind::Counters,
            2 => Kind::Aggregate,
            n => Kind::Unknown(n),
        }
    }
}

/// The validated contents of a header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RegionHeader {
    /// What the object holds.
    pub kind: Kind,
    /// Byte offset of the first slot.
    pub data_offset: u64,
    /// Bytes from one slot to the next.
    pub stride: u64,
    /// Slots in use (Ruby's `size`).
    pub len: u64,
    /// Slots the object holds (Ruby's `capa`).
    pub capacity: u64,
    /// Bytes of the slot name table after the header (0: no names).
    pub names_len: u32,
    /// Names in the slot name table (0: no names).
    pub names_count: u32,
}

fn u32_at(bytes: &[u8; HEADER_LEN], f: field::Field) -> u32 {
    let mut w = [0u8; 4];
    w.copy_from_slice(&bytes[f]);
    u32::from_ne_bytes(w)
}

fn u64_at(bytes: &[u8; HEADER_LEN], f: field::Field) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&bytes[f]);
    u64::from_ne_bytes(w)
}

impl RegionHeader {
    /// A header for `capacity` counter slots of `stride` bytes, `len` in use,
    /// at [`DATA_OFFSET`].
    pub const fn counters(stride: usize, len: usize, capacity: usize) -> RegionHeader {
        RegionHeader {
            kind: Kind::Counters,
            data_offset: DATA_OFFSET as u64,
            stride: stride as u64,
            len: len as u64,
            capacity: capacity as u64,
            names_len: 0,
            names_count: 0,
        }
    }

    /// Parses and validates the header at the start of `bytes`.
    ///
    /// Never panics. Checks, in this order: length ([`Error::Truncated`]),
    /// magic ([`Error::BadMagic`]), byte order, version
    /// ([`Error::UnsupportedVersion`]), then word size, stride, counts,
    /// data offset and total size ([`Error::BadLayout`]). An unknown kind is
    /// kept as [`Kind::Unknown`]; the caller decides.
    pub fn parse(bytes: &[u8]) -> Result<RegionHeader, Error> {
        let Some(b) = bytes.first_chunk::<HEADER_LEN>() else {
            return Err(Error::Truncated {
                needed: HEADER_LEN as u64,
                len: bytes.len() as u64,
            });
        };
        let mut magic = [0u8; 8];
        magic.copy_from_slice(&b[field::MAGIC]);
        if &magic != MAGIC {
            return Err(Error::BadMagic { found: magic });
        }
        if u32_at(b, field::BYTE_ORDER) != BYTE_ORDER_MARK {
            return Err(Error::BadLayout(LayoutError::ByteOrder));
        }
        let version = u32_at(b, field::VERSION);
        if version != VERSION {
            return Err(Error::UnsupportedVersion {
                found: version,
                supported: VERSION,
            });
        }
        let word = u32_at(b, field::WORD);
        if word as usize != raindrops_core::WORD {
            return Err(Error::BadLayout(LayoutError::WordSize { found: word }));
        }
        let h = RegionHeader {
            kind: Kind::from_raw(u32_at(b, field::KIND)),
            data_offset: u64_at(b, field::DATA_OFFSET),
            stride: u64_at(b, field::STRIDE),
            len: u64_at(b, field::LEN),
            capacity: u64_at(b, field::CAPACITY),
            names_len: u32_at(b, field::NAMES_LEN),
            names_count: u32_at(b, field::NAMES_COUNT),
        };
        h.validate()?;
        Ok(h)
    }

    /// Checks the fields for consistency, as [`parse`](Self::parse) does.
    pub fn validate(&self) -> Result<(), Error> {
        check_stride(self.stride)?;
        if self.capacity == 0 || self.len > self.capacity {
            return Err(Error::BadLayout(LayoutError::Count {
                len: self.len,
                capacity: self.capacity,
            }));
        }
        let word = raindrops_core::WORD as u64;
        if self.data_offset < HEADER_LEN as u64 || self.data_offset % word != 0 {
            return Err(Error::BadLayout(LayoutError::DataOffset {
                offset: self.data_offset,
            }));
        }
        self.checked_object_len()
            .ok_or(Error::BadLayout(LayoutError::TooLarge))?;
        // The name table: both fields zero, or a count within the slots and
        // the limits, in bytes that fit between header and data.
        let names_bad = Error::BadLayout(LayoutError::Names {
            index: u64::from(self.names_count),
        });
        match (self.names_len, self.names_count) {
            (0, 0) => {}
            (0, _) | (_, 0) => return Err(names_bad),
            (len, count) => {
                let count = u64::from(count);
                let len = u64::from(len);
                if count > self.capacity
                    || count > crate::names::MAX_NAMES as u64
                    || len > count * (1 + crate::names::MAX_NAME_LEN as u64)
                    || len < count
                    || HEADER_LEN as u64 + len > self.data_offset
                {
                    return Err(names_bad);
                }
            }
        }
        Ok(())
    }

    fn checked_object_len(&self) -> Option<u64> {
        let len = self
            .capacity
            .checked_mul(self.stride)?
            .checked_add(self.data_offset)?;
        // Must be mappable: fit in isize on this machine.
        (len <= isize::MAX as u64).then_some(len)
    }

    /// The bytes the object must have: `data_offset + capacity * stride`
    /// (saturating; a validated header never saturates).
    pub fn object_len(&self) -> u64 {
        self.checked_object_len().unwrap_or(u64::MAX)
    }

    /// Writes the header into `out`, in this machine's byte order.
    pub fn emit(&self, out: &mut [u8; HEADER_LEN]) {
        out[field::MAGIC].copy_from_slice(MAGIC);
        out[field::VERSION].copy_from_slice(&VERSION.to_ne_bytes());
        out[field::BYTE_ORDER].copy_from_slice(&BYTE_ORDER_MARK.to_ne_bytes());
        out[field::KIND].copy_from_slice(&self.kind.to_raw().to_ne_bytes());
        out[field::WORD].copy_from_slice(&(raindrops_core::WORD as u32).to_ne_bytes());
        out[field::DATA_OFFSET].copy_from_slice(&self.data_offset.to_ne_bytes());
        out[field::STRIDE].copy_from_slice(&self.stride.to_ne_bytes());
        out[field::LEN].copy_from_slice(&self.len.to_ne_bytes());
        out[field::CAPACITY].copy_from_slice(&self.capacity.to_ne_bytes());
        out[field::NAMES_LEN].copy_from_slice(&self.names_len.to_ne_bytes());
        out[field::NAMES_COUNT].copy_from_slice(&self.names_count.to_ne_bytes());
    }

    /// The header as bytes (see [`emit`](Self::emit)).
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        self.emit(&mut out);
        out
    }
}

/// Checks a slot stride: a multiple of the word size, from one word up to
/// [`MAX_STRIDE`].
pub(crate) fn check_stride(stride: u64) -> Result<usize, Error> {
    let word = raindrops_core::WORD as u64;
    if stride < word || stride % word != 0 || stride > MAX_STRIDE as u64 {
        return Err(Error::BadLayout(LayoutError::Stride { stride }));
    }
    Ok(stride as usize)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A header as written on x86_64 for 3 counters of 128 bytes.
    #[cfg(all(target_arch = "x86_64", target_endian = "little"))]
    const X86_64_COUNTERS: [u8; HEADER_LEN] = [
        b'R', b'A', b'I', b'N', b'D', b'R', b'P', b'S', // magic
        1, 0, 0, 0, // version 1
        4, 3, 2, 1, // byte-order mark 0x01020304, little-endian
        1, 0, 0, 0, // kind 1 = counters
        8, 0, 0, 0, // 8-byte words
        128, 0, 0, 0, 0, 0, 0, 0, // data offset 128
        128, 0, 0, 0, 0, 0, 0, 0, // stride 128
        3, 0, 0, 0, 0, 0, 0, 0, // len 3
        31, 0, 0, 0, 0, 0, 0, 0, // capacity 31
        0, 0, 0, 0, // no name table
        0, 0, 0, 0, // no names
    ];

    #[test]
    #[cfg(all(target_arch = "x86_64", target_endian = "little"))]
    fn annotated_bytes() {
        let h = RegionHeader::counters(128, 3, 31);
        assert_eq!(h.to_bytes(), X86_64_COUNTERS);
        assert_eq!(RegionHeader::parse(&X86_64_COUNTERS), Ok(h));
        assert_eq!(h.object_len(), 128 + 31 * 128);
        assert_eq!(DATA_OFFSET, 128);
    }

    fn valid() -> [u8; HEADER_LEN] {
        RegionHeader::counters(raindrops_core::CACHE_LINE, 2, 5).to_bytes()
    }

    #[test]
    fn each_check_has_its_error() {
        assert_eq!(
            RegionHeader::parse(&valid()[..63]),
            Err(Error::Truncated {
                needed: 64,
                len: 63
            })
        );
        let mut b = valid();
        b[0] = b'r';
        assert!(
            matches!(RegionHeader::parse(&b), Err(Error::BadMagic { found }) if found[0] == b'r')
        );
        let mut b = valid();
        b[12..16].copy_from_slice(&BYTE_ORDER_MARK.swap_bytes().to_ne_bytes());
        assert_eq!(
            RegionHeader::parse(&b),
            Err(Error::BadLayout(LayoutError::ByteOrder))
        );
        let mut b = valid();
        b[8..12].copy_from_slice(&2u32.to_ne_bytes());
        assert_eq!(
            RegionHeader::parse(&b),
            Err(Error::UnsupportedVersion {
                found: 2,
                supported: 1
            })
        );
        let mut b = valid();
        b[20..24].copy_from_slice(&4u32.to_ne_bytes());
        assert_eq!(
            RegionHeader::parse(&b),
            Err(Error::BadLayout(LayoutError::WordSize { found: 4 }))
        );
        for stride in [0u64, 4, 12, (MAX_STRIDE + 8) as u64, u64::MAX] {
            let mut b = valid();
            b[32..40].copy_from_slice(&stride.to_ne_bytes());
            assert_eq!(
                RegionHeader::parse(&b),
                Err(Error::BadLayout(LayoutError::Stride { stride }))
            );
        }
        let mut b = valid();
        b[40..48].copy_from_slice(&6u64.to_ne_bytes());
        assert_eq!(
            RegionHeader::parse(&b),
            Err(Error::BadLayout(LayoutError::Count {
                len: 6,
                capacity: 5
            }))
        );
        let mut b = valid();
        b[48..56].copy_from_slice(&0u64.to_ne_bytes());
        b[40..48].copy_from_slice(&0u64.to_ne_bytes());
        assert!(matches!(
            RegionHeader::parse(&b),
            Err(Error::BadLayout(LayoutError::Count { capacity: 0, .. }))
        ));
        for offset in [0u64, 8, 63, 129] {
            let mut b = valid();
            b[24..32].copy_from_slice(&offset.to_ne_bytes());
            assert_eq!(
                RegionHeader::parse(&b),
                Err(Error::BadLayout(LayoutError::DataOffset { offset }))
            );
        }
        let mut b = valid();
        b[48..56].copy_from_slice(&(u64::MAX / 64).to_ne_bytes());
        assert_eq!(
            RegionHeader::parse(&b),
            Err(Error::BadLayout(LayoutError::TooLarge))
        );
        let mut b = valid();
        b[16..20].copy_from_slice(&9u32.to_ne_bytes());
        assert_eq!(
            RegionHeader::parse(&b).map(|h| h.kind),
            Ok(Kind::Unknown(9))
        );
        // Longer input is fine.
        let mut long = [0xaau8; 100];
        long[..64].copy_from_slice(&valid());
        assert!(RegionHeader::parse(&long).is_ok());
        // A name table: both fields or neither, within the slots and
        // between header and data.
        let with_names = |len: u32, count: u32, offset: u64| {
            let mut h = RegionHeader::counters(raindrops_core::CACHE_LINE, 2, 5);
            h.names_len = len;
            h.names_count = count;
            h.data_offset = offset;
            RegionHeader::parse(&h.to_bytes())
        };
        assert!(with_names(10, 2, 128).is_ok());
        assert!(with_names(64, 5, 128).is_ok());
        for (len, count, offset) in [
            (0, 1, 128),
            (1, 0, 128),
            (65, 5, 128),
            (10, 6, 256),
            (1, 2, 128),
            (600, 2, 1024),
        ] {
            assert!(
                matches!(
                    with_names(len, count, offset),
                    Err(Error::BadLayout(LayoutError::Names { .. }))
                ),
                "{len} {count} {offset}"
            );
        }
    }

    fn arb_header() -> impl Strategy<Value = RegionHeader> {
        (
            0u32..4,
            1usize..=MAX_STRIDE / raindrops_core::WORD,
            0u64..1 << 20,
            1u64..1 << 20,
            (HEADER_LEN as u64 / 8)..1 << 12,
        )
            .prop_map(|(kind, words, len, extra, off)| RegionHeader {
                kind: Kind::from_raw(kind),
                data_offset: off * 8,
                stride: (words * raindrops_core::WORD) as u64,
                len,
                capacity: len + extra,
                names_len: 0,
                names_count: 0,
            })
    }

    proptest! {
        #[test]
        fn emit_then_parse_roundtrips(h in arb_header()) {
            let bytes = h.to_bytes();
            prop_assert_eq!(RegionHeader::parse(&bytes), Ok(h));
            prop_assert!(h.object_len() >= h.data_offset + h.capacity * h.stride);
        }

        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..100)) {
            let _ = RegionHeader::parse(&bytes);
        }

        #[test]
        fn mutated_headers_parse_or_err(h in arb_header(), at in 0usize..HEADER_LEN, v in any::<u8>()) {
            let mut bytes = h.to_bytes();
            bytes[at] = v;
            if let Ok(p) = RegionHeader::parse(&bytes) {
                // Whatever parses describes a mappable object and re-emits the same bytes
                // (reserved bytes aside).
                prop_assert!(p.validate().is_ok());
                prop_assert!(p.object_len() <= isize::MAX as u64);
                let again = p.to_bytes();
                prop_assert_eq!(&again[..], &bytes[..]);
            }
        }
    }
}
