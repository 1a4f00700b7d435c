#![no_main]
//! `/proc/PID/stat`: never panics on any bytes; a line printed the
//! kernel's way (any command name but NUL, fields after the start time or
//! not) parses back to its values.
use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use raindrops_diag::procfs::parse_stat;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = parse_stat(data) {
        // The name is the text between the first '(' and the last ')'.
        let open = data.iter().position(|&b| b == b'(').unwrap();
        assert_eq!(s.comm, &data[open + 1..open + 1 + s.comm.len()]);
        assert_eq!(data[open + 1 + s.comm.len()], b')');
    }
    let mut u = Unstructured::new(data);
    let (Ok(pid), Ok(ppid), Ok(start), Ok(tail)) = (
        u32::arbitrary(&mut u),
        u32::arbitrary(&mut u),
        u64::arbitrary(&mut u),
        bool::arbitrary(&mut u),
    ) else {
        return;
    };
    let comm: Vec<u8> = u
        .bytes(u.len().min(64))
        .unwrap_or(&[])
        .iter()
        .map(|&b| if b == 0 { b'?' } else { b })
        .collect();
    let mut line = format!("{pid} (").into_bytes();
    line.extend_from_slice(&comm);
    line.extend_from_slice(
        format!(") S {ppid} 1 1 0 -1 4194304 102 0 0 0 0 0 0 0 20 0 1 0 {start}").as_bytes(),
    );
    if tail {
        line.extend_from_slice(b" 3133440 414 18446744073709551615 1 2\n");
    }
    let s = parse_stat(&line).unwrap();
    assert_eq!(
        (s.pid, s.comm, s.state, s.ppid, s.start_time),
        (pid, &comm[..], b'S', ppid, start)
    );
});
