//! `raindrops counters` against hostile and broken targets: objects that
//! shrink while they are read, sparse objects that claim millions of
//! counters, FIFOs and symlinks planted in /dev/shm, special files, names
//! that would break a line or a terminal. Each runs the built binary.

use std::io::Write as _;
use std::os::unix::fs::FileTypeExt as _;
use std::os::unix::process::ExitStatusExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

mod common;
use common::{BIN, raindrops, text};

/// A name no other test (or test run) uses.
fn unique(tag: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "raindrops-cli-counters-{}-{}-{tag}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// A path (file, FIFO, symlink or directory) removed when dropped.
struct Temp(PathBuf);

impl Temp {
    fn in_tmp(tag: &str) -> Temp {
        Temp(std::env::temp_dir().join(unique(tag)))
    }

    fn in_dev_shm(tag: &str) -> (Temp, String) {
        let name = unique(tag);
        (Temp(Path::new("/dev/shm").join(&name)), name)
    }

    fn str(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for Temp {
    fn drop(&mut self) {
        match std::fs::symlink_metadata(&self.0) {
            Ok(m) if m.is_dir() => {
                let _ = std::fs::remove_dir(&self.0);
            }
            Ok(_) => {
                let _ = std::fs::remove_file(&self.0);
            }
            Err(_) => {}
        }
    }
}

/// The 64-byte header of a counters object (the layout documented in
/// raindrops-shm's `header` module), written by hand so that it can claim
/// whatever a hostile writer wants.
fn header(data_offset: u64, stride: u64, len: u64, capacity: u64) -> Vec<u8> {
    let mut h = Vec::with_capacity(64);
    h.extend_from_slice(b"RAINDRPS");
    h.extend_from_slice(&1u32.to_ne_bytes()); // version
    h.extend_from_slice(&0x0102_0304u32.to_ne_bytes()); // byte-order mark
    h.extend_from_slice(&1u32.to_ne_bytes()); // kind: counters
    h.extend_from_slice(&(size_of::<usize>() as u32).to_ne_bytes());
    h.extend_from_slice(&data_offset.to_ne_bytes());
    h.extend_from_slice(&stride.to_ne_bytes());
    h.extend_from_slice(&len.to_ne_bytes());
    h.extend_from_slice(&capacity.to_ne_bytes());
    h.extend_from_slice(&[0; 8]); // reserved
    h
}

/// Writes `header` at the start of `path` and makes the file `size` bytes
/// long (sparse past what is written).
fn headered_file(path: &Path, header: &[u8], size: u64) -> std::fs::File {
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .unwrap();
    f.write_all(header).unwrap();
    f.set_len(size).unwrap();
    f
}

/// Bad input: exit 2, one line on stderr, nothing on stdout.
fn assert_bad_input(args: &[&str]) {
    let out = raindrops(args);
    let shown: Vec<String> = args.iter().map(|a| a.chars().take(80).collect()).collect();
    assert_eq!(
        out.status.code(),
        Some(2),
        "{shown:?}: {:?} {}",
        out.status,
        text(&out.stderr)
    );
    assert!(out.stdout.is_empty(), "{shown:?}: {}", text(&out.stdout));
    let err = text(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{shown:?}: {err}");
    assert!(err.starts_with("raindrops: "), "{shown:?}: {err}");
}

/// Ended by a signal (SIGBUS is 135 in a shell), or a panic (101).
fn crashed(s: ExitStatus) -> bool {
    s.signal().is_some() || s.code() == Some(101)
}

#[test]
fn shrinking_file_never_ends_in_a_signal() {
    // 128 + 64 * 128 = 8320 bytes when whole; another process flips it
    // between that and one page while the command reads it.
    let path = Temp::in_tmp("shrink");
    let hdr = header(128, 128, 64, 64);
    let file = headered_file(&path.0, &hdr, 8320);
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
    let mut outcomes = std::collections::BTreeMap::new();
    let mut signals = Vec::new();
    for _ in 0..1000 {
        let out = raindrops(&["counters", path.str()]);
        if crashed(out.status) {
            signals.push(out.status);
        }
        *outcomes.entry(out.status.code()).or_insert(0u32) += 1;
    }
    stop.store(true, Ordering::Relaxed);
    let flips = flipper.join().unwrap();
    eprintln!("1000 reads during {flips} flips: exit codes {outcomes:?}");
    assert!(
        signals.is_empty(),
        "{} of 1000 runs crashed, first: {:?}",
        signals.len(),
        signals.first()
    );
}

#[test]
fn sparse_file_truncated_while_read() {
    // 6.5 GB that claims 50 million counters, all holes but the header,
    // truncated to nothing shortly after the command starts.
    let stride = 128u64;
    let capacity = 50_000_000u64;
    let size = 128 + capacity * stride;
    for extra in [&[][..], &["--limit", "0"]] {
        let path = Temp::in_tmp("sparse");
        let file = headered_file(&path.0, &header(128, stride, capacity, capacity), size);
        let mut args = vec!["counters"];
        args.extend_from_slice(extra);
        args.push(path.str());
        let child = Command::new(BIN)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(300));
        file.set_len(0).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            !crashed(out.status),
            "{args:?}: {:?} {}",
            out.status,
            text(&out.stderr)
        );
    }
}

#[test]
fn fifo_in_dev_shm_answers_at_once() {
    let (fifo, name) = Temp::in_dev_shm("fifo");
    let c = std::ffi::CString::new(fifo.str()).unwrap();
    // SAFETY: mkfifo with a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    assert!(std::fs::metadata(&fifo.0).unwrap().file_type().is_fifo());
    let target = format!("shm:{name}");
    let mut child = Command::new(BIN)
        .args(["counters", &target])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    // The command needs a few milliseconds; the margin is for a loaded
    // machine. Before the fix it blocked in open(2) forever.
    let deadline = start + Duration::from_secs(5);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break Some(s);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let status = status.expect("counters on a FIFO in /dev/shm hangs");
    eprintln!("answered in {:?}", start.elapsed());
    assert_eq!(status.code(), Some(2));
    assert_bad_input(&["counters", &target]);
    assert_bad_input(&["counters", fifo.str()]);
}

/// Sets `fs.protected_symlinks` for the life of the guard (the old value
/// is put back on drop); `None` when the sysctl cannot be written.
struct ProtectedSymlinks(Option<String>);

impl ProtectedSymlinks {
    const PATH: &str = "/proc/sys/fs/protected_symlinks";

    fn set(value: &str) -> ProtectedSymlinks {
        let Ok(old) = std::fs::read_to_string(Self::PATH) else {
            return ProtectedSymlinks(None);
        };
        match std::fs::write(Self::PATH, value) {
            Ok(()) => ProtectedSymlinks(Some(old)),
            Err(e) => {
                eprintln!("cannot set fs.protected_symlinks ({e}): testing with it as it is");
                ProtectedSymlinks(None)
            }
        }
    }
}

impl Drop for ProtectedSymlinks {
    fn drop(&mut self) {
        if let Some(old) = &self.0 {
            let _ = std::fs::write(Self::PATH, old.trim());
        }
    }
}

#[test]
fn symlink_in_dev_shm_is_refused() {
    let _sysctl = ProtectedSymlinks::set("0");
    let victim = Temp::in_tmp("victim");
    let mut data = header(128, 128, 1, 31);
    data.resize(4096, 0);
    data[128] = 42; // counter 0
    std::fs::write(&victim.0, &data).unwrap();
    let (link, name) = Temp::in_dev_shm("link");
    std::os::unix::fs::symlink(&victim.0, &link.0).unwrap();
    assert_bad_input(&["counters", &format!("shm:{name}")]);
    assert_bad_input(&["counters", &format!("shm:/{name}")]);
    assert_eq!(std::fs::read(&victim.0).unwrap(), data);
}

#[test]
fn special_and_impossible_targets_are_bad_input() {
    let fifo = Temp::in_tmp("fifo");
    let c = std::ffi::CString::new(fifo.str()).unwrap();
    // SAFETY: mkfifo with a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let dir = Temp::in_tmp("dir");
    std::fs::create_dir(&dir.0).unwrap();
    let a = Temp::in_tmp("loop-a");
    let b = Temp::in_tmp("loop-b");
    std::os::unix::fs::symlink(&b.0, &a.0).unwrap();
    std::os::unix::fs::symlink(&a.0, &b.0).unwrap();
    let long_path = format!("/tmp/{}", "x".repeat(5000));
    let long_shm = format!("shm:{}", "n".repeat(255));
    let empty = Temp::in_tmp("empty");
    std::fs::write(&empty.0, b"").unwrap();
    for target in [
        fifo.str(),
        dir.str(),
        a.str(),
        &long_path,
        &long_shm,
        "/proc/self/mem",
        "/sys/devices/system/cpu/possible",
        "/sys/kernel/mm/transparent_hugepage/enabled",
        "/dev/null",
        "/dev/zero",
        "/proc/self/status",
        empty.str(),
        "shm:",
        "shm:/",
        "shm:a/b",
        "",
    ] {
        assert_bad_input(&["counters", target]);
    }
}

#[test]
fn shm_names_have_the_kernels_limit() {
    // NAME_MAX (255) counts the leading '/' of a POSIX shm name.
    let longest = format!("{}{}", unique("max"), "n".repeat(254));
    let longest = &longest[..254];
    let region = raindrops_shm::Options::new()
        .unlink_on_drop(true)
        .create_named(longest, 2)
        .unwrap();
    let out = raindrops(&["counters", &format!("shm:{longest}")]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    drop(region);
    assert_bad_input(&["counters", &format!("shm:{longest}n")]);
}

#[test]
fn huge_names_do_not_panic() {
    let name = unique("names");
    let region = raindrops_shm::Options::new()
        .unlink_on_drop(true)
        .create_named(&name, 2)
        .unwrap();
    let target = format!("shm:{name}");
    let long = "w".repeat(64 * 1024);
    let names = format!("{long},b");
    for format in ["table", "json", "prometheus"] {
        let out = raindrops(&["counters", "--format", format, "--names", &names, &target]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{format}: {}",
            text(&out.stderr)
        );
        assert!(text(&out.stdout).contains(&long), "{format}");
    }
    drop(region);
}

#[test]
fn names_cannot_forge_lines_or_drive_the_terminal() {
    let name = unique("forge");
    let region = raindrops_shm::Options::new()
        .unlink_on_drop(true)
        .create_named(&name, 3)
        .unwrap();
    let target = format!("shm:{name}");
    let names = "a\n    9  forged  999,\x1b[2J,\u{202e}rtl";
    let out = raindrops(&["counters", "--names", names, &target]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let s = text(&out.stdout);
    assert_eq!(s.lines().count(), 2 + 3, "{s}");
    assert!(!s.contains('\x1b') && !s.contains('\u{202e}'), "{s:?}");
    assert!(s.contains(r"a\x0a    9  forged  999"), "{s}");
    assert!(s.contains(r"\x1b[2J"), "{s}");
    assert!(s.contains(r"\u{202e}rtl"), "{s}");
    let out = raindrops(&["counters", "--format", "json", "--names", names, &target]);
    let s = text(&out.stdout);
    assert_eq!(s.lines().count(), 1, "{s}");
    assert!(s.contains(r#""name":"a\\x0a    9  forged  999""#), "{s}");
    assert!(s.contains(r#""name":"\\x1b[2J""#), "{s}");
    drop(region);
}

/// Blocks of the file at `path` (tmpfs allocates them when pages are
/// touched).
fn blocks(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt as _;
    std::fs::metadata(path).unwrap().blocks()
}

/// Runs the command with stdout to /dev/null; gives its status and peak
/// RSS in KiB (`wait4`, which std's `Child::wait` does not report).
#[allow(clippy::zombie_processes)] // reaped by wait4 below
fn run_measured(args: &[&str]) -> (ExitStatus, i64, String) {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Until EOF, that is until the child exits (stderr is one line).
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        use std::io::Read as _;
        let _ = e.read_to_string(&mut err);
    }
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value to be overwritten.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waits for our own child with valid out-pointers.
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(r, pid);
    (ExitStatus::from_raw(status), usage.ru_maxrss, err)
}

#[test]
fn sparse_object_claiming_millions_costs_what_is_printed() {
    let (obj, name) = Temp::in_dev_shm("sparse");
    let stride = 128u64;
    let capacity = 50_000_000u64;
    let f = headered_file(&obj.0, &header(128, stride, capacity, capacity), 4096);
    f.set_len(128 + capacity * stride).unwrap();
    let before = blocks(&obj.0);
    let target = format!("shm:{name}");
    let (status, rss_kib, err) = run_measured(&["counters", &target]);
    assert_eq!(status.code(), Some(0), "{err}");
    eprintln!("default: peak RSS {rss_kib} KiB, stderr {err:?}");
    assert!(rss_kib < 64 * 1024, "peak RSS {rss_kib} KiB");
    assert_eq!(blocks(&obj.0), before, "the reader allocated tmpfs pages");
    // A cap prints that many rows.
    let out = raindrops(&["counters", "--limit", "5", &target]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).lines().count(), 2 + 5);
    // Everything, streamed: memory stays flat and holes stay holes.
    let small = Temp::in_dev_shm("sparse-all");
    let capacity = 1_000_000u64;
    let f = headered_file(&small.0.0, &header(128, stride, capacity, capacity), 4096);
    f.set_len(128 + capacity * stride).unwrap();
    let before = blocks(&small.0.0);
    let (status, rss_kib, err) =
        run_measured(&["counters", "--limit", "0", &format!("shm:{}", small.1)]);
    assert_eq!(status.code(), Some(0), "{err}");
    eprintln!("--limit 0, 1M counters: peak RSS {rss_kib} KiB");
    assert!(rss_kib < 64 * 1024, "peak RSS {rss_kib} KiB");
    assert_eq!(
        blocks(&small.0.0),
        before,
        "the reader allocated tmpfs pages"
    );
}

#[test]
fn every_format_streams_past_one_chunk_and_says_when_it_stops_short() {
    use raindrops_core::CounterArray;
    let name = unique("chunks");
    let region = raindrops_shm::Options::new()
        .unlink_on_drop(true)
        .create_named(&name, 3000)
        .unwrap();
    region.set(2999, 42).unwrap();
    let target = format!("shm:{name}");
    let out = raindrops(&["counters", "--limit", "0", &target]);
    let s = text(&out.stdout);
    assert_eq!(s.lines().count(), 2 + 3000);
    assert!(s.lines().last().unwrap().ends_with(" 42"), "{s}");
    let out = raindrops(&["counters", "--format", "json", "--limit", "0", &target]);
    let s = text(&out.stdout);
    assert_eq!(s.matches("\"index\"").count(), 3000);
    assert!(s.contains("\"len\":3000"));
    assert!(
        s.ends_with("{\"index\":2999,\"name\":null,\"value\":42}]}\n"),
        "{s}"
    );
    let out = raindrops(&[
        "counters",
        "--format",
        "prometheus",
        "--limit",
        "0",
        &target,
    ]);
    let s = text(&out.stdout);
    assert_eq!(
        s.matches("# TYPE raindrops_counter gauge").count(),
        1,
        "{s}"
    );
    assert_eq!(s.matches("# HELP raindrops_counter ").count(), 1);
    assert_eq!(
        s.lines()
            .filter(|l| l.starts_with("raindrops_counter{"))
            .count(),
        3000
    );
    // A limit shows the first ones and says so in the table's header.
    let out = raindrops(&["counters", "--limit", "100", &target]);
    let s = text(&out.stdout);
    assert_eq!(s.lines().count(), 2 + 100);
    assert!(
        s.lines()
            .next()
            .unwrap()
            .contains("3000 counters (the first 100 shown"),
        "{s}"
    );
    let out = raindrops(&["counters", "--format", "json", "--limit", "100", &target]);
    assert_eq!(text(&out.stdout).matches("\"index\"").count(), 100);
    drop(region);
}

#[test]
fn stored_names_that_are_not_text_are_escaped() {
    // A hostile writer's name table: a newline and bytes that are not
    // UTF-8 in slot 0, a terminal escape in slot 1.
    let path = Temp::in_tmp("hostile-names");
    let mut data = header(256, 128, 2, 2);
    let table = [b"\x04a\n\xff\xfe".as_slice(), b"\x04\x1b[2J".as_slice()].concat();
    data[56..60].copy_from_slice(&(table.len() as u32).to_ne_bytes());
    data[60..64].copy_from_slice(&2u32.to_ne_bytes());
    data.extend_from_slice(&table);
    data.resize(256 + 2 * 128, 0);
    std::fs::write(&path.0, &data).unwrap();
    let out = raindrops(&["counters", path.str()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let s = text(&out.stdout);
    assert_eq!(s.lines().count(), 2 + 2, "{s}");
    assert!(s.contains(r"a\x0a\xff\xfe"), "{s}");
    assert!(s.contains(r"\x1b[2J") && !s.contains('\x1b'), "{s:?}");
    let out = raindrops(&["counters", "--format", "json", path.str()]);
    let s = text(&out.stdout);
    assert!(s.contains(r#""name":"a\\x0a\\xff\\xfe""#), "{s}");
    assert!(s.contains(r#""name":"\\x1b[2J""#), "{s}");
    let out = raindrops(&["counters", "--format", "prometheus", path.str()]);
    let s = text(&out.stdout);
    assert!(!s.contains('\x1b') && s.lines().count() == 4, "{s:?}");
}
