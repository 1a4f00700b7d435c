//! The inodes of this process's sockets, from the `socket:[INODE]` links of
//! `/proc/self/fd`.

use std::os::unix::ffi::OsStrExt;
use std::vec::Vec;

use raindrops_diag::procfs::socket_inode;

use crate::error::Error;

/// Where a process's descriptors are listed.
const PROC_SELF_FD: &str = "/proc/self/fd";

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
        // Sockets get 32-bit inode numbers, as inet_diag and unix_diag
        // report them.
        let ino = socket_inode(target.as_os_str().as_bytes()).and_then(|i| u32::try_from(i).ok());
        if let Some(ino) = ino {
            out.push(ino);
        }
    }
    out.sort_unstable();
    out.dedup();
    Ok(())
}
