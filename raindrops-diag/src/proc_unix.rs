//! A parser of `/proc/net/unix`, the fallback source of Unix socket
//! statistics where the kernel has no unix_diag (the Ruby gem's only
//! source).
//!
//! Each line after the header is printed by the kernel's
//! `unix_seq_show()` as
//! `"%pK: %08X %08X %08X %04X %02X %5lu"` (address, reference count,
//! protocol, flags, type, state, inode) and, for a bound socket, a space
//! and the name (abstract names with `@` for every NUL byte).

use crate::wire::WireError;

/// `__SO_ACCEPTCON` in the flags column: the socket listens.
pub const SO_ACCEPTCON: u32 = 1 << 16;
/// `SS_UNCONNECTED` in the state column.
pub const SS_UNCONNECTED: u8 = 1;
/// `SS_CONNECTING`: for a server-side socket, a connection waiting in a
/// listener's queue (not yet accepted).
pub const SS_CONNECTING: u8 = 2;
/// `SS_CONNECTED`: an accepted (or client) connection.
pub const SS_CONNECTED: u8 = 3;
/// `SS_DISCONNECTING`.
pub const SS_DISCONNECTING: u8 = 4;

/// One socket line of `/proc/net/unix`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct UnixLine<'a> {
    /// The reference count.
    pub refcount: u32,
    /// The protocol (always 0).
    pub protocol: u32,
    /// Flags: [`SO_ACCEPTCON`] for a listener.
    pub flags: u32,
    /// The socket type: 1 stream, 2 datagram, 5 seqpacket.
    pub sock_type: u16,
    /// The `socket_state` (`SS_*`).
    pub state: u8,
    /// The inode, 0 for a connection not yet accepted.
    pub inode: u64,
    /// The printed name, if the socket is bound (or was accepted from a
    /// bound listener).
    pub path: Option<&'a [u8]>,
}

impl UnixLine<'_> {
    /// Whether the socket listens.
    pub const fn is_listener(&self) -> bool {
        self.flags & SO_ACCEPTCON != 0
    }
}

/// Parses one line (without its newline).
///
/// # Errors
///
/// [`WireError::BadLine`] with the offset in the line where parsing
/// failed.
pub fn parse_line(line: &[u8]) -> Result<UnixLine<'_>, WireError> {
    let mut c = Cursor { b: line, at: 0 };
    // "%pK:" — hexadecimal address, possibly hashed or zeroed.
    c.hex_u64()?;
    c.expect(b':')?;
    c.expect(b' ')?;
    let refcount = c.hex_u32()?;
    c.expect(b' ')?;
    let protocol = c.hex_u32()?;
    c.expect(b' ')?;
    let flags = c.hex_u32()?;
    c.expect(b' ')?;
    let sock_type = u16::try_from(c.hex_u32()?).map_err(|_| c.err())?;
    c.expect(b' ')?;
    let state = u8::try_from(c.hex_u32()?).map_err(|_| c.err())?;
    c.expect(b' ')?;
    // "%5lu": right-aligned, leading spaces.
    while c.peek() == Some(b' ') {
        c.at += 1;
    }
    let inode = c.dec_u64()?;
    let path = match c.peek() {
        None => None,
        Some(b' ') => Some(&line[c.at + 1..]),
        Some(_) => return Err(c.err()),
    };
    Ok(UnixLine {
        refcount,
        protocol,
        flags,
        sock_type,
        state,
        inode,
        path,
    })
}

struct Cursor<'a> {
    b: &'a [u8],
    at: usize,
}

impl Cursor<'_> {
    fn err(&self) -> WireError {
        WireError::BadLine { offset: self.at }
    }
    fn peek(&self) -> Option<u8> {
        self.b.get(self.at).copied()
    }
    fn expect(&mut self, want: u8) -> Result<(), WireError> {
        if self.peek() == Some(want) {
            self.at += 1;
            Ok(())
        } else {
            Err(self.err())
        }
    }
    /// A number of one or more digits in `radix` (16 or 10), refusing
    /// overflow.
    fn number(&mut self, radix: u32) -> Result<u64, WireError> {
        let start = self.at;
        let mut v: u64 = 0;
        while let Some(d) = self.peek().and_then(|b| (b as char).to_digit(radix)) {
            v = v
                .checked_mul(u64::from(radix))
                .and_then(|v| v.checked_add(u64::from(d)))
                .ok_or(WireError::BadLine { offset: self.at })?;
            self.at += 1;
        }
        if self.at == start {
            return Err(self.err());
        }
        Ok(v)
    }
    fn hex_u64(&mut self) -> Result<u64, WireError> {
        self.number(16)
    }
    fn hex_u32(&mut self) -> Result<u32, WireError> {
        let at = self.at;
        u32::try_from(self.hex_u64()?).map_err(|_| WireError::BadLine { offset: at })
    }
    fn dec_u64(&mut self) -> Result<u64, WireError> {
        self.number(10)
    }
}

/// The socket lines of a whole `/proc/net/unix` text, header skipped.
///
/// Each item is one line's result; an error's offset counts from the
/// start of the text, and a bad line does not stop the iteration (lines
/// are independent; a name with a newline in it splits its line).
#[derive(Clone, Debug)]
pub struct ProcNetUnix<'a> {
    text: &'a [u8],
    at: usize,
}

impl<'a> ProcNetUnix<'a> {
    /// Iterates over the lines of `text`.
    pub const fn new(text: &'a [u8]) -> Self {
        ProcNetUnix { text, at: 0 }
    }
}

impl<'a> Iterator for ProcNetUnix<'a> {
    type Item = Result<UnixLine<'a>, WireError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.at >= self.text.len() {
                return None;
            }
            let start = self.at;
            let rest = &self.text[start..];
            let end = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
            self.at = start + end + 1;
            let line = &rest[..end];
            if line.is_empty() || (start == 0 && line.starts_with(b"Num")) {
                continue;
            }
            return Some(parse_line(line).map_err(|e| e.at(start)));
        }
    }
}

impl core::iter::FusedIterator for ProcNetUnix<'_> {}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // Captured on Linux 6.18 (addresses hashed by %pK).
    const SAMPLE: &[u8] = b"Num       RefCount Protocol Flags    Type St Inode Path
0000000092312cab: 00000002 00000000 00010000 0001 01 21958 /tmp/probe2.sock
00000000c99fb461: 00000003 00000000 00000000 0001 03 21962 /tmp/probe2.sock
00000000cc884979: 00000003 00000000 00000000 0001 02     0 /tmp/probe2.sock
0000000000000000: 00000002 00000000 00000000 0002 01  1234
00000000deadbeef: 00000002 00000000 00010000 0005 01 99999 @abs@tract with space
";

    #[test]
    fn sample_lines() {
        let v: std::vec::Vec<_> = ProcNetUnix::new(SAMPLE).map(Result::unwrap).collect();
        assert_eq!(v.len(), 5);
        assert!(v[0].is_listener());
        assert_eq!(v[0].inode, 21958);
        assert_eq!(v[0].path, Some(&b"/tmp/probe2.sock"[..]));
        assert_eq!((v[1].state, v[1].inode), (SS_CONNECTED, 21962));
        assert_eq!((v[2].state, v[2].inode), (SS_CONNECTING, 0));
        assert_eq!((v[3].sock_type, v[3].path), (2, None));
        assert_eq!(v[4].path, Some(&b"@abs@tract with space"[..]));
        assert_eq!(v[4].sock_type, 5);
    }

    #[test]
    fn bad_lines_are_reported_with_offsets() {
        let text = b"Num x\nzz: 1\n0: 00000002 00000000 00000000 0001 01 5 /a\n";
        let v: std::vec::Vec<_> = ProcNetUnix::new(text).collect();
        assert_eq!(v[0], Err(WireError::BadLine { offset: 6 }));
        assert_eq!(v[1].unwrap().path, Some(&b"/a"[..]));
        assert!(parse_line(b"0: 1 2 3 4 5").is_err());
        assert!(parse_line(b"0: 1 2 3 4 5 6x").is_err());
        assert!(parse_line(b"0: 1 2 3 10000 5 6").is_err());
        assert!(parse_line(b"0: 1 2 3 4 100 6").is_err());
        assert!(parse_line(b"0: 1 2 3 4 5 99999999999999999999999").is_err());
        assert!(parse_line(b"0: 1 2 3 4 5 6").is_ok());
    }

    proptest! {
        #[test]
        fn never_panics(data in proptest::collection::vec(any::<u8>(), 0..200)) {
            for l in ProcNetUnix::new(&data) {
                let _ = l.map(|l| l.is_listener());
            }
        }

        #[test]
        fn printed_lines_roundtrip(refcount in any::<u32>(), flags in any::<u32>(), t in any::<u16>(),
                                   state in any::<u8>(), inode in any::<u64>(),
                                   path in proptest::option::of("[ -~]{0,60}")) {
            let mut s = std::format!("{:016x}: {refcount:08X} 00000000 {flags:08X} {t:04X} {state:02X} {inode:5}", 77u64);
            if let Some(p) = &path { s.push(' '); s.push_str(p); }
            let l = parse_line(s.as_bytes()).unwrap();
            prop_assert_eq!((l.refcount, l.flags, l.sock_type, l.state, l.inode), (refcount, flags, t, state, inode));
            prop_assert_eq!(l.path, path.as_deref().map(str::as_bytes));
        }
    }
}
