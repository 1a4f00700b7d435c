//! Forked children and their parent sharing counters, for every backing.

mod common;

use common::{ShmName, TempPath, fork_children, fork_each, wait_all, wait_until};
use raindrops_core::CounterArray;
use raindrops_shm::{Backing, Error, Options, Region, SharedAggregate};

const CHILDREN: usize = 4;
const INCREMENTS: usize = 20_000;

// Counter roles in `exercise`.
const FROM_PARENT_BEFORE: usize = 0;
const FROM_PARENT_AFTER: usize = 1;
const SUM: usize = 2;
const PER_CHILD: usize = 3;
const LEN: usize = PER_CHILD + CHILDREN;

/// N children x M increments on one counter give N x M in the parent, and
/// values cross both ways: the parent's writes from before and after the
/// fork reach every child, each child's own write reaches the parent.
/// The parent uses `parent`, the children `workers`: the same region, or
/// another mapping of the same object.
fn exercise(parent: &Region, workers: &Region) {
    assert!(parent.len() >= LEN && workers.len() >= LEN);
    parent.clear();
    parent.set(FROM_PARENT_BEFORE, 42).unwrap();
    let pids = fork_each(CHILDREN, |i| {
        if workers.get(FROM_PARENT_BEFORE) != Ok(42) {
            return 2;
        }
        if !wait_until(|| workers.get(FROM_PARENT_AFTER) == Ok(7)) {
            return 3;
        }
        for _ in 0..INCREMENTS {
            if workers.incr(SUM, 1).is_err() {
                return 4;
            }
        }
        if workers.set(PER_CHILD + i, 100 + i).is_err() {
            return 5;
        }
        0
    });
    // Written after the fork: the children wait for it.
    parent.set(FROM_PARENT_AFTER, 7).unwrap();
    // The parent increments at the same time as its children.
    for _ in 0..INCREMENTS {
        parent.incr(SUM, 1).unwrap();
    }
    assert_eq!(wait_all(pids), vec![0; CHILDREN], "child exit codes");
    assert_eq!(parent.get(SUM), Ok((CHILDREN + 1) * INCREMENTS));
    assert_eq!(workers.get(SUM), Ok((CHILDREN + 1) * INCREMENTS));
    for i in 0..CHILDREN {
        assert_eq!(parent.get(PER_CHILD + i), Ok(100 + i));
    }
}

#[test]
fn anonymous() {
    let r = Region::anonymous(LEN).unwrap();
    assert_eq!(r.backing(), Backing::Anonymous);
    exercise(&r, &r);
    let r = Options::new().ruby_stride().anonymous(LEN).unwrap();
    exercise(&r, &r);
    let r = Options::new().stride(8).anonymous(LEN).unwrap();
    exercise(&r, &r);
}

#[test]
fn named() {
    let name = ShmName::new("fork-named");
    let r = Region::create_named(&name.0, LEN).unwrap();
    exercise(&r, &r);
    let attached = Region::open_named(&name.0).unwrap();
    exercise(&r, &attached);
    exercise(&attached, &r);
}

#[test]
fn headered_file() {
    let path = TempPath::new("fork-file");
    let r = Options::new().create_file(path.path(), LEN).unwrap();
    assert_eq!(r.backing(), Backing::File);
    exercise(&r, &r);
    let attached = Options::new().open_file(path.path()).unwrap();
    exercise(&r, &attached);
}

#[test]
fn ruby_file() {
    let path = TempPath::new("fork-ruby");
    let r = Options::new().ruby_file(path.path(), LEN).unwrap();
    assert_eq!(r.backing(), Backing::RubyFile);
    exercise(&r, &r);
    let attached = Options::new().open_ruby_file(path.path()).unwrap();
    assert_eq!(attached.len(), r.capacity());
    exercise(&r, &attached);
}

#[test]
fn memfd() {
    let r = Region::memfd("raindrops-fork-test", LEN).unwrap();
    assert!(r.is_shrink_sealed());
    exercise(&r, &r);
    let fd = r.fd().unwrap().try_clone_to_owned().unwrap();
    let attached = Options::new().from_fd(fd).unwrap();
    assert!(attached.is_shrink_sealed());
    exercise(&r, &attached);
}

/// A forked child cannot grow past the capacity; it gets a clear error and
/// both its mapping and the parent's stay valid; the parent still can grow.
fn child_cannot_grow(mut r: Region) {
    let parent = std::process::id() as i32;
    let capacity = r.capacity();
    r.set(0, 5).unwrap();
    let codes = fork_children(1, |_| {
        match r.set_len(capacity + 1) {
            Err(Error::ForkedChild { creator }) if creator == parent => {}
            _ => return 2,
        }
        // Unchanged, and still shared.
        if r.capacity() != capacity || r.incr(0, 1) != Ok(6) {
            return 3;
        }
        // Within the capacity a child may still change its own length.
        if r.set_len(1).is_err() || r.len() != 1 {
            return 4;
        }
        0
    });
    assert_eq!(codes, [0]);
    assert_eq!(r.get(0), Ok(6));
    assert_eq!(r.capacity(), capacity);
    r.set_len(capacity + 1).unwrap();
    assert!(r.capacity() > capacity);
    assert_eq!(r.get(0), Ok(6));
    assert_eq!(r.incr(capacity, 2), Ok(2));
}

#[test]
fn child_cannot_grow_any_backing() {
    child_cannot_grow(Region::anonymous(1).unwrap());
    let name = ShmName::new("fork-grow");
    child_cannot_grow(Region::create_named(&name.0, 1).unwrap());
    child_cannot_grow(Region::memfd("raindrops-fork-grow", 1).unwrap());
    let path = TempPath::new("fork-grow-ruby");
    child_cannot_grow(Options::new().ruby_file(path.path(), 1).unwrap());
    let path = TempPath::new("fork-grow-file");
    child_cannot_grow(Options::new().create_file(path.path(), 1).unwrap());
}

/// A memfd grows in place: a child forked before the growth still shares
/// the old slots with the grown parent.
#[test]
fn memfd_growth_keeps_sharing() {
    let mut r = Region::memfd("raindrops-fork-memfd-grow", 2).unwrap();
    let old_capacity = r.capacity();
    let pids = fork_each(1, |_| {
        if !wait_until(|| r.get(1) == Ok(1)) {
            return 2;
        }
        if r.incr(0, 10).is_err() {
            return 3;
        }
        0
    });
    r.set_len(old_capacity * 3).unwrap();
    r.set(1, 1).unwrap();
    assert_eq!(wait_all(pids), [0]);
    assert_eq!(r.get(0), Ok(10));
    assert_eq!(r.len(), old_capacity * 3);
}

/// A child dropping its copy of a region with `unlink_on_drop` leaves the
/// parent's name alone; the parent's drop removes it.
#[test]
fn child_never_unlinks() {
    let name = ShmName::new("fork-unlink");
    let mut region = Some(
        Options::new()
            .unlink_on_drop(true)
            .create_named(&name.0, 1)
            .unwrap(),
    );
    let codes = fork_children(1, |_| {
        drop(region.take());
        0
    });
    assert_eq!(codes, [0]);
    let attached = Region::open_named(&name.0).expect("the name survives the child");
    drop(region.take());
    assert_eq!(Region::open_named(&name.0).unwrap_err(), Error::NotFound);
    // The attached mapping stays valid after the unlink.
    attached.incr(0, 1).unwrap();
}

#[test]
fn aggregate_fed_by_workers() {
    let agg = SharedAggregate::anonymous().unwrap();
    let codes = fork_children(CHILDREN, |_| {
        for v in 0..INCREMENTS as u64 {
            agg.push(v);
        }
        0
    });
    assert_eq!(codes, vec![0; CHILDREN]);
    let s = agg.snapshot();
    assert_eq!(s.count(), (CHILDREN * INCREMENTS) as u64);
    let per_child: u128 = (0..INCREMENTS as u128).sum();
    assert_eq!(s.sum(), per_child * CHILDREN as u128);
    assert_eq!(s.min(), Some(0));
    assert_eq!(s.max(), Some(INCREMENTS as u64 - 1));

    let name = ShmName::new("fork-agg");
    let named = SharedAggregate::create_named(&name.0).unwrap();
    let codes = fork_children(2, |i| {
        named.push(10 * (i as u64 + 1));
        0
    });
    assert_eq!(codes, [0, 0]);
    let again = SharedAggregate::open_named(&name.0).unwrap();
    assert_eq!(again.snapshot().count(), 2);
    assert_eq!(again.snapshot().sum(), 30);
}
