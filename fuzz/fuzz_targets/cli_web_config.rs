#![no_main]
//! What `raindrops serve` reads from outside besides the kernel: the web
//! configuration file (YAML in the exporter-toolkit format), the
//! `Authorization: Basic` header and the ephemeral port range text. None
//! may panic or recurse without bound; a configuration that parses is
//! parsed the same way again.
use std::path::Path;

use libfuzzer_sys::fuzz_target;

#[allow(dead_code, unreachable_pub)]
#[path = "../../raindrops-cli/src/serve/web_config.rs"]
mod web_config;

#[allow(dead_code, unreachable_pub)]
#[path = "../../raindrops-cli/src/serve/basic.rs"]
mod basic;

#[allow(dead_code, unreachable_pub)]
#[path = "../../raindrops-cli/src/serve/port_range.rs"]
mod port_range;

fuzz_target!(|data: &[u8]| {
    let _ = basic::parse(data);
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let first = web_config::parse(s, Path::new("/etc/raindrops"));
    assert_eq!(first, web_config::parse(s, Path::new("/etc/raindrops")));
    let _ = port_range::parse(s);
    let _ = web_config::duration(s);
    let _ = web_config::is_bcrypt(s);
});
