//! Unrelated processes attaching by name, path and descriptor, and every
//! way an object can be wrong.

mod common;

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::Command;

use common::{ShmName, TempPath};
use raindrops_core::CounterArray;
use raindrops_shm::header::{Kind, RegionHeader};
use raindrops_shm::{
    Access, Backing, Error, LayoutError, MAGIC, Options, Region, SharedAggregate, VERSION,
};

/// The variable that makes `peer` act; unset in normal runs.
const PEER: &str = "RAINDROPS_SHM_PEER";

/// Runs in a separate process started by `spawn_peer` (a fresh exec of this
/// test binary, not a fork): attaches as told by `RAINDROPS_SHM_PEER`, checks
/// the values the first process wrote, and adds its own.
#[test]
fn peer() {
    let Ok(spec) = std::env::var(PEER) else {
        return; // a normal test run: nothing to do
    };
    let (how, what) = spec.split_once(':').expect("how:what");
    if how == "aggregate" {
        let agg = SharedAggregate::open_named(what).expect("open aggregate");
        assert_eq!(agg.snapshot().count(), 2, "the first process's samples");
        agg.push(1000);
        return;
    }
    let region = match how {
        "named" => Region::open_named(what),
        "file" => Options::new().open_file(what),
        "fd" => {
            let raw: i32 = what.parse().expect("fd number");
            // SAFETY: the parent passed this descriptor open and without
            // CLOEXEC for this process to own; nothing else here uses it.
            let fd = unsafe { OwnedFd::from_raw_fd(raw) };
            Options::new().from_fd(fd)
        }
        "read-only" => Region::open_read_only(what),
        other => panic!("unknown peer mode {other}"),
    }
    .expect("attach");
    assert_eq!(region.len(), 5);
    assert_eq!(region.get(0), Ok(11));
    assert_eq!(region.get(1), Ok(22));
    if how == "fd" {
        assert!(region.is_shrink_sealed(), "a memfd arrives sealed");
    }
    if how == "read-only" {
        assert_eq!(region.access(), Access::ReadOnly);
        return;
    }
    region.incr(2, 33).unwrap();
    region.set(4, 44).unwrap();
}

fn spawn_peer(spec: &str, configure: impl FnOnce(&mut Command)) {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", "peer", "--nocapture", "--test-threads=1"])
        .env(PEER, spec);
    configure(&mut cmd);
    let out = cmd.output().expect("spawn the peer");
    assert!(
        out.status.success(),
        "peer {spec} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // The peer really ran the test (and did not filter it away).
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("1 passed"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

fn seed(r: &Region) {
    r.set(0, 11).unwrap();
    r.set(1, 22).unwrap();
}

fn check_peer_wrote(r: &Region) {
    assert_eq!(r.get(2), Ok(33));
    assert_eq!(r.get(4), Ok(44));
}

#[test]
fn another_process_attaches_by_name() {
    let name = ShmName::new("peer-named");
    let r = Region::create_named(&name.0, 5).unwrap();
    seed(&r);
    spawn_peer(&format!("named:{}", name.0), |_| {});
    check_peer_wrote(&r);
    spawn_peer(&format!("read-only:shm:{}", name.0), |_| {});
}

#[test]
fn another_process_attaches_by_path() {
    let path = TempPath::new("peer-file");
    let r = Options::new().create_file(path.path(), 5).unwrap();
    seed(&r);
    spawn_peer(&format!("file:{}", path.str()), |_| {});
    check_peer_wrote(&r);
    spawn_peer(&format!("read-only:{}", path.str()), |_| {});
}

#[test]
fn another_process_gets_the_memfd() {
    let r = Region::memfd("raindrops-peer", 5).unwrap();
    seed(&r);
    // dup() clears FD_CLOEXEC, so the peer inherits this descriptor.
    let inheritable = rustix::io::dup(r.fd().unwrap()).unwrap();
    let raw = inheritable.as_raw_fd();
    spawn_peer(&format!("fd:{raw}"), |_| {});
    drop(inheritable);
    check_peer_wrote(&r);
}

#[test]
fn another_process_feeds_a_named_aggregate() {
    let name = ShmName::new("peer-agg");
    let agg = SharedAggregate::create_named(&name.0).unwrap();
    agg.push(1);
    agg.push(2);
    spawn_peer(&format!("aggregate:{}", name.0), |_| {});
    let s = agg.snapshot();
    assert_eq!((s.count(), s.max()), (3, Some(1000)));
}

/// A read-only attachment sees values written after it attached, on pages
/// it had already read while they were holes, and its own writes never
/// reach the object.
#[test]
fn read_only_follows_live_values() {
    let name = ShmName::new("ro-live");
    let len = 200; // several pages at any stride
    let w = Region::create_named(&name.0, len).unwrap();
    let r = Options::new()
        .access(Access::ReadOnly)
        .open_named(&name.0)
        .unwrap();
    assert_eq!(r.len(), len);
    assert!(r.values().all(|v| v == 0));
    w.set(len - 1, 9).unwrap();
    w.set(len / 2, 8).unwrap();
    assert_eq!(r.get(len - 1), Ok(9));
    assert_eq!(r.get(len / 2), Ok(8));
    let mut r = r;
    assert_eq!(r.set_len(r.capacity() + 1), Err(Error::NotCreator));
    r.incr(0, 1).unwrap();
    assert_eq!(w.get(0), Ok(0), "private writes stay private");
}

#[test]
fn attachers_see_the_creators_length() {
    let name = ShmName::new("len");
    let mut w = Region::create_named(&name.0, 3).unwrap();
    assert_eq!(Region::open_named(&name.0).unwrap().len(), 3);
    w.set_len(2).unwrap();
    assert_eq!(Region::open_named(&name.0).unwrap().len(), 2);
    let grown = w.capacity() + 5;
    w.set_len(grown).unwrap();
    w.set(grown - 1, 77).unwrap();
    let a = Region::open_named(&name.0).unwrap();
    assert_eq!((a.len(), a.capacity()), (grown, w.capacity()));
    assert_eq!(a.get(grown - 1), Ok(77));
    let mut a = a;
    assert_eq!(a.set_len(a.capacity() + 1), Err(Error::NotCreator));
}

fn header_file(tag: &str, bytes: &[u8]) -> TempPath {
    let path = TempPath::new(tag);
    std::fs::write(path.path(), bytes).unwrap();
    path
}

fn object_bytes(h: &RegionHeader) -> Vec<u8> {
    let mut v = vec![0u8; h.object_len() as usize];
    v[..64].copy_from_slice(&h.to_bytes());
    v
}

#[test]
fn each_fault_has_its_error() {
    let good = RegionHeader::counters(raindrops_core::CACHE_LINE, 2, 4);
    let o = Options::new();

    // A good file opens.
    let ok = header_file("ok", &object_bytes(&good));
    let r = o.open_file(ok.path()).unwrap();
    assert_eq!((r.len(), r.capacity()), (2, 4));
    assert_eq!(r.backing(), Backing::File);

    // Wrong magic: zeros.
    let zeros = header_file("zeros", &[0u8; 4096]);
    assert_eq!(
        o.open_file(zeros.path()).unwrap_err(),
        Error::BadMagic { found: [0; 8] }
    );

    // Wrong version.
    let mut b = object_bytes(&good);
    b[8..12].copy_from_slice(&(VERSION + 1).to_ne_bytes());
    let v = header_file("version", &b);
    assert_eq!(
        o.open_file(v.path()).unwrap_err(),
        Error::UnsupportedVersion {
            found: VERSION + 1,
            supported: VERSION
        }
    );

    // Truncated: shorter than the header says, and shorter than a header.
    let b = object_bytes(&good);
    let t = header_file("trunc", &b[..b.len() - 1]);
    assert_eq!(
        o.open_file(t.path()).unwrap_err(),
        Error::Truncated {
            needed: b.len() as u64,
            len: b.len() as u64 - 1
        }
    );
    let t = header_file("trunc-hdr", &b[..10]);
    assert_eq!(
        o.open_file(t.path()).unwrap_err(),
        Error::Truncated {
            needed: 64,
            len: 10
        }
    );
    let empty = header_file("empty", &[]);
    assert!(matches!(
        o.open_file(empty.path()).unwrap_err(),
        Error::Truncated { len: 0, .. }
    ));

    // Bad layout.
    let mut bad = good;
    bad.stride = 12;
    let mut b = object_bytes(&good);
    b[..64].copy_from_slice(&bad.to_bytes());
    let l = header_file("stride", &b);
    assert_eq!(
        o.open_file(l.path()).unwrap_err(),
        Error::BadLayout(LayoutError::Stride { stride: 12 })
    );
    let mut agg = good;
    agg.kind = Kind::Aggregate;
    let k = header_file("kind", &object_bytes(&agg));
    assert_eq!(
        o.open_file(k.path()).unwrap_err(),
        Error::BadLayout(LayoutError::Kind { found: 2 })
    );

    // Missing name, missing file.
    let missing = ShmName::new("missing");
    assert_eq!(Region::open_named(&missing.0).unwrap_err(), Error::NotFound);
    let nofile = TempPath::new("nofile");
    assert_eq!(o.open_file(nofile.path()).unwrap_err(), Error::NotFound);

    // Already exists.
    let name = ShmName::new("twice");
    let _first = Region::create_named(&name.0, 1).unwrap();
    assert_eq!(
        Region::create_named(&name.0, 1).unwrap_err(),
        Error::AlreadyExists
    );
    assert_eq!(
        o.create_file(ok.path(), 1).unwrap_err(),
        Error::AlreadyExists
    );

    // Bad requests.
    assert_eq!(Region::open_named("a/b").unwrap_err(), Error::BadName);
    assert_eq!(Region::anonymous(0).unwrap_err(), Error::ZeroLength);
    assert_eq!(
        o.stride(12).anonymous(1).unwrap_err(),
        Error::BadLayout(LayoutError::Stride { stride: 12 })
    );
    assert_eq!(
        Region::anonymous(usize::MAX).unwrap_err(),
        Error::BadLayout(LayoutError::TooLarge)
    );

    // Not a regular file: a directory, a FIFO (which must not block).
    let dir = std::env::temp_dir();
    assert_eq!(
        o.access(Access::ReadOnly).open_file(&dir).unwrap_err(),
        Error::NotRegularFile
    );
    let fifo = TempPath::new("fifo");
    let c = std::ffi::CString::new(fifo.str()).unwrap();
    // SAFETY: `c` is a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    assert_eq!(o.open_file(fifo.path()).unwrap_err(), Error::NotRegularFile);
    assert_eq!(
        o.access(Access::ReadOnly)
            .open_file(fifo.path())
            .unwrap_err(),
        Error::NotRegularFile
    );
}

/// A named object shrunk by someone else is refused before mapping.
#[test]
fn truncated_shm_object() {
    let name = ShmName::new("shrunk");
    let r = Region::create_named(&name.0, 100).unwrap();
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(format!("/dev/shm{}", name.0))
        .unwrap();
    f.set_len(200).unwrap();
    assert!(matches!(
        Region::open_named(&name.0).unwrap_err(),
        Error::Truncated { len: 200, .. }
    ));
    // `r`'s mapping now has pages past the end: never touched again here,
    // only unmapped (this is the hazard the memfd seal prevents).
    drop(r);
}

#[test]
fn memfd_cannot_be_shrunk() {
    let r = Region::memfd("raindrops-seal", 3).unwrap();
    let fd = r.fd().unwrap();
    assert_eq!(
        rustix::fs::ftruncate(fd, 64),
        Err(rustix::io::Errno::PERM),
        "F_SEAL_SHRINK refuses"
    );
    assert_eq!(
        rustix::fs::fcntl_add_seals(fd, rustix::fs::SealFlags::GROW),
        Err(rustix::io::Errno::PERM),
        "F_SEAL_SEAL fixes the seal set"
    );
    r.incr(2, 1).unwrap();
}

#[test]
fn open_detects_the_layout() {
    // Headered file.
    let path = TempPath::new("detect-ours");
    let w = Options::new().create_file(path.path(), 3).unwrap();
    w.set(2, 5).unwrap();
    let r = Region::open_read_only(path.str()).unwrap();
    assert_eq!((r.backing(), r.len(), r.get(2)), (Backing::File, 3, Ok(5)));

    // Ruby layout: every whole slot of Ruby's stride.
    let path = TempPath::new("detect-ruby");
    let w = Options::new().ruby_file(path.path(), 3).unwrap();
    w.set(1, 6).unwrap();
    let r = Region::open_read_only(path.str()).unwrap();
    assert_eq!(r.backing(), Backing::RubyFile);
    assert_eq!(r.len(), w.capacity());
    assert_eq!(r.stride(), raindrops_shm::ruby_stride());
    assert_eq!(r.get(1), Ok(6));

    // Named.
    let name = ShmName::new("detect");
    let w = Region::create_named(&name.0, 2).unwrap();
    w.set(1, 4).unwrap();
    let r = Region::open_read_only(&format!("shm:{}", name.0)).unwrap();
    assert_eq!((r.backing(), r.get(1)), (Backing::Named, Ok(4)));

    // Neither headered nor whole pages (as Ruby's files always are): not
    // a counter region. A file starting with the magic that is not a valid
    // header is refused, not read as Ruby counters.
    let short = header_file("short", &[1, 2, 3]);
    assert!(matches!(
        Region::open_read_only(short.str()).unwrap_err(),
        Error::BadMagic { .. }
    ));
    let text = header_file("text", b"not counters, just a 39-byte text file\n");
    assert!(matches!(
        Region::open_read_only(text.str()).unwrap_err(),
        Error::BadMagic { .. }
    ));
    // Too short for one Ruby slot is still its own error when asked for
    // Ruby's layout explicitly.
    assert!(matches!(
        Options::new().open_ruby_file(short.path()).unwrap_err(),
        Error::Truncated { len: 3, .. }
    ));
    let mut b = vec![0u8; 4096];
    b[..8].copy_from_slice(MAGIC);
    let fake = header_file("fake", &b);
    assert!(matches!(
        Region::open_read_only(fake.str()).unwrap_err(),
        Error::BadLayout(LayoutError::ByteOrder)
    ));
    assert_eq!(
        Region::open_read_only("shm:/raindrops-shm-test-no-such-name").unwrap_err(),
        Error::NotFound
    );
}
