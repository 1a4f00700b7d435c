#![no_main]
//! /proc/net/unix text: every line parsed without panics, counted into a
//! fixed table; and a line printed the kernel's way parses back to its
//! values.
use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use raindrops_diag::proc_unix::{ProcNetUnix, parse_line};
use raindrops_diag::{UnixCounter, UnixQuery, UnixTable};

fuzz_target!(|data: &[u8]| {
    let counter = UnixCounter::new(&[], &UnixQuery::new());
    let mut t = UnixTable::<8>::new();
    let _ = counter.start(&mut t);
    for l in ProcNetUnix::new(data).flatten() {
        let _ = counter.proc_line(&mut t, &l);
    }
    counter.finish(&mut t);

    let mut u = Unstructured::new(data);
    let (Ok(rc), Ok(flags), Ok(ty), Ok(st), Ok(ino)) = (
        u32::arbitrary(&mut u),
        u32::arbitrary(&mut u),
        u16::arbitrary(&mut u),
        u8::arbitrary(&mut u),
        u64::arbitrary(&mut u),
    ) else {
        return;
    };
    let path: Vec<u8> = u
        .bytes(u.len().min(108))
        .unwrap_or(&[])
        .iter()
        .map(|&b| if b == b'\n' { b'@' } else { b })
        .collect();
    let mut line =
        format!("0000000000000000: {rc:08X} 00000000 {flags:08X} {ty:04X} {st:02X} {ino:5}")
            .into_bytes();
    if !path.is_empty() {
        line.push(b' ');
        line.extend_from_slice(&path);
    }
    let l = parse_line(&line).unwrap();
    assert_eq!(
        (l.refcount, l.flags, l.sock_type, l.state, l.inode),
        (rc, flags, ty, st, ino)
    );
    assert_eq!(
        l.path,
        if path.is_empty() {
            None
        } else {
            Some(&path[..])
        }
    );
});
