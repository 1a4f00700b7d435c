//! Region behaviour within one process: sizes, dup, evaporate, slots.

mod common;

use common::{ShmName, TempPath};
use raindrops_core::{CACHE_LINE, CounterArray, Counters, Sharded, named_counters};
use raindrops_shm::{Error, Options, Region, page_size, ruby_stride};

#[test]
fn capacity_is_whole_pages() {
    let r = Region::anonymous(1).unwrap();
    assert_eq!(r.stride(), CACHE_LINE);
    assert_eq!(r.capacity(), page_size() / CACHE_LINE);
    let r = Region::anonymous(page_size() / CACHE_LINE + 1).unwrap();
    assert_eq!(r.capacity(), 2 * page_size() / CACHE_LINE);
    // Headered objects lose the header's share of the first page.
    let name = ShmName::new("capa");
    let r = Region::create_named(&name.0, 1).unwrap();
    assert_eq!(
        r.capacity(),
        (page_size() - raindrops_shm::header::DATA_OFFSET) / CACHE_LINE
    );
}

#[test]
fn set_len_like_ruby_size() {
    let mut r = Region::anonymous(3).unwrap();
    let capacity = r.capacity();
    r.set(2, 9).unwrap();
    r.set_len(1).unwrap();
    assert_eq!(r.len(), 1);
    assert_eq!(
        r.get(2),
        Err(raindrops_core::Error::IndexOutOfRange { index: 2, len: 1 })
    );
    r.set_len(capacity).unwrap();
    assert_eq!(r.get(2), Ok(9), "values past the length are kept");
    assert_eq!(r.capacity(), capacity, "free within the capacity");
    // Past the capacity: anonymous memory moves, values come along.
    r.set(capacity - 1, 7).unwrap();
    r.set_len(3 * capacity + 1).unwrap();
    assert_eq!(r.capacity(), 4 * capacity);
    assert_eq!((r.get(2), r.get(capacity - 1)), (Ok(9), Ok(7)));
    assert_eq!(r.get(3 * capacity), Ok(0));
    r.set_len(0).unwrap();
    assert!(r.is_empty());
}

#[test]
fn grow_named_and_ruby_file() {
    let name = ShmName::new("grow");
    let mut r = Region::create_named(&name.0, 1).unwrap();
    r.set(0, 1).unwrap();
    let c = r.capacity();
    r.set_len(c * 2).unwrap();
    r.set(c * 2 - 1, 2).unwrap();
    let a = Region::open_named(&name.0).unwrap();
    assert_eq!((a.get(0), a.get(c * 2 - 1)), (Ok(1), Ok(2)));

    let path = TempPath::new("grow-ruby");
    let mut r = Options::new().ruby_file(path.path(), 1).unwrap();
    let c = r.capacity();
    r.set_len(c + 1).unwrap();
    assert_eq!(
        std::fs::metadata(path.path()).unwrap().len() as usize,
        r.capacity() * ruby_stride()
    );
}

#[test]
fn dup_is_independent() {
    let name = ShmName::new("dup");
    let r = Options::new()
        .ruby_stride()
        .create_named(&name.0, 4)
        .unwrap();
    r.set(3, 30).unwrap();
    let d = r.dup().unwrap();
    assert_eq!(d.backing(), raindrops_shm::Backing::Anonymous);
    assert_eq!((d.len(), d.stride()), (4, r.stride()));
    assert_eq!(d.get(3), Ok(30));
    d.incr(3, 1).unwrap();
    r.incr(0, 1).unwrap();
    assert_eq!((r.get(3), d.get(0)), (Ok(30), Ok(0)));
}

#[test]
fn evaporate_and_unlink() {
    let r = Region::anonymous(2).unwrap();
    r.incr(1, 1).unwrap();
    r.evaporate().unwrap();

    // unlink_on_drop for a created file; explicit unlink for a name.
    let path = TempPath::new("drop-unlink");
    let r = Options::new()
        .unlink_on_drop(true)
        .create_file(path.path(), 1)
        .unwrap();
    assert!(path.path().exists());
    r.evaporate().unwrap();
    assert!(!path.path().exists());

    let name = ShmName::new("unlink");
    let r = Region::create_named(&name.0, 1).unwrap();
    r.unlink().unwrap();
    assert_eq!(Region::open_named(&name.0).unwrap_err(), Error::NotFound);
    r.incr(0, 1).unwrap(); // the mapping outlives the name
    assert_eq!(r.name(), Some(name.0.as_str()));

    // Without the option, dropping leaves the name.
    let name = ShmName::new("keep");
    drop(Region::create_named(&name.0, 1).unwrap());
    assert!(Region::open_named(&name.0).is_ok());
}

named_counters! {
    /// The gauges of the middleware.
    struct Gauges { calling, writing }
}

#[test]
fn slots_feed_core_types() {
    let r = Region::anonymous(6).unwrap();
    let slots = r.slots().expect("default stride");
    assert_eq!(slots.len(), 6);
    let g = Gauges::from_slots(slots).unwrap();
    g.writing().incr(2);
    assert_eq!(r.get(1), Ok(2));
    let fixed = Counters::<6>::from_slots(slots).unwrap();
    assert_eq!(fixed.get(1), Ok(2));
    let shards = Sharded::new(&slots[2..]);
    shards.shard(3).unwrap().incr(4);
    assert_eq!(r.get(5), Ok(4));
    assert_eq!(shards.sum(), 4);

    // Ruby's stride (64 here) is not a PaddedSlot (128 on x86-64).
    let ruby = Options::new().ruby_stride().anonymous(2).unwrap();
    assert_eq!(
        ruby.slots().is_some(),
        ruby_stride() == CACHE_LINE,
        "slots only at CACHE_LINE stride"
    );
    // Headered objects keep slots aligned.
    let name = ShmName::new("slots");
    let n = Region::create_named(&name.0, 2).unwrap();
    assert!(n.slots().is_some());
}

#[test]
fn threads_share_a_region() {
    let r = Region::anonymous(1).unwrap();
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..10_000 {
                    r.incr(0, 1).unwrap();
                }
            });
        }
    });
    assert_eq!(r.get(0), Ok(40_000));
}

#[test]
fn debug_and_accessors() {
    let name = ShmName::new("debug");
    let r = Region::create_named(&name.0, 2).unwrap();
    let s = format!("{r:?}");
    assert!(s.contains("Named") && s.contains(&name.0), "{s}");
    assert!(r.fd().is_some() && r.path().is_none());
    assert!(!r.is_shrink_sealed());
    assert!(Region::anonymous(1).unwrap().fd().is_none());
    let io: std::io::Error = Error::NotFound.into();
    assert_eq!(io.kind(), std::io::ErrorKind::NotFound);
}
