#![no_main]
//! Targets of `/proc/PID/fd/N` links (`socket:[N]`, `net:[N]`) and `/proc`
//! entry names: never panic; links and decimal pids round-trip.
use libfuzzer_sys::fuzz_target;
use raindrops_diag::procfs::{inode_link, parse_pid, socket_inode};

fuzz_target!(|data: &[u8]| {
    if let Some(ino) = socket_inode(data) {
        assert_eq!(format!("socket:[{ino}]").as_bytes(), data);
    }
    if let Some((kind, ino)) = inode_link(data) {
        let mut printed = kind.to_vec();
        printed.extend_from_slice(format!(":[{ino}]").as_bytes());
        assert_eq!(printed, data);
    }
    if let Some(pid) = parse_pid(data) {
        assert_eq!(pid.to_string().as_bytes(), data);
    }
    if data.len() >= 8 {
        let ino = u64::from_ne_bytes(data[..8].try_into().unwrap());
        assert_eq!(
            socket_inode(format!("socket:[{ino}]").as_bytes()),
            Some(ino)
        );
    }
});
