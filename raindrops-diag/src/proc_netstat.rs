//! A parser of `/proc/net/netstat` and `/proc/net/snmp`: the counters that
//! the kernel keeps per network namespace, such as `TcpExt: ListenOverflows`.
//!
//! Both files are printed by the kernel (`net/ipv4/proc.c`, and
//! `net/mptcp/mib.c` for `MPTcpExt`) as pairs of lines, a header naming the
//! counters and a line of their values, each line starting with the same
//! prefix:
//!
//! ```text
//! TcpExt: SyncookiesSent SyncookiesRecv ListenOverflows
//! TcpExt: 0 0 433
//! ```
//!
//! Every value is an `unsigned long` printed with `%lu`, except `MaxConn`
//! of `Tcp:` in `/proc/net/snmp`, which the kernel prints with `%ld`
//! because RFC 2012 makes it signed (Linux's is `-1`, "no fixed limit").
//! A value printed with a minus sign is returned as the two's complement
//! `u64` of the same `unsigned long`, as the kernel holds it: `as i64`
//! gives the printed number back (`-1` is `u64::MAX`).
//!
//! The parser is zero-copy and allocates nothing: [`sections`] iterates
//! over the pairs of lines, [`entries`] over every (prefix, name, value),
//! [`lookup`] finds one counter, and [`TcpExt`] gathers the listener
//! counters that the overflow signal uses. It never panics; a malformed
//! pair is an error with its byte offset in the text, and does not stop
//! the iteration. With the `std` feature, [`TcpExt::read_current_thread`]
//! reads the file of the calling thread's network namespace.
//!
//! ```
//! use raindrops_diag::proc_netstat::{NetstatError, TcpExt, lookup};
//!
//! let text = b"TcpExt: ListenOverflows ListenDrops\nTcpExt: 3 5\n\
//!              Tcp: RtoAlgorithm MaxConn\nTcp: 1 -1\n";
//! let t = TcpExt::from_text(text)?;
//! assert_eq!((t.listen_overflows, t.listen_drops), (Some(3), Some(5)));
//! assert_eq!(t.tcp_req_q_full_drop, None); // not printed by this "kernel"
//! assert_eq!(lookup(text, "Tcp", "MaxConn")?.map(|v| v as i64), Some(-1));
//! # Ok::<(), NetstatError>(())
//! ```

use core::fmt;

/// Why a pair of lines could not be parsed; the offset counts bytes from
/// the start of the text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum NetstatError {
    /// A line does not start with a prefix and a colon (`TcpExt:`).
    NoPrefix {
        /// Where the line starts.
        offset: usize,
    },
    /// A header line is not followed by a line with the same prefix.
    Unpaired {
        /// Where the header line starts.
        offset: usize,
    },
    /// A name is empty, does not start with an ASCII letter, or has a byte
    /// that is not printable ASCII.
    BadName {
        /// Where the name starts.
        offset: usize,
    },
    /// A value is not a decimal number (optionally negative) that fits 64
    /// bits.
    BadValue {
        /// Where the value starts.
        offset: usize,
    },
    /// The value line has more or fewer values than the header has names.
    CountMismatch {
        /// Where the value line starts.
        offset: usize,
    },
    /// The section asked for is not in the text.
    MissingSection {
        /// The end of the text.
        offset: usize,
    },
}

impl NetstatError {
    /// The byte offset in the text that the error points at.
    pub const fn offset(&self) -> usize {
        match *self {
            NetstatError::NoPrefix { offset }
            | NetstatError::Unpaired { offset }
            | NetstatError::BadName { offset }
            | NetstatError::BadValue { offset }
            | NetstatError::CountMismatch { offset }
            | NetstatError::MissingSection { offset } => offset,
        }
    }
}

impl fmt::Display for NetstatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self {
            NetstatError::NoPrefix { .. } => "line without a `Prefix:`",
            NetstatError::Unpaired { .. } => "header line without its value line",
            NetstatError::BadName { .. } => "bad counter name",
            NetstatError::BadValue { .. } => "bad counter value",
            NetstatError::CountMismatch { .. } => "values do not match the names",
            NetstatError::MissingSection { .. } => "section not found",
        };
        write!(f, "{what} at byte {}", self.offset())
    }
}

impl core::error::Error for NetstatError {}

/// One counter: its section's prefix, its name and its value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Entry<'a> {
    /// The prefix of its pair of lines, without the colon (`TcpExt`).
    pub prefix: &'a str,
    /// The counter's name (`ListenOverflows`).
    pub name: &'a str,
    /// The value (a negative printed value in two's complement; see the
    /// module's notes).
    pub value: u64,
}

/// One validated pair of lines: a prefix, its names and as many values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Section<'a> {
    prefix: &'a str,
    /// The header after `prefix:` (each name preceded by one space).
    names: &'a [u8],
    /// The value line after `prefix:`, likewise.
    values: &'a [u8],
}

impl<'a> Section<'a> {
    /// The prefix, without the colon (`TcpExt`, `IpExt`, `Tcp`...).
    pub const fn prefix(&self) -> &'a str {
        self.prefix
    }

    /// The section's counters, in the kernel's order.
    pub fn entries(&self) -> SectionEntries<'a> {
        SectionEntries {
            prefix: self.prefix,
            names: self.names,
            values: self.values,
        }
    }

    /// The value of the counter `name`, if the section has it.
    pub fn get(&self, name: &str) -> Option<u64> {
        self.entries().find(|e| e.name == name).map(|e| e.value)
    }
}

/// The counters of one [`Section`].
#[derive(Clone, Debug)]
pub struct SectionEntries<'a> {
    prefix: &'a str,
    names: &'a [u8],
    values: &'a [u8],
}

impl<'a> Iterator for SectionEntries<'a> {
    type Item = Entry<'a>;

    fn next(&mut self) -> Option<Entry<'a>> {
        // Validated when the section was made: each token is " token".
        let (name, rest) = token(self.names)?;
        self.names = rest;
        let (value, rest) = token(self.values)?;
        self.values = rest;
        Some(Entry {
            prefix: self.prefix,
            name: core::str::from_utf8(name).ok()?,
            value: parse_value(value)?,
        })
    }
}

impl core::iter::FusedIterator for SectionEntries<'_> {}

/// The pairs of lines of a `/proc/net/netstat` or `/proc/net/snmp` text.
pub fn sections(text: &[u8]) -> Sections<'_> {
    Sections { text, at: 0 }
}

/// Every counter of a `/proc/net/netstat` or `/proc/net/snmp` text, with
/// an error (once) for each pair of lines that could not be parsed.
pub fn entries(text: &[u8]) -> Entries<'_> {
    Entries {
        sections: sections(text),
        current: None,
    }
}

/// The value of the counter `name` in the section `prefix` (for example
/// `lookup(text, "TcpExt", "ListenOverflows")`): the first one in the
/// text. `Ok(None)` if the text is well-formed and lacks it (an older
/// kernel); errors of other pairs of lines are ignored once it is found,
/// and the first error is returned when it is not.
///
/// # Errors
///
/// The first [`NetstatError`] of the text, when the counter was not found.
pub fn lookup(text: &[u8], prefix: &str, name: &str) -> Result<Option<u64>, NetstatError> {
    let mut first_error = None;
    for s in sections(text) {
        match s {
            Ok(s) if s.prefix == prefix => {
                if let Some(v) = s.get(name) {
                    return Ok(Some(v));
                }
            }
            Ok(_) => {}
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    first_error.map_or(Ok(None), Err)
}

/// The iterator of [`sections`].
#[derive(Clone, Debug)]
pub struct Sections<'a> {
    text: &'a [u8],
    at: usize,
}

impl<'a> Sections<'a> {
    /// The next non-empty line at or after `at`: (start, line without its
    /// newline); `self.at` moves past it.
    fn line(&mut self) -> Option<(usize, &'a [u8])> {
        loop {
            let rest = self.text.get(self.at..)?;
            if rest.is_empty() {
                return None;
            }
            let start = self.at;
            let len = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
            self.at = start + len + 1;
            if len > 0 {
                return Some((start, &rest[..len]));
            }
        }
    }
}

impl<'a> Iterator for Sections<'a> {
    type Item = Result<Section<'a>, NetstatError>;

    fn next(&mut self) -> Option<Self::Item> {
        let (h_at, header) = self.line()?;
        let Some(colon) = header.iter().position(|&b| b == b':') else {
            return Some(Err(NetstatError::NoPrefix { offset: h_at }));
        };
        let prefix = &header[..colon];
        let resume = self.at;
        let Some((v_at, values)) = self.line() else {
            return Some(Err(NetstatError::Unpaired { offset: h_at }));
        };
        let same = values.len() > colon && values[colon] == b':' && &values[..colon] == prefix;
        if !same {
            // The second line may start the next pair: resynchronise there.
            self.at = resume;
            return Some(Err(NetstatError::Unpaired { offset: h_at }));
        }
        Some(section(
            (h_at, prefix, &header[colon + 1..]),
            (v_at + colon + 1, &values[colon + 1..]),
        ))
    }
}

impl core::iter::FusedIterator for Sections<'_> {}

/// Validates a pair: the prefix and every name (whose line starts at
/// `h_at`), and as many values (the tail starting at `v_tail_at`).
fn section<'a>(
    (h_at, prefix, names): (usize, &'a [u8], &'a [u8]),
    (v_tail_at, values): (usize, &'a [u8]),
) -> Result<Section<'a>, NetstatError> {
    let prefix = valid_name(prefix).ok_or(NetstatError::BadName { offset: h_at })?;
    let names_at = h_at + prefix.len() + 1;
    let (mut n, mut v) = (names, values);
    loop {
        match (n.is_empty(), v.is_empty()) {
            (true, true) => break,
            (false, false) => {}
            _ => {
                return Err(NetstatError::CountMismatch {
                    offset: v_tail_at - prefix.len() - 1,
                });
            }
        }
        // A token's slot is its space and the token; an error points at
        // the space if it is missing, else at the token.
        let slot = |tail: &[u8], whole: &[u8], at: usize| {
            at + (whole.len() - tail.len()) + usize::from(tail.first() == Some(&b' '))
        };
        let name_at = slot(n, names, names_at);
        let value_at = slot(v, values, v_tail_at);
        let (name, rest) = token(n).ok_or(NetstatError::BadName { offset: name_at })?;
        valid_name(name).ok_or(NetstatError::BadName { offset: name_at })?;
        n = rest;
        let (value, rest) = token(v).ok_or(NetstatError::BadValue { offset: value_at })?;
        parse_value(value).ok_or(NetstatError::BadValue { offset: value_at })?;
        v = rest;
    }
    Ok(Section {
        prefix,
        names,
        values,
    })
}

/// Splits `" token rest"` into `token` and `" rest"`; `None` unless the
/// input starts with exactly one space and a non-empty token.
fn token(b: &[u8]) -> Option<(&[u8], &[u8])> {
    let rest = b.strip_prefix(b" ")?;
    let len = rest.iter().position(|&c| c == b' ').unwrap_or(rest.len());
    (len > 0).then(|| rest.split_at(len))
}

/// `b` as a name: an ASCII letter, then printable ASCII other than the
/// space and the colon.
fn valid_name(b: &[u8]) -> Option<&str> {
    let ok = b.first().is_some_and(u8::is_ascii_alphabetic)
        && b.iter().all(|&c| c.is_ascii_graphic() && c != b':');
    if ok {
        core::str::from_utf8(b).ok()
    } else {
        None
    }
}

/// A value: decimal digits that fit a `u64`, or a minus sign and digits
/// that fit an `i64`, returned in two's complement.
fn parse_value(b: &[u8]) -> Option<u64> {
    let (negative, digits) = match b.strip_prefix(b"-") {
        Some(d) => (true, d),
        None => (false, b),
    };
    if digits.is_empty() {
        return None;
    }
    let mut v: u64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    if negative {
        // -(2^63) is the most negative `long`.
        (v <= 1 << 63).then(|| v.wrapping_neg())
    } else {
        Some(v)
    }
}

/// The iterator of [`entries`].
#[derive(Clone, Debug)]
pub struct Entries<'a> {
    sections: Sections<'a>,
    current: Option<SectionEntries<'a>>,
}

impl<'a> Iterator for Entries<'a> {
    type Item = Result<Entry<'a>, NetstatError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(e) = self.current.as_mut().and_then(Iterator::next) {
                return Some(Ok(e));
            }
            match self.sections.next()? {
                Ok(s) => self.current = Some(s.entries()),
                Err(e) => {
                    self.current = None;
                    return Some(Err(e));
                }
            }
        }
    }
}

impl core::iter::FusedIterator for Entries<'_> {}

/// Declares [`TcpExt`] from one row per counter: the field, the kernel's
/// name, and what it counts.
macro_rules! tcp_ext_counters {
    ($($(#[doc = $doc:literal])* $field:ident = $name:literal,)*) => {
        /// The `TcpExt` counters of one network namespace that tell
        /// listener overflows from other drops (`None`: the kernel does not
        /// print that counter). Each counts since the namespace was made,
        /// for every listener in it.
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub struct TcpExt {
            $($(#[doc = $doc])* pub $field: Option<u64>,)*
        }

        impl TcpExt {
            /// The kernel's names of the fields, in the fields' order.
            pub const NAMES: &'static [&'static str] = &[$($name),*];

            /// Each counter's kernel name and value, in the fields' order.
            pub fn iter(&self) -> impl Iterator<Item = (&'static str, Option<u64>)> + '_ {
                [$(($name, self.$field)),*].into_iter()
            }

            fn set(&mut self, name: &str, value: u64) {
                match name {
                    $($name => self.$field = Some(value),)*
                    _ => {}
                }
            }
        }
    };
}

tcp_ext_counters! {
    /// `ListenOverflows`: handshakes dropped because a listener's accept
    /// queue was full, counted when a SYN arrives at a full queue and when
    /// a handshake completes into one; each also counts in `ListenDrops`.
    listen_overflows = "ListenOverflows",
    /// `ListenDrops`: SYNs and handshake completions that a listener
    /// dropped for any reason, overflows included; each also counts in
    /// that listener's `sk_drops` (the per-listener `drops`).
    listen_drops = "ListenDrops",
    /// `TCPDeferAcceptDrop`: final handshake ACKs without data that a
    /// `TCP_DEFER_ACCEPT` listener set aside, waiting for the data. Normal
    /// for such listeners; the connection is not lost.
    tcp_defer_accept_drop = "TCPDeferAcceptDrop",
    /// `TCPReqQFullDrop`: SYNs dropped because the queue of handshakes in
    /// progress was full and SYN cookies were off.
    tcp_req_q_full_drop = "TCPReqQFullDrop",
    /// `TCPReqQFullDoCookies`: SYNs answered with a SYN cookie because the
    /// queue of handshakes in progress was full.
    tcp_req_q_full_do_cookies = "TCPReqQFullDoCookies",
    /// `SyncookiesSent`: SYN cookies sent.
    syncookies_sent = "SyncookiesSent",
    /// `SyncookiesRecv`: valid SYN cookies received (handshakes completed
    /// from a cookie).
    syncookies_recv = "SyncookiesRecv",
    /// `SyncookiesFailed`: ACKs whose SYN cookie did not check out.
    syncookies_failed = "SyncookiesFailed",
}

impl TcpExt {
    /// The counters of the `TcpExt` section of a `/proc/net/netstat` text.
    ///
    /// # Errors
    ///
    /// The first error of the text if it has no well-formed `TcpExt`
    /// section, else [`NetstatError::MissingSection`].
    pub fn from_text(text: &[u8]) -> Result<TcpExt, NetstatError> {
        let mut first_error = None;
        for s in sections(text) {
            match s {
                Ok(s) if s.prefix == "TcpExt" => {
                    let mut t = TcpExt::default();
                    for e in s.entries() {
                        t.set(e.name, e.value);
                    }
                    return Ok(t);
                }
                Ok(_) => {}
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        Err(first_error.unwrap_or(NetstatError::MissingSection { offset: text.len() }))
    }
}

#[cfg(feature = "std")]
pub use self::read::{MAX_FILE_LEN, PROC_THREAD_SELF_NETSTAT, ReadError, read_proc_file};

#[cfg(feature = "std")]
mod read {
    use super::{NetstatError, TcpExt};
    use core::fmt;
    use raindrops_core::Errno;
    use std::io::Read;
    use std::path::Path;
    use std::vec::Vec;

    /// The netstat file of the calling thread's network namespace. A
    /// thread that entered another namespace with `setns()` sees that
    /// namespace's counters here, whereas `/proc/self/net` and
    /// `/proc/net` show the main thread's (Linux 3.17 and later).
    pub const PROC_THREAD_SELF_NETSTAT: &str = "/proc/thread-self/net/netstat";

    /// The most [`read_proc_file`] reads: 64 KiB, sixteen times what
    /// Linux 6.18 prints in `/proc/net/netstat`.
    pub const MAX_FILE_LEN: usize = 64 * 1024;

    /// Why a counters file could not be read.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    #[non_exhaustive]
    pub enum ReadError {
        /// Opening or reading the file failed.
        Io(Errno),
        /// The file is longer than [`MAX_FILE_LEN`].
        TooLong,
        /// Its text could not be parsed.
        Parse(NetstatError),
    }

    impl fmt::Display for ReadError {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match self {
                ReadError::Io(e) => write!(f, "reading the counters: {e}"),
                ReadError::TooLong => {
                    write!(f, "the counters file is longer than {MAX_FILE_LEN} bytes")
                }
                ReadError::Parse(e) => write!(f, "parsing the counters: {e}"),
            }
        }
    }

    impl std::error::Error for ReadError {}

    impl From<std::io::Error> for ReadError {
        fn from(e: std::io::Error) -> Self {
            // An error without an errno (none for a plain file) reads as EIO.
            let eio = rustix::io::Errno::IO.raw_os_error();
            ReadError::Io(Errno::from_raw(e.raw_os_error().unwrap_or(eio)))
        }
    }

    /// Reads a `/proc` counters file whole, up to [`MAX_FILE_LEN`] bytes.
    ///
    /// # Errors
    ///
    /// [`ReadError::Io`] or [`ReadError::TooLong`].
    pub fn read_proc_file(path: impl AsRef<Path>) -> Result<Vec<u8>, ReadError> {
        let f = std::fs::File::open(path)?;
        let mut text = Vec::with_capacity(8 * 1024);
        f.take(MAX_FILE_LEN as u64 + 1).read_to_end(&mut text)?;
        if text.len() > MAX_FILE_LEN {
            return Err(ReadError::TooLong);
        }
        Ok(text)
    }

    impl TcpExt {
        /// The counters of the calling thread's network namespace, read
        /// from [`PROC_THREAD_SELF_NETSTAT`].
        ///
        /// # Errors
        ///
        /// [`ReadError`]: the file is missing (Linux before 3.17), too
        /// long, or has no well-formed `TcpExt` section.
        ///
        /// ```
        /// use raindrops_diag::proc_netstat::TcpExt;
        ///
        /// let t = TcpExt::read_current_thread()?;
        /// // Kernels have printed these two since the 2.6 series.
        /// assert!(t.listen_overflows.is_some() && t.listen_drops.is_some());
        /// # Ok::<(), raindrops_diag::proc_netstat::ReadError>(())
        /// ```
        pub fn read_current_thread() -> Result<TcpExt, ReadError> {
            let text = read_proc_file(PROC_THREAD_SELF_NETSTAT)?;
            TcpExt::from_text(&text).map_err(ReadError::Parse)
        }
    }
}

#[cfg(test)]
mod tests;
