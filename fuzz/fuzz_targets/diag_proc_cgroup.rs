#![no_main]
//! `/proc/PID/cgroup` and `/proc/PID/cmdline`: never panic; the path of a
//! `0::` line after any v1 lines is found as written.
use libfuzzer_sys::fuzz_target;
use raindrops_diag::procfs::{cgroup_v2_path, cmdline_args};

fuzz_target!(|data: &[u8]| {
    if let Some(p) = cgroup_v2_path(data) {
        assert!(p.starts_with(b"/") && !p.contains(&b'\n'));
    }
    let n = cmdline_args(data).count();
    assert!(n <= data.len() + 1);
    // A v1 line, then the unified one with a path made of the input.
    let path: Vec<u8> = data
        .iter()
        .map(|&b| if b == b'\n' { b'_' } else { b })
        .collect();
    let mut text = b"4:memory:/a\n0::/".to_vec();
    text.extend_from_slice(&path);
    text.push(b'\n');
    let got = cgroup_v2_path(&text).unwrap();
    assert_eq!(&got[1..], &path[..]);
});
