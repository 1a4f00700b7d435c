#![no_main]
//! The outside bytes raindrops-shm reads: the header of named shm objects,
//! headered files and memfds with its slot name table, and the sysfs texts
//! Ruby's slot size comes from. None may panic; a header that parses
//! re-emits to the same bytes and describes an object that fits in memory;
//! a name table that parses has exactly its count of entries.
use libfuzzer_sys::fuzz_target;
use raindrops_shm::header::{HEADER_LEN, RegionHeader};
use raindrops_shm::names::SlotNames;

fuzz_target!(|data: &[u8]| {
    if let Ok(h) = RegionHeader::parse(data) {
        assert!(h.validate().is_ok());
        assert!(h.len <= h.capacity);
        assert!(h.object_len() <= isize::MAX as u64);
        assert!(h.object_len() >= h.data_offset + h.capacity * h.stride);
        let bytes = h.to_bytes();
        assert_eq!(&bytes[..], &data[..HEADER_LEN]);
        assert_eq!(RegionHeader::parse(&bytes), Ok(h));
        // The name table follows the header, as a reader finds it.
        let len = h.names_len as usize;
        assert!(HEADER_LEN as u64 + len as u64 <= h.data_offset);
        if let Some(table) = data.get(HEADER_LEN..HEADER_LEN + len) {
            if let Ok(names) = SlotNames::parse(table, h.names_count as usize) {
                assert_eq!(names.iter().count(), h.names_count as usize);
                assert!(
                    names
                        .iter()
                        .flatten()
                        .all(|n| n.len() <= raindrops_shm::MAX_NAME_LEN)
                );
            }
        }
    }
    // The table alone, with a count taken from the first byte.
    if let Some((&count, table)) = data.split_first() {
        if let Ok(names) = SlotNames::parse(table, usize::from(count)) {
            assert_eq!(names.len(), usize::from(count));
            assert_eq!(names.iter().count(), usize::from(count));
        }
    }
    let _ = raindrops_shm::__fuzz::parse_cpu_list(data);
    if let Ok(n) = raindrops_shm::__fuzz::parse_decimal(data) {
        assert_eq!(
            raindrops_shm::__fuzz::parse_decimal(n.to_string().as_bytes()),
            Ok(n)
        );
    }
});
