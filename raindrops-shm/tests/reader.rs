//! `RegionReader` against objects that change under it: shrunk by another
//! process while read, truncated in the middle of a long read, sparse.

mod common;

use std::io::Write as _;
use std::os::unix::fs::MetadataExt as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use common::{ShmName, TempPath};
use raindrops_core::CounterArray;
use raindrops_shm::header::RegionHeader;
use raindrops_shm::{Backing, Error, Options, RegionReader};

/// A file holding `header`, `size` bytes long (sparse past the header).
fn headered(path: &std::path::Path, header: &RegionHeader, size: u64) -> std::fs::File {
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .unwrap();
    f.write_all(&header.to_bytes()).unwrap();
    f.set_len(size).unwrap();
    f
}

#[test]
fn reads_values_and_names_of_every_headered_backing() {
    let names = ["calling", "", "writing"];
    let opts = Options::new().names(&names);
    let shm = ShmName::new("reader");
    let file = TempPath::new("reader");
    let regions = [
        opts.create_named(&shm.0, 4).unwrap(),
        opts.create_file(file.path(), 4).unwrap(),
    ];
    for (r, target) in regions
        .iter()
        .zip([format!("shm:{}", shm.0), file.str().to_owned()])
    {
        r.set(0, 3).unwrap();
        r.set(3, 9).unwrap();
        let reader = RegionReader::open(&target).unwrap();
        assert_eq!((reader.len(), reader.stride()), (4, r.stride()));
        let mut v = [7usize; 6];
        assert_eq!(reader.read(0, &mut v), Ok(4));
        assert_eq!(&v[..4], [3, 0, 0, 9]);
        assert_eq!(reader.read(3, &mut v), Ok(1));
        assert_eq!(v[0], 9);
        assert_eq!(reader.read(4, &mut v), Ok(0));
        let got: Vec<_> = reader.slot_names().iter().collect();
        assert_eq!(got, [Some(&b"calling"[..]), None, Some(&b"writing"[..])]);
        // The mapped reader sees the same names.
        let mapped = raindrops_shm::Region::open_read_only(&target).unwrap();
        assert_eq!(mapped.slot_names(), reader.slot_names());
    }
    assert_eq!(
        RegionReader::open(&format!("shm:{}", shm.0))
            .unwrap()
            .backing(),
        Backing::Named
    );
    // A memfd passed by descriptor.
    let m = opts.memfd("reader", 3).unwrap();
    m.set(2, 5).unwrap();
    let reader = RegionReader::from_fd(m.fd().unwrap().try_clone_to_owned().unwrap()).unwrap();
    let mut v = [0; 3];
    assert_eq!(reader.read(0, &mut v), Ok(3));
    assert_eq!(v, [0, 0, 5]);
    assert_eq!(reader.slot_names().get(2), Some(&b"writing"[..]));
}

#[test]
fn ruby_files_have_no_names_and_read_like_ruby_wrote_them() {
    let path = TempPath::new("ruby");
    let r = Options::new().ruby_file(path.path(), 3).unwrap();
    r.set(1, 4).unwrap();
    let reader = RegionReader::open(path.str()).unwrap();
    assert_eq!(reader.backing(), Backing::RubyFile);
    assert_eq!(reader.len(), r.capacity());
    assert!(reader.slot_names().is_empty());
    let mut v = [9; 3];
    assert_eq!(reader.read(0, &mut v), Ok(3));
    assert_eq!(v, [0, 4, 0]);
    // Still raw slots on disk: no header was written.
    let bytes = std::fs::read(path.path()).unwrap();
    assert_eq!(&bytes[..8], &[0; 8]);
}

#[test]
fn shrink_race_never_signals() {
    // 128 + 64 * 128 = 8320 bytes when whole, flipped to one page and
    // back by another thread while this one reads (a SIGBUS would kill
    // the test process).
    let path = TempPath::new("shrink");
    let h = RegionHeader::counters(128, 64, 64);
    let file = headered(path.path(), &h, 8320);
    let stop = Arc::new(AtomicBool::new(false));
    let flipper = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut flips = 0u64;
            while !stop.load(Ordering::Relaxed) {
                file.set_len(4096).unwrap();
                file.set_len(8320).unwrap();
                flips += 1;
            }
            flips
        })
    };
    let (mut whole, mut truncated) = (0u32, 0u32);
    let mut v = [0usize; 64];
    for _ in 0..5000 {
        match RegionReader::open(path.str()).and_then(|r| r.read(0, &mut v)) {
            Ok(64) => whole += 1,
            Err(Error::Truncated { .. }) => truncated += 1,
            other => panic!("{other:?}"),
        }
    }
    stop.store(true, Ordering::Relaxed);
    let flips = flipper.join().unwrap();
    eprintln!("5000 reads during {flips} flips: {whole} whole, {truncated} truncated");
    assert_eq!(whole + truncated, 5000);
}

#[test]
fn sparse_object_truncated_during_a_long_read() {
    // 6.4 GB claimed, all holes: reading it all is quick, and a truncation
    // half-way is an error.
    let shm = ShmName::new("sparse");
    let path = std::path::Path::new("/dev/shm").join(&shm.0[1..]);
    let cap = 50_000_000u64;
    let h = RegionHeader::counters(128, cap as usize, cap as usize);
    let file = headered(&path, &h, 128 + cap * 128);
    let blocks = std::fs::metadata(&path).unwrap().blocks();
    let reader = RegionReader::open(&format!("shm:{}", shm.0)).unwrap();
    let mut v = vec![1usize; 1 << 16];
    let mut at = 0;
    let mut outcome = Ok(());
    while at < reader.len() {
        if at >= reader.len() / 2 {
            file.set_len(4096).unwrap();
        }
        match reader.read(at, &mut v) {
            Ok(n) => {
                assert!(v[..n].iter().all(|&x| x == 0));
                at += n;
            }
            Err(e) => {
                outcome = Err(e);
                break;
            }
        }
    }
    assert!(
        matches!(outcome, Err(Error::Truncated { len: 4096, .. })),
        "{outcome:?} at {at}"
    );
    assert!(at >= reader.len() / 2, "{at}");
    assert_eq!(std::fs::metadata(&path).unwrap().blocks(), blocks);
}

#[test]
fn names_survive_growth_and_bad_names_are_refused() {
    let shm = ShmName::new("grow-names");
    let mut r = Options::new()
        .names(&["one", "two"])
        .create_named(&shm.0, 2)
        .unwrap();
    r.set_len(r.capacity() + 1).unwrap();
    r.set(r.len() - 1, 8).unwrap();
    let seen = raindrops_shm::Region::open_named(&shm.0).unwrap();
    assert_eq!(seen.len(), r.len());
    assert_eq!(seen.get(seen.len() - 1), Ok(8));
    assert_eq!(seen.slot_names().get(1), Some(&b"two"[..]));
    // More names than counters, a name too long.
    let names = Error::BadLayout(raindrops_shm::LayoutError::Names { index: 3 });
    assert_eq!(
        Options::new()
            .names(&["a", "b", "c"])
            .anonymous(2)
            .unwrap_err(),
        names
    );
    let long = "n".repeat(raindrops_shm::MAX_NAME_LEN + 1);
    let other = ShmName::new("long-name");
    assert_eq!(
        Options::new()
            .names(&["a", &long])
            .create_named(&other.0, 2)
            .unwrap_err(),
        Error::BadLayout(raindrops_shm::LayoutError::Names { index: 1 })
    );
    // Nothing was left under the name.
    assert_eq!(
        raindrops_shm::Region::open_named(&other.0).unwrap_err(),
        Error::NotFound
    );
}

#[test]
fn a_forged_name_table_is_an_error() {
    let path = TempPath::new("forged");
    let mut h = RegionHeader::counters(128, 2, 2);
    h.data_offset = 256;
    h.names_len = 10;
    h.names_count = 2;
    let f = headered(path.path(), &h, 256 + 2 * 128);
    // Entries that do not add up to names_len.
    std::os::unix::fs::FileExt::write_all_at(&f, &[200, b'a', b'b'], 64).unwrap();
    for e in [
        RegionReader::open(path.str()).unwrap_err(),
        Options::new().open_file(path.path()).unwrap_err(),
    ] {
        assert!(
            matches!(
                e,
                Error::BadLayout(raindrops_shm::LayoutError::Names { .. })
            ),
            "{e}"
        );
    }
}
