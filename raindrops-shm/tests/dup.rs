//! Duplicating regions and named counter sets (Ruby's `Raindrops#dup` and
//! `Raindrops::Struct#dup`): fresh shared memory holding a copy, shared
//! with the children forked after it and with nobody else.

mod common;

use common::{ShmName, fork_children};
use raindrops_core::{CounterArray, named_counters};
use raindrops_shm::{Access, Backing, Options, Region, SharedCounters};

named_counters! {
    /// What a server reports.
    pub struct Stats {
        /// Requests in the application.
        calling,
        /// Responses being written.
        writing,
    }
}

#[test]
fn region_dup_copies_values_stride_and_names() {
    let names = ["a", "b"];
    for r in [
        Options::new().names(&names).anonymous(3).unwrap(),
        Options::new()
            .ruby_stride()
            .names(&names)
            .anonymous(3)
            .unwrap(),
        Options::new().names(&names).memfd("dup", 3).unwrap(),
    ] {
        r.set(0, 5).unwrap();
        r.set(2, 7).unwrap();
        let d = r.dup().unwrap();
        assert_eq!(d.backing(), Backing::Anonymous);
        assert_eq!((d.len(), d.stride()), (3, r.stride()));
        assert_eq!(d.to_vec(), [5, 0, 7]);
        assert_eq!(d.slot_names(), r.slot_names());
        // Independent both ways.
        r.incr(0, 1).unwrap();
        d.incr(2, 1).unwrap();
        assert_eq!((r.to_vec(), d.to_vec()), (vec![6, 0, 7], vec![5, 0, 8]));
    }
}

#[test]
fn dup_of_a_read_only_region_is_writable() {
    let name = ShmName::new("dup-ro");
    let w = Options::new()
        .names(&["x"])
        .create_named(&name.0, 2)
        .unwrap();
    w.set(1, 3).unwrap();
    let ro = Options::new()
        .access(Access::ReadOnly)
        .open_named(&name.0)
        .unwrap();
    let d = ro.dup().unwrap();
    d.incr(1, 1).unwrap();
    assert_eq!((d.get(1), w.get(1)), (Ok(4), Ok(3)));
    assert_eq!(d.slot_names().get(0), Some(&b"x"[..]));
}

#[test]
fn region_dup_is_shared_with_children_forked_after_it() {
    let r = Region::anonymous(2).unwrap();
    r.set(0, 10).unwrap();
    let d = r.dup().unwrap();
    let codes = fork_children(4, |_| {
        for _ in 0..1000 {
            if d.incr(0, 1).is_err() || r.incr(1, 1).is_err() {
                return 1;
            }
        }
        0
    });
    assert_eq!(codes, [0; 4]);
    // The children's increments reached both regions, each its own slot.
    assert_eq!(d.to_vec(), [4010, 0]);
    assert_eq!(r.to_vec(), [10, 4000]);
}

#[test]
fn named_set_dup_across_fork() {
    let stats =
        Stats::from_storage(SharedCounters::<{ Stats::LEN }>::named(&Stats::MEMBERS).unwrap());
    stats.calling().set(3);
    let copy = stats.dup_into(SharedCounters::copy_of).unwrap();
    // Another dup, through the storage's own (keeps the slot names).
    let again = Stats::from_storage(stats.storage().dup().unwrap());
    let codes = fork_children(3, |_| {
        for _ in 0..500 {
            copy.writing().incr(1);
            stats.calling().incr(1);
        }
        0
    });
    assert_eq!(codes, [0; 3]);
    assert_eq!((copy.calling().get(), copy.writing().get()), (3, 1500));
    assert_eq!((stats.calling().get(), stats.writing().get()), (1503, 0));
    assert_eq!((again.calling().get(), again.writing().get()), (3, 0));
    let names: Vec<_> = again.storage().region().slot_names().iter().collect();
    assert_eq!(names, [Some(&b"calling"[..]), Some(&b"writing"[..])]);
    // A set over a static copies into shared memory the same way.
    static LOCAL: Stats = Stats::with_values([1, 2]);
    let shared = LOCAL.dup_into(SharedCounters::copy_of).unwrap();
    assert_eq!(
        shared.iter().collect::<Vec<_>>(),
        [("calling", 1), ("writing", 2)]
    );
}
