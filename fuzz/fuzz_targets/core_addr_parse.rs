#![no_main]
//! The listener address parser of raindrops-core: never panics, and whatever
//! it accepts prints back to a string that parses to the same address.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(addr) = raindrops_core::parse_tcp_addr(s) {
        let printed = addr.to_string();
        assert_eq!(raindrops_core::parse_tcp_addr(&printed), Ok(addr), "{s:?}");
    }
    let _ = raindrops_core::is_unix_name(s);
});
