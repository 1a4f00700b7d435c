#![no_main]
//! The outside bytes raindrops-shm reads: the header of named shm objects,
//! headered files and memfds, and the sysfs texts Ruby's slot size comes
//! from. None may panic; a header that parses re-emits to the same bytes and
//! describes an object that fits in memory.
use libfuzzer_sys::fuzz_target;
use raindrops_shm::header::{HEADER_LEN, Header};

fuzz_target!(|data: &[u8]| {
    if let Ok(h) = Header::parse(data) {
        assert!(h.validate().is_ok());
        assert!(h.len <= h.capacity);
        assert!(h.object_len() <= isize::MAX as u64);
        assert!(h.object_len() >= h.data_offset + h.capacity * h.stride);
        let bytes = h.to_bytes();
        // Everything but the reserved tail is reproduced.
        assert_eq!(&bytes[..56], &data[..56]);
        assert_eq!(Header::parse(&bytes), Ok(h));
        assert!(data.len() >= HEADER_LEN);
    }
    let _ = raindrops_shm::parse_cpu_list(data);
    if let Ok(n) = raindrops_shm::parse_decimal(data) {
        assert_eq!(
            raindrops_shm::parse_decimal(n.to_string().as_bytes()),
            Ok(n)
        );
    }
});
