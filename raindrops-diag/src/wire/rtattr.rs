//! Netlink attributes (`struct rtattr` / `struct nlattr`): a 4-byte header
//! with length and type, a payload, padding to 4 bytes; nested attributes
//! hold further attributes in their payload.

use super::{Field, WireError, align4, ne_u16, put};

mod field {
    use super::Field;
    pub(crate) const LENGTH: Field = 0..2;
    pub(crate) const TYPE: Field = 2..4;
}

/// Length of the attribute header (`RTA_LENGTH(0)`), in bytes.
pub const HEADER_LEN: usize = 4;
/// `NLA_F_NESTED`: the payload holds attributes.
pub const F_NESTED: u16 = 0x8000;
/// `NLA_F_NET_BYTEORDER`: the payload is big-endian.
pub const F_NET_BYTEORDER: u16 = 0x4000;

/// A view of one attribute.
///
/// [`RtAttr::new_checked`] makes sure that the header fits and that the
/// length field covers the header and stays inside the buffer; accessors of
/// a checked view never panic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RtAttr<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> RtAttr<T> {
    /// Wraps `buffer` without checking; accessors may panic on a short one.
    pub const fn new_unchecked(buffer: T) -> Self {
        RtAttr { buffer }
    }

    /// Wraps `buffer` after checking the header and the length field.
    ///
    /// # Errors
    ///
    /// [`WireError::Truncated`] if the header does not fit,
    /// [`WireError::BadLength`] if the length is below 4 or past the end.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let b = buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(WireError::Truncated { offset: 0 });
        }
        let len = usize::from(ne_u16(b, field::LENGTH));
        if len < HEADER_LEN || len > b.len() {
            return Err(WireError::BadLength { offset: 0 });
        }
        Ok(RtAttr { buffer })
    }

    /// The length field: header plus payload, without padding.
    #[inline]
    pub fn len(&self) -> u16 {
        ne_u16(self.buffer.as_ref(), field::LENGTH)
    }

    /// Whether the payload is empty.
    pub fn is_empty(&self) -> bool {
        usize::from(self.len()) <= HEADER_LEN
    }

    /// The raw type field, flags included.
    #[inline]
    pub fn raw_kind(&self) -> u16 {
        ne_u16(self.buffer.as_ref(), field::TYPE)
    }

    /// The attribute type without the `NLA_F_NESTED` and
    /// `NLA_F_NET_BYTEORDER` flags.
    #[inline]
    pub fn kind(&self) -> u16 {
        self.raw_kind() & !(F_NESTED | F_NET_BYTEORDER)
    }

    /// Whether `NLA_F_NESTED` is set.
    pub fn is_nested(&self) -> bool {
        self.raw_kind() & F_NESTED != 0
    }

    /// The payload (after the header, up to the length field).
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..usize::from(self.len())]
    }

    /// The attributes nested in the payload.
    pub fn nested(&self) -> RtAttrs<'_> {
        RtAttrs::new(self.payload())
    }
}

impl<'a> RtAttr<&'a [u8]> {
    /// The payload, borrowed for as long as the underlying bytes.
    #[inline]
    pub fn into_payload(self) -> &'a [u8] {
        let len = usize::from(self.len());
        &self.buffer[HEADER_LEN..len]
    }
}

/// The representation of an attribute header, for building requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RtAttrHeader {
    /// The type field, flags included.
    pub kind: u16,
    /// The payload length in bytes (without header and padding).
    pub payload_len: usize,
}

impl RtAttrHeader {
    /// Reads the header of a checked attribute.
    pub fn parse<T: AsRef<[u8]>>(attr: &RtAttr<T>) -> Self {
        RtAttrHeader {
            kind: attr.raw_kind(),
            payload_len: usize::from(attr.len()).saturating_sub(HEADER_LEN),
        }
    }

    /// The bytes the attribute occupies, padding included.
    pub const fn buffer_len(&self) -> usize {
        align4(HEADER_LEN.saturating_add(self.payload_len))
    }

    /// Writes the header and zeroes the padding after `payload_len` bytes;
    /// the payload itself is the caller's.
    ///
    /// # Errors
    ///
    /// [`WireError::BufferTooSmall`] if `buf` is shorter than
    /// [`RtAttrHeader::buffer_len`] or the length does not fit 16 bits.
    pub fn emit(&self, buf: &mut [u8]) -> Result<(), WireError> {
        let need = self.buffer_len();
        let len = HEADER_LEN.saturating_add(self.payload_len);
        let len16 = u16::try_from(len).map_err(|_| WireError::BufferTooSmall { need })?;
        let Some(b) = buf.get_mut(..need) else {
            return Err(WireError::BufferTooSmall { need });
        };
        put(b, field::LENGTH, &len16.to_ne_bytes());
        put(b, field::TYPE, &self.kind.to_ne_bytes());
        b[len..].fill(0);
        Ok(())
    }
}

/// Writes a whole attribute (header, `payload`, padding) at the start of
/// `buf` and returns the bytes used.
///
/// # Errors
///
/// [`WireError::BufferTooSmall`] if it does not fit.
pub fn emit_attr(buf: &mut [u8], kind: u16, payload: &[u8]) -> Result<usize, WireError> {
    let h = RtAttrHeader {
        kind,
        payload_len: payload.len(),
    };
    h.emit(buf)?;
    buf[HEADER_LEN..HEADER_LEN + payload.len()].copy_from_slice(payload);
    Ok(h.buffer_len())
}

/// The attributes in a byte range, in order.
///
/// A truncated or overlong attribute ends the iteration with one `Err`
/// carrying its offset in the range.
#[derive(Clone, Debug)]
pub struct RtAttrs<'a> {
    buf: &'a [u8],
    offset: usize,
    failed: bool,
}

impl<'a> RtAttrs<'a> {
    /// Iterates over the attributes in `buf`.
    pub const fn new(buf: &'a [u8]) -> Self {
        RtAttrs {
            buf,
            offset: 0,
            failed: false,
        }
    }

    /// The offset of the next attribute in the range.
    pub const fn offset(&self) -> usize {
        self.offset
    }
}

impl<'a> Iterator for RtAttrs<'a> {
    type Item = Result<RtAttr<&'a [u8]>, WireError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.offset >= self.buf.len() {
            return None;
        }
        match RtAttr::new_checked(&self.buf[self.offset..]) {
            Ok(a) => {
                let at = self.offset;
                let step = align4(usize::from(a.len()));
                self.offset = at.saturating_add(step).min(self.buf.len());
                Some(Ok(a))
            }
            Err(e) => {
                self.failed = true;
                Some(Err(e.at(self.offset)))
            }
        }
    }
}

impl core::iter::FusedIterator for RtAttrs<'_> {}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    #[cfg(target_endian = "little")]
    fn cong_attribute() {
        let bytes = [
            0x0a, 0x00, // rta_len = 10
            0x04, 0x00, // rta_type = INET_DIAG_CONG
            b'c', b'u', b'b', b'i', b'c', 0, // "cubic\0"
            0x00, 0x00, // padding
            0x05, 0x00, 0x08, 0x00, 0x01, // INET_DIAG_SHUTDOWN (len 5) = 1
            0, 0, 0, // padding
        ];
        let v: std::vec::Vec<_> = RtAttrs::new(&bytes).map(Result::unwrap).collect();
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].kind(), 4);
        assert_eq!(v[0].payload(), b"cubic\0");
        assert_eq!(v[1].kind(), 8);
        assert_eq!(v[1].payload(), &[1]);
        // The last attribute may come without its padding.
        assert_eq!(RtAttrs::new(&bytes[..17]).count(), 2);
    }

    #[test]
    fn nested_and_flags() {
        let mut buf = [0u8; 16];
        let inner = emit_attr(&mut buf[4..], 1, &[9, 9, 9, 9]).unwrap();
        assert_eq!(inner, 8);
        RtAttrHeader {
            kind: 3 | F_NESTED,
            payload_len: inner,
        }
        .emit(&mut buf)
        .unwrap();
        let a = RtAttr::new_checked(&buf[..12]).unwrap();
        assert!(a.is_nested());
        assert_eq!(a.kind(), 3);
        let n: std::vec::Vec<_> = a.nested().map(Result::unwrap).collect();
        assert_eq!(n[0].payload(), &[9, 9, 9, 9]);
    }

    #[test]
    fn truncated_attributes_are_rejected() {
        assert_eq!(
            RtAttrs::new(&[8, 0, 1, 0, 0]).next(),
            Some(Err(WireError::BadLength { offset: 0 }))
        );
        assert_eq!(
            RtAttrs::new(&[4, 0, 1, 0, 3, 0]).nth(1),
            Some(Err(WireError::Truncated { offset: 4 }))
        );
        assert_eq!(
            RtAttrs::new(&[2, 0, 1, 0]).next(),
            Some(Err(WireError::BadLength { offset: 0 }))
        );
        assert_eq!(
            emit_attr(&mut [0u8; 7], 1, &[1, 2, 3, 4]),
            Err(WireError::BufferTooSmall { need: 8 })
        );
    }

    proptest! {
        #[test]
        fn attr_roundtrip(kind in any::<u16>(), payload in proptest::collection::vec(any::<u8>(), 0..40)) {
            let mut buf = [0xffu8; 64];
            let n = emit_attr(&mut buf, kind, &payload).unwrap();
            prop_assert_eq!(n % 4, 0);
            let a = RtAttr::new_checked(&buf[..n]).unwrap();
            prop_assert_eq!(a.raw_kind(), kind);
            prop_assert_eq!(a.payload(), &payload[..]);
            prop_assert!(buf[4 + payload.len()..n].iter().all(|&b| b == 0));
            prop_assert_eq!(RtAttrHeader::parse(&a).buffer_len(), n);
        }

        #[test]
        fn attrs_never_panic(data in proptest::collection::vec(any::<u8>(), 0..100)) {
            for a in RtAttrs::new(&data).flatten() {
                for n in a.nested().flatten() {
                    let _ = n.payload();
                }
            }
        }
    }
}
