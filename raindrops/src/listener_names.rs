//! Listener names as a user gives them (`"127.0.0.1:8080"`, `"[::1]:80"`,
//! `"/run/app.sock"`, `"@abstract"`), split into TCP addresses and Unix
//! names.

use std::ffi::{OsStr, OsString};
use std::net::SocketAddr;
use std::os::unix::ffi::OsStrExt;
use std::vec::Vec;

use raindrops_core::{AddrError, parse_tcp_addr};

use crate::error::Error;

/// Named listeners: TCP addresses (canonical) and Unix names (bytes), each
/// in the caller's order, without repeats.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ListenerNames {
    pub(crate) tcp: Vec<SocketAddr>,
    pub(crate) unix: Vec<OsString>,
}

impl ListenerNames {
    /// Splits `names`: a name starting with `/` or `@` is a Unix socket
    /// (as Ruby's middleware and raindrops-diag decide), any other must be
    /// a TCP address (which is text).
    pub(crate) fn parse<I, S>(names: I) -> Result<Self, Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut out = ListenerNames::default();
        for (index, name) in names.into_iter().enumerate() {
            let name = name.as_ref();
            let bytes = name.as_bytes();
            if bytes.starts_with(b"/") || bytes.starts_with(b"@") {
                if !out.unix.iter().any(|u| u == name) {
                    out.unix.push(name.to_os_string());
                }
                continue;
            }
            let addr = name
                .to_str()
                .ok_or(AddrError::InvalidAddress)
                .and_then(parse_tcp_addr)
                .map_err(|error| Error::Name { index, error })?;
            if !out.tcp.contains(&addr) {
                out.tcp.push(addr);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_and_checks() {
        let n = ListenerNames::parse([
            OsStr::new("[fe80::1%lo]:080"),
            OsStr::new("/tmp/a.sock"),
            OsStr::from_bytes(b"/tmp/\xff"),
            OsStr::new("127.0.0.1:80"),
            OsStr::new("@abs"),
            OsStr::new("127.0.0.1:80"),
        ])
        .unwrap();
        assert_eq!(
            n.tcp,
            [
                "[fe80::1]:80".parse().unwrap(),
                "127.0.0.1:80".parse().unwrap()
            ]
        );
        assert_eq!(n.unix.len(), 3);
        assert_eq!(
            ListenerNames::parse(["/ok", "127.0.0.1"]),
            Err(Error::Name {
                index: 1,
                error: AddrError::MissingPort
            })
        );
        assert_eq!(
            ListenerNames::parse([OsStr::from_bytes(b"\xff:80")]),
            Err(Error::Name {
                index: 0,
                error: AddrError::InvalidAddress
            })
        );
    }
}
