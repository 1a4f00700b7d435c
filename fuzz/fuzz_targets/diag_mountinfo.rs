#![no_main]
//! `/proc/PID/mountinfo` lines: never panic; a line printed the kernel's
//! way (octal escapes for space, tab, newline and backslash) parses back
//! to its fields; the cgroup2 mount is found in a table.
use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use raindrops_diag::cgroup::cgroup2_mount;
use raindrops_diag::procfs::{parse_mountinfo_line, unescape_octal};

fn mangle(b: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    for &c in b {
        if matches!(c, b' ' | b'\t' | b'\n' | b'\\') {
            v.extend_from_slice(format!("\\{c:03o}").as_bytes());
        } else {
            v.push(c);
        }
    }
    v
}

fuzz_target!(|data: &[u8]| {
    for line in data.split(|&b| b == b'\n') {
        if let Ok(m) = parse_mountinfo_line(line) {
            let _ = unescape_octal(m.mount_point).count();
        }
    }
    let _ = cgroup2_mount(data);
    let mut u = Unstructured::new(data);
    let (Ok(id), Ok(parent), Ok(major), Ok(minor)) = (
        u32::arbitrary(&mut u),
        u32::arbitrary(&mut u),
        u32::arbitrary(&mut u),
        u32::arbitrary(&mut u),
    ) else {
        return;
    };
    let rest = u.take_rest();
    let cut = rest.len() / 2;
    let (root, point) = rest.split_at(cut);
    if root.is_empty() || point.is_empty() {
        return;
    }
    let mut line = format!("{id} {parent} {major}:{minor} ").into_bytes();
    line.extend_from_slice(&mangle(root));
    line.push(b' ');
    line.extend_from_slice(&mangle(point));
    line.extend_from_slice(b" rw,relatime shared:5 - cgroup2 cgroup2 rw,nsdelegate");
    let m = parse_mountinfo_line(&line).unwrap();
    assert_eq!(
        (m.mount_id, m.parent_id, m.major, m.minor),
        (id, parent, major, minor)
    );
    assert_eq!(unescape_octal(m.root).collect::<Vec<_>>(), root);
    assert_eq!(unescape_octal(m.mount_point).collect::<Vec<_>>(), point);
    let found = cgroup2_mount(&line).unwrap();
    assert_eq!(found.root, root);
});
