//! Unix socket names as users and `/proc/net/unix` write them.

use core::fmt;
use raindrops_core::EscapedName;

/// Capacity of a [`UnixName`] in bytes (`sizeof(sun_path)`).
pub const UNIX_NAME_CAPACITY: usize = 108;

/// The name of a Unix socket in its printed form, without allocation: a
/// filesystem path (`/run/app.sock`) or an abstract name written with a
/// leading `@` (each NUL byte of an abstract name printed as `@`, as
/// `/proc/net/unix` and the Ruby gem show it).
///
/// Holds up to [`UNIX_NAME_CAPACITY`] bytes, which every name the kernel
/// reports fits. Ordered, compared and hashed by its bytes.
#[derive(Clone, Copy)]
pub struct UnixName {
    len: u8,
    bytes: [u8; UNIX_NAME_CAPACITY],
}

impl UnixName {
    /// The name in its printed form (`"/path"` or `"@abstract"`), or `None`
    /// if it is longer than [`UNIX_NAME_CAPACITY`] bytes.
    pub fn new(printed: &[u8]) -> Option<Self> {
        if printed.len() > UNIX_NAME_CAPACITY {
            return None;
        }
        let mut bytes = [0; UNIX_NAME_CAPACITY];
        bytes[..printed.len()].copy_from_slice(printed);
        Some(UnixName {
            len: printed.len() as u8,
            bytes,
        })
    }

    /// The printed form of a raw `sun_path` as the kernel reports it
    /// (`UNIX_DIAG_NAME`): a path ends at its first NUL; an abstract name
    /// (leading NUL) gets `@` for every NUL. `None` if longer than the
    /// capacity.
    pub fn from_sun_path(raw: &[u8]) -> Option<Self> {
        match raw.split_first() {
            Some((0, rest)) => {
                let mut n = Self::new(b"@")?;
                if rest.len() + 1 > UNIX_NAME_CAPACITY {
                    return None;
                }
                for (i, &b) in rest.iter().enumerate() {
                    n.bytes[i + 1] = if b == 0 { b'@' } else { b };
                }
                n.len = (rest.len() + 1) as u8;
                Some(n)
            }
            _ => {
                let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
                Self::new(&raw[..end])
            }
        }
    }

    /// The printed form, as bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// Whether the raw `sun_path` bytes `raw` (as in [`UnixName::from_sun_path`])
    /// print as this name; no copy.
    #[inline]
    pub fn eq_sun_path(&self, raw: &[u8]) -> bool {
        let me = self.as_bytes();
        match raw.split_first() {
            Some((0, rest)) => {
                me.len() == rest.len() + 1
                    && me[0] == b'@'
                    && me[1..]
                        .iter()
                        .zip(rest)
                        .all(|(&a, &b)| a == if b == 0 { b'@' } else { b })
            }
            _ => {
                // The kernel reports a path with its terminating NUL.
                if raw.len() == me.len() + 1 && raw[me.len()] == 0 {
                    return &raw[..me.len()] == me && !me.contains(&0);
                }
                if raw.len() <= me.len() {
                    return raw == me;
                }
                let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
                me == &raw[..end]
            }
        }
    }

    /// Whether this is an abstract-namespace name (`@…`).
    pub fn is_abstract(&self) -> bool {
        self.as_bytes().first() == Some(&b'@')
    }

    /// The printed form as text, if it is UTF-8.
    pub fn to_str(&self) -> Option<&str> {
        core::str::from_utf8(self.as_bytes()).ok()
    }
}

impl PartialEq for UnixName {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for UnixName {}

impl core::hash::Hash for UnixName {
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        self.as_bytes().hash(state);
    }
}

impl PartialOrd for UnixName {
    fn partial_cmp(&self, other: &Self) -> Option<core::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for UnixName {
    fn cmp(&self, other: &Self) -> core::cmp::Ordering {
        self.as_bytes().cmp(other.as_bytes())
    }
}

impl fmt::Display for UnixName {
    /// The display form of the name ([`EscapedName`]): printable text
    /// unchanged, `\` doubled, control characters and bytes that are not
    /// UTF-8 as `\xHH`, so that a name cannot forge output lines.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        EscapedName(self.as_bytes()).fmt(f)
    }
}

impl fmt::Debug for UnixName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UnixName(\"{}\")", self.as_bytes().escape_ascii())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;

    #[test]
    fn printed_forms() {
        assert_eq!(
            UnixName::from_sun_path(b"/tmp/x.sock\0")
                .unwrap()
                .as_bytes(),
            b"/tmp/x.sock"
        );
        let a = UnixName::from_sun_path(b"\0name\0with\0nul").unwrap();
        assert_eq!(a.as_bytes(), b"@name@with@nul");
        assert!(a.is_abstract());
        assert_eq!(a.to_string(), "@name@with@nul");
        assert_eq!(UnixName::new(b"/p\xff").unwrap().to_string(), "/p\\xff");
        assert_eq!(UnixName::new(b"/a\nb").unwrap().to_string(), "/a\\x0ab");
        assert_eq!(
            std::format!("{:?}", UnixName::new(b"/a\n").unwrap()),
            "UnixName(\"/a\\n\")"
        );
        assert!(UnixName::new(&[b'a'; 109]).is_none());
        assert!(UnixName::from_sun_path(&[0; 109]).is_none());
        assert_eq!(
            UnixName::from_sun_path(&[0; 108]).unwrap().as_bytes().len(),
            108
        );
        assert_eq!(UnixName::from_sun_path(b"").unwrap().as_bytes(), b"");
    }

    #[test]
    fn compares_with_raw_names_and_sorts_by_bytes() {
        let raws: [&[u8]; 6] = [b"/a/b\0", b"/a/b", b"\0x\0y", b"\0", b"", b"/a/bc\0"];
        for r in raws {
            let n = UnixName::from_sun_path(r).unwrap();
            for r2 in raws {
                let n2 = UnixName::from_sun_path(r2).unwrap();
                assert_eq!(n.eq_sun_path(r2), n == n2, "{r:?} {r2:?}");
            }
        }
        let mut v = [
            UnixName::new(b"/zz").unwrap(),
            UnixName::new(b"/a/long/name").unwrap(),
        ];
        v.sort();
        assert_eq!(v[0].as_bytes(), b"/a/long/name");
    }
}
