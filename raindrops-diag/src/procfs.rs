//! Parsers of the `/proc` text the namespace, owner and cgroup layer reads:
//! `/proc/PID/stat`, the targets of `/proc/PID/fd/N` links,
//! `/proc/PID/cgroup`, `/proc/PID/cmdline` and `/proc/self/mountinfo`.
//!
//! Every parser takes the bytes as read (the caller bounds the read), needs
//! no allocation, never panics and reports malformed text as a
//! [`ProcTextError`] with the byte offset where it gave up. What the kernel
//! prints comes from processes (command names, cgroup and mount paths), so
//! any byte may appear where a name is expected: names are returned as
//! bytes, for [`EscapedName`](raindrops_core::EscapedName) at the outputs.

use core::fmt;

/// Why `/proc` text could not be parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ProcTextError {
    /// The text is malformed at byte `offset` (a missing field, a number
    /// that is not one or overflows, a missing separator).
    Malformed {
        /// Where in the input the parser gave up.
        offset: usize,
    },
}

impl fmt::Display for ProcTextError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProcTextError::Malformed { offset } => {
                write!(f, "malformed /proc text at byte {offset}")
            }
        }
    }
}

impl core::error::Error for ProcTextError {}

const fn bad(offset: usize) -> ProcTextError {
    ProcTextError::Malformed { offset }
}

/// A decimal number of at most `u64::MAX`, the whole of `b`.
fn dec_u64(b: &[u8], at: usize) -> Result<u64, ProcTextError> {
    if b.is_empty() {
        return Err(bad(at));
    }
    let mut v: u64 = 0;
    for (i, &c) in b.iter().enumerate() {
        if !c.is_ascii_digit() {
            return Err(bad(at + i));
        }
        v = v
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(c - b'0')))
            .ok_or(bad(at + i))?;
    }
    Ok(v)
}

fn dec_u32(b: &[u8], at: usize) -> Result<u32, ProcTextError> {
    u32::try_from(dec_u64(b, at)?).map_err(|_| bad(at))
}

/// The process id named by a directory entry of `/proc` (`"1234"`), or
/// `None` for every other entry (`"self"`, `"net"`, `"0"`, `"01"`).
///
/// ```
/// use raindrops_diag::procfs::parse_pid;
/// assert_eq!(parse_pid(b"1234"), Some(1234));
/// assert_eq!(parse_pid(b"self"), None);
/// ```
pub fn parse_pid(name: &[u8]) -> Option<u32> {
    // The kernel never prints leading zeros; refusing them keeps one name
    // per pid.
    if name.first() == Some(&b'0') {
        return None;
    }
    dec_u32(name, 0).ok().filter(|&p| p != 0)
}

/// The fields of `/proc/PID/stat` that identify a process: its pid, its
/// command name, its parent and its start time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ProcStat<'a> {
    /// Field 1, the process id.
    pub pid: u32,
    /// Field 2 without its parentheses: the command name (`comm`, as
    /// `/proc/PID/comm` shows it without the newline), any bytes but NUL.
    pub comm: &'a [u8],
    /// Field 3, the state letter (`R`, `S`, `Z`, …).
    pub state: u8,
    /// Field 4, the parent's process id.
    pub ppid: u32,
    /// Field 22, the start time in clock ticks after boot: with the pid,
    /// it names one process for the machine's uptime (a reused pid has a
    /// later start time).
    pub start_time: u64,
}

/// Parses `/proc/PID/stat`: `PID (COMM) STATE PPID … STARTTIME …`.
///
/// The command name may contain spaces and parentheses, so it ends at the
/// *last* `)` of the text (no later field has one). Fields after the
/// start time may be missing (a read bounded by the caller).
///
/// ```
/// use raindrops_diag::procfs::parse_stat;
/// let s = parse_stat(b"42 (a) b) S 1 42 42 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 987 1 2\n").unwrap();
/// assert_eq!((s.pid, s.comm, s.state, s.ppid, s.start_time), (42, &b"a) b"[..], b'S', 1, 987));
/// ```
///
/// # Errors
///
/// [`ProcTextError::Malformed`] if a field up to the start time is missing
/// or not a number where one is expected.
pub fn parse_stat(text: &[u8]) -> Result<ProcStat<'_>, ProcTextError> {
    let open = text.iter().position(|&b| b == b'(').ok_or(bad(0))?;
    let close = text.iter().rposition(|&b| b == b')').ok_or(bad(open))?;
    if close < open || open == 0 || text[open - 1] != b' ' {
        return Err(bad(open));
    }
    let pid = dec_u32(&text[..open - 1], 0)?;
    let comm = &text[open + 1..close];
    // Fields 3.. are separated by single spaces; the line ends with "\n".
    let mut at = close + 1;
    let mut field = 2;
    let mut state = 0;
    let mut ppid = 0;
    loop {
        if text.get(at) != Some(&b' ') {
            return Err(bad(at));
        }
        at += 1;
        let start = at;
        while at < text.len() && !matches!(text[at], b' ' | b'\n') {
            at += 1;
        }
        let tok = &text[start..at];
        field += 1;
        match field {
            3 => {
                let [s] = tok else { return Err(bad(start)) };
                state = *s;
            }
            4 => ppid = dec_u32(tok, start)?,
            22 => {
                return Ok(ProcStat {
                    pid,
                    comm,
                    state,
                    ppid,
                    start_time: dec_u64(tok, start)?,
                });
            }
            _ if tok.is_empty() => return Err(bad(start)),
            _ => {}
        }
    }
}

/// The kind and inode of an anonymous-inode link target as `/proc` prints
/// it, `KIND:[INODE]`: `socket:[12345]` for a socket descriptor,
/// `net:[4026531833]` for a network namespace file; `None` for anything
/// else (a path, `anon_inode:[eventfd]`, a target cut short by a bounded
/// read).
///
/// ```
/// use raindrops_diag::procfs::inode_link;
/// assert_eq!(inode_link(b"net:[4026531833]"), Some((&b"net"[..], 4026531833)));
/// assert_eq!(inode_link(b"/dev/null"), None);
/// ```
pub fn inode_link(target: &[u8]) -> Option<(&[u8], u64)> {
    let open = target.iter().position(|&b| b == b':')?;
    let kind = &target[..open];
    if kind.is_empty() || !kind.iter().all(|b| b.is_ascii_lowercase() || *b == b'_') {
        return None;
    }
    let digits = target[open + 1..].strip_prefix(b"[")?.strip_suffix(b"]")?;
    if digits.len() > 1 && digits[0] == b'0' {
        return None;
    }
    Some((kind, dec_u64(digits, 0).ok()?))
}

/// The inode of a socket from the target of a `/proc/PID/fd/N` link
/// (`socket:[12345]`), or `None` for any other target (a file, a pipe,
/// `anon_inode:[eventfd]`, a target cut short by a bounded read).
///
/// ```
/// use raindrops_diag::procfs::socket_inode;
/// assert_eq!(socket_inode(b"socket:[12345]"), Some(12345));
/// assert_eq!(socket_inode(b"pipe:[12345]"), None);
/// ```
pub fn socket_inode(target: &[u8]) -> Option<u64> {
    match inode_link(target)? {
        (b"socket", ino) => Some(ino),
        _ => None,
    }
}

/// The cgroup v2 path of a process from its `/proc/PID/cgroup`: the path
/// of the line `0::PATH` (the unified hierarchy), or `None` if there is
/// none (a cgroup v1 only system).
///
/// The path is relative to the reader's cgroup namespace and may end in
/// `" (deleted)"` for a removed cgroup, as the kernel prints it.
///
/// ```
/// use raindrops_diag::procfs::cgroup_v2_path;
/// let text = b"1:cpu:/\n0::/system.slice/nginx.service\n";
/// assert_eq!(cgroup_v2_path(text), Some(&b"/system.slice/nginx.service"[..]));
/// assert_eq!(cgroup_v2_path(b"4:memory:/x\n"), None);
/// ```
pub fn cgroup_v2_path(text: &[u8]) -> Option<&[u8]> {
    text.split(|&b| b == b'\n')
        .find_map(|line| line.strip_prefix(b"0::"))
        .filter(|p| p.first() == Some(&b'/'))
}

/// The arguments of `/proc/PID/cmdline`: NUL-separated, the last one
/// NUL-terminated. A process may rewrite its arguments into one string
/// with spaces and no NUL: it is then one argument. Empty for kernel
/// threads and zombies.
///
/// ```
/// use raindrops_diag::procfs::cmdline_args;
/// let args: Vec<&[u8]> = cmdline_args(b"nginx: master\0-g\0daemon off;\0").collect();
/// assert_eq!(args, [&b"nginx: master"[..], b"-g", b"daemon off;"]);
/// ```
pub fn cmdline_args(raw: &[u8]) -> impl Iterator<Item = &[u8]> {
    let raw = raw.strip_suffix(&[0]).unwrap_or(raw);
    let empty = raw.is_empty();
    raw.split(|&b| b == 0).filter(move |_| !empty)
}

/// One line of `/proc/PID/mountinfo` (`proc(5)`): `ID PARENT MAJ:MIN ROOT
/// MOUNT_POINT OPTIONS [OPTIONAL…] - FSTYPE SOURCE SUPER_OPTIONS`.
///
/// `root`, `mount_point` and `source` are as printed: spaces, tabs,
/// newlines and backslashes in them are octal escapes (`\040`); see
/// [`unescape_octal`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MountInfo<'a> {
    /// The mount's id.
    pub mount_id: u32,
    /// The parent mount's id.
    pub parent_id: u32,
    /// The device's major number.
    pub major: u32,
    /// The device's minor number.
    pub minor: u32,
    /// The directory of the filesystem that is the root of this mount
    /// (for cgroup2: the cgroup shown at the mount point), escaped.
    pub root: &'a [u8],
    /// Where it is mounted, relative to the reader's root, escaped.
    pub mount_point: &'a [u8],
    /// The filesystem type (`cgroup2`, `nsfs`, `ext4`, …).
    pub fs_type: &'a [u8],
    /// The mount source, escaped.
    pub source: &'a [u8],
}

/// Parses one line of `/proc/PID/mountinfo` (without its newline).
///
/// ```
/// use raindrops_diag::procfs::parse_mountinfo_line;
/// let m = parse_mountinfo_line(b"41 31 0:38 / /sys/fs/cgroup/unified rw,relatime shared:9 - cgroup2 cgroup2 rw").unwrap();
/// assert_eq!((m.mount_point, m.fs_type, m.root), (&b"/sys/fs/cgroup/unified"[..], &b"cgroup2"[..], &b"/"[..]));
/// ```
///
/// # Errors
///
/// [`ProcTextError::Malformed`] where a field is missing or a number is not
/// one.
pub fn parse_mountinfo_line(line: &[u8]) -> Result<MountInfo<'_>, ProcTextError> {
    let mut f = Fields { b: line, at: 0 };
    let (at, t) = f.next().ok_or(bad(f.at))?;
    let mount_id = dec_u32(t, at)?;
    let (at, t) = f.next().ok_or(bad(f.at))?;
    let parent_id = dec_u32(t, at)?;
    let (at, t) = f.next().ok_or(bad(f.at))?;
    let colon = t.iter().position(|&b| b == b':').ok_or(bad(at))?;
    let major = dec_u32(&t[..colon], at)?;
    let minor = dec_u32(&t[colon + 1..], at + colon + 1)?;
    let (_, root) = f.next().ok_or(bad(f.at))?;
    let (_, mount_point) = f.next().ok_or(bad(f.at))?;
    let _options = f.next().ok_or(bad(f.at))?;
    // Optional fields ("shared:1", "master:2", …) up to the lone "-".
    loop {
        let (_, t) = f.next().ok_or(bad(f.at))?;
        if t == b"-" {
            break;
        }
    }
    let (_, fs_type) = f.next().ok_or(bad(f.at))?;
    let (_, source) = f.next().ok_or(bad(f.at))?;
    Ok(MountInfo {
        mount_id,
        parent_id,
        major,
        minor,
        root,
        mount_point,
        fs_type,
        source,
    })
}

/// Space-separated fields with their offsets.
struct Fields<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Iterator for Fields<'a> {
    type Item = (usize, &'a [u8]);
    fn next(&mut self) -> Option<Self::Item> {
        while self.b.get(self.at) == Some(&b' ') {
            self.at += 1;
        }
        let start = self.at;
        while self.at < self.b.len() && self.b[self.at] != b' ' {
            self.at += 1;
        }
        (self.at > start).then(|| (start, &self.b[start..self.at]))
    }
}

/// The bytes of a mountinfo field with its octal escapes (`\NNN`, three
/// octal digits, as the kernel's `mangle()` writes space, tab, newline
/// and backslash) decoded. A backslash not followed by three octal digits
/// of a value below 256 is kept as it is.
///
/// ```
/// use raindrops_diag::procfs::unescape_octal;
/// let v: Vec<u8> = unescape_octal(br"/mnt/with\040space\134").collect();
/// assert_eq!(v, b"/mnt/with space\\");
/// ```
pub fn unescape_octal(field: &[u8]) -> impl Iterator<Item = u8> + '_ {
    let mut at = 0;
    core::iter::from_fn(move || {
        let b = *field.get(at)?;
        if b == b'\\' {
            if let Some(&[x, y, z]) = field.get(at + 1..at + 4) {
                let oct = |c: u8| (b'0'..=b'7').contains(&c).then(|| u16::from(c - b'0'));
                if let (Some(x), Some(y), Some(z)) = (oct(x), oct(y), oct(z)) {
                    let v = x * 64 + y * 8 + z;
                    if let Ok(v) = u8::try_from(v) {
                        at += 4;
                        return Some(v);
                    }
                }
            }
        }
        at += 1;
        Some(b)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::vec::Vec;

    /// Captured from this kernel (6.x) for a process named "cat".
    const STAT: &[u8] = b"26192 (cat) R 26187 26187 16956 0 -1 4194304 102 0 0 0 0 0 0 0 20 0 1 0 61423 3133440 414 18446744073709551615 93858878640128 93858878660009 140734861490432 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0 93858878676016 93858878677632 93859210645504 140734861495009 140734861495029 140734861495029 140734861496299 0\n";

    #[test]
    fn stat_captured_and_tricky_names() {
        let s = parse_stat(STAT).unwrap();
        assert_eq!(
            (s.pid, s.comm, s.state, s.ppid, s.start_time),
            (26192, &b"cat"[..], b'R', 26187, 61423)
        );
        // A name with ") S 1 2 (" inside still ends at the last ')'.
        let mut evil = b"7 (x) S 1 2 (y".to_vec();
        evil.extend_from_slice(&STAT[10..]);
        let s = parse_stat(&evil).unwrap();
        assert_eq!(
            (s.pid, s.comm, s.start_time),
            (7, &b"x) S 1 2 (y"[..], 61423)
        );
        // Negative priority and nice are skipped, not parsed.
        let rt = b"9 (rt) S 2 0 0 0 -1 1 0 0 0 0 0 0 0 0 -51 -20 1 0 17 0 0\n";
        assert_eq!(parse_stat(rt).unwrap().start_time, 17);
        // Cut before the start time.
        assert!(parse_stat(&STAT[..60]).is_err());
        for bad_input in [
            &b""[..],
            b"1 (a",
            b"(a) S",
            b"x (a) S 1",
            b"1 (a) SS 1",
            b"1 (a)  S 1",
            b"1 (a) S 99999999999 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1",
        ] {
            assert!(parse_stat(bad_input).is_err(), "{bad_input:?}");
        }
    }

    #[test]
    fn socket_links() {
        assert_eq!(socket_inode(b"socket:[0]"), Some(0));
        assert_eq!(socket_inode(b"socket:[4294967295]"), Some(4294967295));
        for t in [
            &b"socket:[]"[..],
            b"socket:[12",
            b"socket:[012]",
            b"socket:[1a]",
            b"/tmp/socket:[1]",
            b"socket:[99999999999999999999]",
            b"anon_inode:[eventfd]",
        ] {
            assert_eq!(socket_inode(t), None, "{t:?}");
        }
        assert_eq!(
            inode_link(b"pid:[4026531836]"),
            Some((&b"pid"[..], 4026531836))
        );
        assert_eq!(inode_link(b"pipe:[7]"), Some((&b"pipe"[..], 7)));
        for t in [
            &b":[1]"[..],
            b"Net:[1]",
            b"net:[1",
            b"net:1]",
            b"net[1]",
            b"a b:[1]",
        ] {
            assert_eq!(inode_link(t), None, "{t:?}");
        }
    }

    #[test]
    fn cgroup_files() {
        assert_eq!(cgroup_v2_path(b"0::/\n"), Some(&b"/"[..]));
        // Hybrid systems list v1 hierarchies first.
        let hybrid = b"9:name=systemd:/\n4:memory:/process_api/c3\n0::/user.slice/a (deleted)\n";
        assert_eq!(
            cgroup_v2_path(hybrid),
            Some(&b"/user.slice/a (deleted)"[..])
        );
        assert_eq!(cgroup_v2_path(b"0::\n"), None);
        assert_eq!(cgroup_v2_path(b""), None);
        assert_eq!(cgroup_v2_path(b"10::/x"), None);
    }

    #[test]
    fn cmdlines() {
        assert_eq!(cmdline_args(b"").count(), 0);
        assert_eq!(cmdline_args(b"\0").count(), 0);
        assert_eq!(cmdline_args(b"\0\0").collect::<Vec<_>>(), [&b""[..], b""]);
        assert_eq!(
            cmdline_args(b"rewritten title").collect::<Vec<_>>(),
            [&b"rewritten title"[..]]
        );
        assert_eq!(
            cmdline_args(b"a\0\0b\0").collect::<Vec<_>>(),
            [&b"a"[..], b"", b"b"]
        );
    }

    #[test]
    fn mountinfo_lines() {
        // Captured from this machine.
        let l =
            b"42 27 254:0 /run/netns /run/netns rw,relatime shared:1 - ext4 /dev/vda rw,discard";
        let m = parse_mountinfo_line(l).unwrap();
        assert_eq!(
            (m.mount_id, m.parent_id, m.major, m.minor),
            (42, 27, 254, 0)
        );
        assert_eq!(
            (m.root, m.fs_type, m.source),
            (&b"/run/netns"[..], &b"ext4"[..], &b"/dev/vda"[..])
        );
        let no_optional = b"22 27 0:21 / /proc rw,relatime - proc proc rw";
        assert_eq!(parse_mountinfo_line(no_optional).unwrap().fs_type, b"proc");
        let escaped = br"50 1 0:40 /a\040b /mnt/x\011y rw - tmpfs my\134src rw";
        let m = parse_mountinfo_line(escaped).unwrap();
        assert_eq!(
            unescape_octal(m.mount_point).collect::<Vec<_>>(),
            b"/mnt/x\ty"
        );
        assert_eq!(unescape_octal(m.source).collect::<Vec<_>>(), b"my\\src");
        for bad_input in [
            &b""[..],
            b"1 2 3:4 / /x rw",
            b"1 2 3:4 / /x rw shared:1",
            b"1 2 3:4 / /x rw - cgroup2",
            b"1 2 34 / /x rw - cgroup2 cgroup2 rw",
            b"a 2 3:4 / /x rw - cgroup2 cgroup2 rw",
        ] {
            assert!(parse_mountinfo_line(bad_input).is_err(), "{bad_input:?}");
        }
        // Escapes that are not: kept as they are.
        assert_eq!(
            unescape_octal(br"\777\04\x").collect::<Vec<_>>(),
            br"\777\04\x"
        );
    }

    #[test]
    fn pids() {
        assert_eq!(parse_pid(b"1"), Some(1));
        assert_eq!(parse_pid(b"4294967295"), Some(u32::MAX));
        for n in [&b"0"[..], b"01", b"", b"self", b"4294967296", b"12a"] {
            assert_eq!(parse_pid(n), None, "{n:?}");
        }
    }

    fn mangle(b: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        for &c in b {
            if matches!(c, b' ' | b'\t' | b'\n' | b'\\') {
                v.extend_from_slice(std::format!("\\{c:03o}").as_bytes());
            } else {
                v.push(c);
            }
        }
        v
    }

    proptest! {
        #[test]
        fn stat_roundtrip(pid in 1u32.., comm in proptest::collection::vec(1u8.., 0..64),
                          state in b'A'..=b'Z', ppid: u32, start: u64, tail in "( [0-9-]{1,5}){0,30}") {
            let mut line = std::format!("{pid} (").into_bytes();
            line.extend_from_slice(&comm);
            line.extend_from_slice(std::format!(") {} {ppid} 1 1 0 -1 4194304 102 0 0 0 0 0 0 0 20 0 1 0 {start}{tail}\n", state as char).as_bytes());
            let s = parse_stat(&line).unwrap();
            prop_assert_eq!((s.pid, s.comm, s.state, s.ppid, s.start_time), (pid, &comm[..], state, ppid, start));
        }

        #[test]
        fn stat_never_panics(b in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = parse_stat(&b);
        }

        #[test]
        fn socket_link_roundtrip(ino: u64, kind in "[a-z_]{1,12}") {
            prop_assert_eq!(socket_inode(std::format!("socket:[{ino}]").as_bytes()), Some(ino));
            let link = std::format!("{kind}:[{ino}]");
            prop_assert_eq!(inode_link(link.as_bytes()), Some((kind.as_bytes(), ino)));
        }

        #[test]
        fn mountinfo_roundtrip(id: u32, parent: u32, major: u32, minor: u32,
                               root in proptest::collection::vec(any::<u8>(), 1..40),
                               point in proptest::collection::vec(any::<u8>(), 1..40),
                               optional in proptest::collection::vec("[a-z]{1,6}:[0-9]{1,3}", 0..3),
                               fs in "[a-z0-9]{1,10}", src in proptest::collection::vec(any::<u8>(), 1..20)) {
            // The kernel escapes space, tab, newline and backslash; other
            // bytes (including non-UTF-8) are printed raw.
            let mut line = std::format!("{id} {parent} {major}:{minor} ").into_bytes();
            line.extend_from_slice(&mangle(&root));
            line.push(b' ');
            line.extend_from_slice(&mangle(&point));
            line.extend_from_slice(b" rw,relatime");
            for o in &optional {
                line.push(b' ');
                line.extend_from_slice(o.as_bytes());
            }
            line.extend_from_slice(b" - ");
            line.extend_from_slice(fs.as_bytes());
            line.push(b' ');
            line.extend_from_slice(&mangle(&src));
            line.extend_from_slice(b" rw");
            let m = parse_mountinfo_line(&line).unwrap();
            prop_assert_eq!((m.mount_id, m.parent_id, m.major, m.minor), (id, parent, major, minor));
            prop_assert_eq!(unescape_octal(m.root).collect::<Vec<_>>(), root);
            prop_assert_eq!(unescape_octal(m.mount_point).collect::<Vec<_>>(), point);
            prop_assert_eq!(unescape_octal(m.source).collect::<Vec<_>>(), src);
            prop_assert_eq!(m.fs_type, fs.as_bytes());
        }

        #[test]
        fn mountinfo_never_panics(b in proptest::collection::vec(any::<u8>(), 0..200)) {
            if let Ok(m) = parse_mountinfo_line(&b) {
                let _ = unescape_octal(m.root).count();
            }
        }

        #[test]
        fn cgroup_file_roundtrip(lines in proptest::collection::vec("[1-9][0-9]?:[a-z,=]{0,12}:/[a-z./]{0,20}", 0..5),
                                 path in "/[^\n]{0,60}") {
            let mut text = std::string::String::new();
            for l in &lines {
                text.push_str(l);
                text.push('\n');
            }
            text.push_str("0::");
            text.push_str(&path);
            text.push('\n');
            prop_assert_eq!(cgroup_v2_path(text.as_bytes()), Some(path.as_bytes()));
        }
    }
}
