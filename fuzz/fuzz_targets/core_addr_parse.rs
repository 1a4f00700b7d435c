#![no_main]
//! The listener address and selector parsers of raindrops-core: they never
//! panic, whatever they accept prints back to a string that parses to the
//! same value, and the Unix name glob never panics on any pattern and name.
use libfuzzer_sys::fuzz_target;
use raindrops_core::{Family, ListenStats, Listener, PortRange, Selector, UnixPattern};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(addr) = raindrops_core::parse_tcp_addr(s) {
        let printed = addr.to_string();
        assert_eq!(raindrops_core::parse_tcp_addr(&printed), Ok(addr), "{s:?}");
        // An exact address is also a selector that takes that listener.
        let sel = Selector::parse(s).expect("an address is a selector");
        let l = Listener::new(
            printed.as_str(),
            Family::of_addr(&addr),
            ListenStats::new(0, 0),
        );
        assert!(sel.matches(&l), "{s:?}");
    }
    let _ = raindrops_core::is_unix_name(s);
    if let Ok(sel) = Selector::parse(s) {
        let printed = sel.to_string();
        assert_eq!(Selector::parse(&printed), Ok(sel), "{s:?}");
    }
    let _ = PortRange::parse_local_port_range(s);
    // A pattern and a name: the first line and the rest.
    if let Some((p, name)) = s.split_once('\n') {
        if let Some(p) = UnixPattern::new(p) {
            let _ = p.matches(name);
        }
    }
});
