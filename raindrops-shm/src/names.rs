//! The slot name table: names for the first slots of a headered region,
//! stored after the header so that tools (`raindrops counters`) can show
//! them.
//!
//! The table is `names count` entries, each a length byte followed by that
//! many bytes of name, and nothing else: its byte length is the sum of the
//! entries'. Entry `i` names slot `i`; an empty entry means "no name". The
//! header records the table's byte length and count
//! ([`RegionHeader`](crate::header::RegionHeader)), and
//! [`RegionHeader::validate`](crate::header::RegionHeader::validate) bounds
//! both before anything is read: at most [`MAX_NAMES`] names, each at most
//! [`MAX_NAME_LEN`] bytes, no more names than slots.
//!
//! Names are written from `&str`, so they are UTF-8, but a reader must not
//! trust that (any process with write access can change the bytes): show
//! them with [`raindrops_core::EscapedName`], which escapes anything that is
//! not printable UTF-8.

use crate::error::{Error, LayoutError};

/// The most names a table holds.
pub const MAX_NAMES: usize = 1 << 16;

/// The longest name in bytes.
pub const MAX_NAME_LEN: usize = 255;

/// A validated slot name table over borrowed bytes.
///
/// ```
/// use raindrops_shm::names::SlotNames;
///
/// let table = SlotNames::encode(&["calling", "", "writing"]).unwrap();
/// let names = SlotNames::parse(&table, 3).unwrap();
/// assert_eq!(names.get(0), Some(&b"calling"[..]));
/// assert_eq!(names.get(1), None); // no name
/// assert_eq!(names.len(), 3);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlotNames<'a> {
    bytes: &'a [u8],
    count: usize,
}

impl<'a> SlotNames<'a> {
    /// The table with no entries.
    pub const EMPTY: SlotNames<'static> = SlotNames {
        bytes: &[],
        count: 0,
    };

    /// Checks that `bytes` is exactly `count` entries (each a length byte
    /// and that many bytes) and wraps it. Never panics; a malformed table
    /// is [`LayoutError::Names`] with the index of the first bad entry.
    pub fn parse(bytes: &'a [u8], count: usize) -> Result<SlotNames<'a>, Error> {
        if count > MAX_NAMES {
            return Err(bad(count));
        }
        let mut at = 0usize;
        for i in 0..count {
            let len = usize::from(*bytes.get(at).ok_or(bad(i))?);
            at = at
                .checked_add(1 + len)
                .filter(|&end| end <= bytes.len())
                .ok_or(bad(i))?;
        }
        if at != bytes.len() {
            return Err(bad(count));
        }
        Ok(SlotNames { bytes, count })
    }

    /// The table for `names` (slot `i` gets `names[i]`; `""` for none).
    /// More than [`MAX_NAMES`] names or a name longer than
    /// [`MAX_NAME_LEN`] bytes is [`LayoutError::Names`].
    pub fn encode(names: &[&str]) -> Result<Vec<u8>, Error> {
        if names.len() > MAX_NAMES {
            return Err(bad(names.len()));
        }
        let mut out = Vec::with_capacity(names.iter().map(|n| 1 + n.len()).sum());
        for (i, n) in names.iter().enumerate() {
            let len = u8::try_from(n.len()).map_err(|_| bad(i))?;
            out.push(len);
            out.extend_from_slice(n.as_bytes());
        }
        Ok(out)
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The name of slot `index`, `None` past the table or for an empty
    /// entry. Linear in `index`; use [`iter`](Self::iter) to walk them.
    pub fn get(&self, index: usize) -> Option<&'a [u8]> {
        self.iter().nth(index).flatten()
    }

    /// Each entry in slot order (`None` for an empty one).
    pub fn iter(&self) -> impl Iterator<Item = Option<&'a [u8]>> + 'a {
        let mut rest = self.bytes;
        (0..self.count).map(move |_| {
            // `parse` checked every entry; an empty remainder cannot occur,
            // but ends the walk rather than panic.
            let (&len, tail) = rest.split_first()?;
            let (name, tail) = tail.split_at_checked(usize::from(len))?;
            rest = tail;
            Some(name).filter(|n| !n.is_empty())
        })
    }
}

fn bad(index: usize) -> Error {
    Error::BadLayout(LayoutError::Names {
        index: index as u64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn annotated_bytes() {
        let table = [
            3, b'o', b'n', b'e', // slot 0: "one"
            0,    // slot 1: no name
            2, b'\n', 0xff, // slot 2: bytes a reader must escape
        ];
        let names = SlotNames::parse(&table, 3).unwrap();
        let all: Vec<_> = names.iter().collect();
        assert_eq!(all, [Some(&b"one"[..]), None, Some(&b"\n\xff"[..])]);
        assert_eq!(names.get(2), Some(&b"\n\xff"[..]));
        assert_eq!(names.get(3), None);
        for (bytes, count, index) in [
            (&table[..7], 3, 2),      // last entry cut short
            (&table[..], 2, 2),       // bytes left over
            (&table[..], 4, 3),       // an entry missing
            (&[5u8, b'a'][..], 1, 0), // length past the end
        ] {
            assert_eq!(
                SlotNames::parse(bytes, count),
                Err(Error::BadLayout(LayoutError::Names { index })),
                "{bytes:?} {count}"
            );
        }
        assert!(SlotNames::parse(&[], 0).unwrap().is_empty());
        assert!(SlotNames::parse(&[], MAX_NAMES + 1).is_err());
    }

    #[test]
    fn encode_limits() {
        let long = "x".repeat(MAX_NAME_LEN);
        assert!(SlotNames::encode(&[long.as_str()]).is_ok());
        let longer = "x".repeat(MAX_NAME_LEN + 1);
        assert_eq!(SlotNames::encode(&["a", longer.as_str()]), Err(bad(1)));
        let many = vec![""; MAX_NAMES + 1];
        assert_eq!(SlotNames::encode(&many), Err(bad(MAX_NAMES + 1)));
    }

    proptest! {
        #[test]
        fn encode_then_parse_roundtrips(names in proptest::collection::vec("[a-z\\[\\]0-9\u{e9}]{0,20}", 0..40)) {
            let refs: Vec<&str> = names.iter().map(String::as_str).collect();
            let table = SlotNames::encode(&refs).unwrap();
            let parsed = SlotNames::parse(&table, refs.len()).unwrap();
            let back: Vec<&[u8]> = parsed.iter().map(|n| n.unwrap_or_default()).collect();
            let want: Vec<&[u8]> = refs.iter().map(|n| n.as_bytes()).collect();
            prop_assert_eq!(back, want);
        }

        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300), count in 0usize..40) {
            if let Ok(names) = SlotNames::parse(&bytes, count) {
                prop_assert_eq!(names.iter().count(), count);
            }
        }
    }
}
