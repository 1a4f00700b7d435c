#![no_main]
//! `--namespace NAME|PID|PATH`: never panics; a pid prints back to the
//! same digits, a path or a name keeps every byte.
use libfuzzer_sys::fuzz_target;
use raindrops_diag::NsSpec;
use std::os::unix::ffi::OsStrExt;

fuzz_target!(|data: &[u8]| {
    let s = std::ffi::OsStr::from_bytes(data);
    match NsSpec::parse(s) {
        Ok(NsSpec::Pid(p)) => assert_eq!(p.to_string().as_bytes(), data),
        Ok(NsSpec::Path(p)) => {
            assert_eq!(p.as_os_str().as_bytes(), data);
            assert!(data.contains(&b'/'));
        }
        Ok(NsSpec::Name(n)) => {
            assert_eq!(n.as_bytes(), data);
            assert!(!data.contains(&b'/') && !data.contains(&0));
        }
        Err(_) => {}
    }
});
