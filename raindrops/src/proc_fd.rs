//! The inodes of this process's sockets, from the `socket:[INODE]` links of
//! `/proc/self/fd`.

use std::os::unix::ffi::OsStrExt;
use std::vec::Vec;

use crate::error::Error;

/// Where a process's descriptors are listed.
const PROC_SELF_FD: &str = "/proc/self/fd";

/// The inode of a socket from the target of a `/proc/PID/fd/N` link
/// (`socket:[12345]`); `None` for any other target (a file, `pipe:[N]`,
/// `anon_inode:[eventfd]`...) and for a number that is not a socket inode
/// (sockets get 32-bit inode numbers, as inet_diag and unix_diag report
/// them). Bounds-checked, never panics.
///
/// ```
/// use raindrops::__fuzz::parse_socket_link;
/// assert_eq!(parse_socket_link(b"socket:[12345]"), Some(12345));
/// assert_eq!(parse_socket_link(b"pipe:[12345]"), None);
/// assert_eq!(parse_socket_link(b"socket:[4294967296]"), None);
/// ```
pub fn parse_socket_link(target: &[u8]) -> Option<u32> {
    let digits = target.strip_prefix(b"socket:[")?.strip_suffix(b"]")?;
    // At most 10 digits, no sign, no leading `+`: what the kernel writes.
    if digits.is_empty() || digits.len() > 10 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n = digits
        .iter()
        .fold(0u64, |n, d| n * 10 + u64::from(d - b'0'));
    u32::try_from(n).ok()
}

/// Fills `out` with the inodes of this process's sockets, sorted, without
/// duplicates (descriptors `dup`ed or inherited twice name one socket).
///
/// Descriptors closed while the directory is read are skipped.
///
/// # Errors
///
/// [`Error::Sys`] if `/proc/self/fd` cannot be read (no `/proc`).
pub(crate) fn socket_inodes(out: &mut Vec<u32>) -> Result<(), Error> {
    out.clear();
    let dir =
        std::fs::read_dir(PROC_SELF_FD).map_err(|e| Error::io("reading /proc/self/fd", &e))?;
    for entry in dir {
        let Ok(entry) = entry else { continue };
        // One readlink per descriptor: the link says what it is.
        let Ok(target) = std::fs::read_link(entry.path()) else {
            continue; // closed meanwhile (or the directory's own descriptor)
        };
        if let Some(ino) = parse_socket_link(target.as_os_str().as_bytes()) {
            out.push(ino);
        }
    }
    out.sort_unstable();
    out.dedup();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::format;

    #[test]
    fn links() {
        assert_eq!(parse_socket_link(b"socket:[0]"), Some(0));
        assert_eq!(parse_socket_link(b"socket:[4294967295]"), Some(u32::MAX));
        for bad in [
            &b""[..],
            b"socket:[",
            b"socket:[]",
            b"socket:[12",
            b"socket:[+1]",
            b"socket:[-1]",
            b"socket:[1 ]",
            b"socket:[99999999999]",
            b"socket:[00000000000000000001]",
            b"/tmp/socket:[1]",
            b"anon_inode:[eventfd]",
        ] {
            assert_eq!(parse_socket_link(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn finds_our_own_sockets() {
        use std::os::unix::fs::MetadataExt;
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let dup = l.try_clone().unwrap();
        let ino = std::fs::metadata(format!("/proc/self/fd/{}", fd(&l)))
            .unwrap()
            .ino();
        let mut inodes = Vec::new();
        socket_inodes(&mut inodes).unwrap();
        assert_eq!(
            inodes.iter().filter(|&&i| u64::from(i) == ino).count(),
            1,
            "once, though two descriptors name it"
        );
        assert!(inodes.windows(2).all(|w| w[0] < w[1]));
        drop((l, dup));
        socket_inodes(&mut inodes).unwrap();
        assert!(!inodes.iter().any(|&i| u64::from(i) == ino));
    }

    fn fd(l: &std::net::TcpListener) -> i32 {
        use std::os::fd::AsRawFd;
        l.as_raw_fd()
    }

    proptest! {
        #[test]
        fn any_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..40)) {
            let _ = parse_socket_link(&b);
        }

        #[test]
        fn what_the_kernel_writes_roundtrips(n: u32) {
            prop_assert_eq!(parse_socket_link(format!("socket:[{n}]").as_bytes()), Some(n));
            prop_assert_eq!(parse_socket_link(format!("pipe:[{n}]").as_bytes()), None);
        }
    }
}
