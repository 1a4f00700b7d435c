//! `getsockopt`/`setsockopt` at level `IPPROTO_TCP`: `TCP_INFO` and
//! `TCP_DEFER_ACCEPT`.
//!
//! rustix, socket2 and nix offer neither option, so these call libc; the
//! three small `unsafe` blocks below are the only ones in the crate.

use std::os::fd::{AsFd, AsRawFd};

use crate::{Error, TcpInfo};

/// `getsockopt(fd, IPPROTO_TCP, TCP_INFO)`: the kernel's statistics of a
/// TCP connection (or listener).
///
/// The buffer has room for the whole struct this crate knows
/// ([`TcpInfo::SIZE`] bytes) and is read by the length the kernel returns,
/// so fields an older kernel does not fill are absent, not zero.
///
/// # Errors
///
/// [`Error::NotTcp`] for a Unix, UDP or other non-TCP socket,
/// [`Error::NotSocket`] for a descriptor that is not a socket,
/// [`Error::BadFd`] for one that is not open, [`Error::Os`] otherwise.
///
/// See [tcp(7)](https://man7.org/linux/man-pages/man7/tcp.7.html).
#[doc(alias = "TCP_INFO")]
#[doc(alias = "getsockopt")]
pub fn tcp_info(fd: impl AsFd) -> Result<TcpInfo, Error> {
    let mut info = TcpInfo::EMPTY;
    let buf = info.buffer_mut();
    let mut len = TcpInfo::SIZE as libc::socklen_t;
    // SAFETY: `buf` is valid for writes of `len` bytes (`TcpInfo::SIZE`, its
    // size) and outlives the call; `len` is a valid, initialised
    // `socklen_t`. The kernel writes at most `len` bytes into `buf` (any
    // bytes are a valid `[u8]`) and stores the number written in `len`.
    // The descriptor is borrowed for the duration of the call.
    let rc = unsafe {
        libc::getsockopt(
            fd.as_fd().as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            buf.as_mut_ptr().cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(last_error());
    }
    info.set_len(len as usize);
    Ok(info)
}

/// `getsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT)`: how long, in seconds, a
/// listener lets a new connection wait for its first data before waking
/// `accept` (0: off).
///
/// The kernel keeps the setting as a number of SYN-ACK retransmissions and
/// returns the time they take, so the value read is the value set rounded
/// up to 1, 3, 7, 15, 31, 63, 127… seconds (60 reads back as 63).
///
/// # Errors
///
/// As for [`tcp_info`].
///
/// See [tcp(7)](https://man7.org/linux/man-pages/man7/tcp.7.html).
#[doc(alias = "TCP_DEFER_ACCEPT")]
pub fn tcp_defer_accept(fd: impl AsFd) -> Result<u32, Error> {
    let mut value: libc::c_int = 0;
    let mut len = size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `value` is a valid, writable `c_int` and `len` says its size;
    // the kernel writes at most `len` bytes there (an int) and its length
    // in `len`, both valid for any bytes.
    let rc = unsafe {
        libc::getsockopt(
            fd.as_fd().as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_DEFER_ACCEPT,
            (&raw mut value).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(last_error());
    }
    Ok(u32::try_from(value).unwrap_or(0))
}

/// `setsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, seconds)`: makes a
/// listener wake `accept` only when a new connection has sent data, or
/// after about `seconds` (0 turns it off).
///
/// With it, a connection enters the accept queue when its first data
/// arrives, so `last_data_recv` of a freshly accepted socket is how long
/// it waited there (Ruby raindrops' `LastDataRecv` sets 60 seconds). The
/// kernel rounds the time up (see [`tcp_defer_accept`]); values above
/// `i32::MAX` are clamped.
///
/// # Errors
///
/// As for [`tcp_info`].
#[doc(alias = "TCP_DEFER_ACCEPT")]
pub fn set_tcp_defer_accept(fd: impl AsFd, seconds: u32) -> Result<(), Error> {
    let value = libc::c_int::try_from(seconds).unwrap_or(libc::c_int::MAX);
    let rc = setsockopt_int(fd.as_fd().as_raw_fd(), libc::TCP_DEFER_ACCEPT, value);
    if rc != 0 {
        return Err(last_error());
    }
    Ok(())
}

/// `setsockopt(fd, IPPROTO_TCP, name, &value, sizeof(int))`.
fn setsockopt_int(fd: libc::c_int, name: libc::c_int, value: libc::c_int) -> libc::c_int {
    // SAFETY: `value` is a valid `c_int` that outlives the call and the
    // length passed is its size; the kernel only reads it. `fd` comes from
    // a borrowed descriptor that the caller keeps open during the call.
    unsafe {
        libc::setsockopt(
            fd,
            libc::IPPROTO_TCP,
            name,
            (&raw const value).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    }
}

/// The [`Error`] for the errno of the call that just failed.
fn last_error() -> Error {
    Error::from_errno(raindrops_core::Errno::from_raw(
        std::io::Error::last_os_error().raw_os_error().unwrap_or(0),
    ))
}
