#![no_main]
// Placeholder: the owning crate's session replaces this with the real target.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = data;
});
