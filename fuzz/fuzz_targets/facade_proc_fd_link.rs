#![no_main]
//! The `/proc/self/fd` link parser of the facade crate (how
//! `KernelSource::own` finds this process's socket inodes): any bytes give
//! an inode or `None`, never a panic; an inode is only ever what the bytes
//! spell, `socket:[N]` with N a 32-bit decimal number.

use libfuzzer_sys::fuzz_target;
use raindrops::__fuzz::parse_socket_link;

fuzz_target!(|data: &[u8]| {
    if let Some(n) = parse_socket_link(data) {
        let digits = &data[8..data.len() - 1];
        assert!(data.starts_with(b"socket:[") && data.ends_with(b"]"));
        assert!(!digits.is_empty() && digits.len() <= 10);
        assert!(digits.iter().all(u8::is_ascii_digit));
        // Leading zeros aside, the number reads back as written.
        let trimmed: Vec<u8> = digits.iter().copied().skip_while(|&d| d == b'0').collect();
        let want = if trimmed.is_empty() {
            b"0".to_vec()
        } else {
            trimmed
        };
        assert_eq!(n.to_string().as_bytes(), &want[..]);
    }
});
