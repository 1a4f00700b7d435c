#![no_main]
//! Targets of `/proc/PID/fd/N` links and `/proc` entry names: never panic;
//! `socket:[N]` and decimal pids round-trip.
use libfuzzer_sys::fuzz_target;
use raindrops_diag::procfs::{parse_pid, socket_inode};

fuzz_target!(|data: &[u8]| {
    if let Some(ino) = socket_inode(data) {
        assert_eq!(format!("socket:[{ino}]").as_bytes(), data);
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
