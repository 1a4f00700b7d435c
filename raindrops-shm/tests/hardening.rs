//! What a hostile local user (or an unlucky name clash) can do to a region:
//! plant a symlink or a FIFO under a shm name, take a name over after it
//! was created, ask for setuid bits.

mod common;

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use common::{ShmName, TempPath};
use raindrops_core::CounterArray;
use raindrops_shm::{Error, Options, Region};

/// Sets `fs.protected_symlinks` for the life of the guard (the old value
/// is put back on drop); a no-op where the sysctl cannot be written.
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

/// A path under /dev/shm, removed when dropped.
struct DevShm(std::path::PathBuf, String);

impl DevShm {
    fn new(tag: &str) -> DevShm {
        let name = common::unique(tag);
        DevShm(Path::new("/dev/shm").join(&name), name)
    }
}

impl Drop for DevShm {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn a_symlink_under_a_shm_name_is_never_followed() {
    let _sysctl = ProtectedSymlinks::set("0");
    let victim = TempPath::new("victim");
    let r = Options::new().create_file(victim.path(), 3).unwrap();
    r.set(0, 42).unwrap();
    drop(r);
    let before = std::fs::read(victim.path()).unwrap();
    let link = DevShm::new("link");
    std::os::unix::fs::symlink(victim.path(), &link.0).unwrap();
    for opts in [
        Options::new().zero(true),
        Options::new().access(raindrops_shm::Access::ReadOnly),
    ] {
        let e = opts.open_named(&link.1).unwrap_err();
        assert_eq!(e, Error::NotRegularFile, "{e}");
    }
    assert_eq!(
        Region::open_read_only(&format!("shm:{}", link.1)).unwrap_err(),
        Error::NotRegularFile
    );
    assert_eq!(
        std::fs::read(victim.path()).unwrap(),
        before,
        "the victim was changed"
    );
}

#[test]
fn a_fifo_under_a_shm_name_does_not_block() {
    let fifo = DevShm::new("fifo");
    let c = std::ffi::CString::new(fifo.0.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo with a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    // Without O_NONBLOCK these would wait for a writer forever.
    let (tx, rx) = std::sync::mpsc::channel();
    let name = fifo.1.clone();
    std::thread::spawn(move || {
        let rw = Options::new().open_named(&name).map(drop);
        let ro = Region::open_read_only(&format!("shm:{name}")).map(drop);
        let _ = tx.send((rw, ro));
    });
    let (rw, ro) = rx
        // In-process opens take microseconds; before the fix they blocked
        // forever.
        .recv_timeout(std::time::Duration::from_secs(1))
        .expect("opening a FIFO by shm name blocks");
    assert_eq!(rw, Err(Error::NotRegularFile));
    assert_eq!(ro, Err(Error::NotRegularFile));
}

#[test]
fn unlink_on_drop_removes_only_its_own_object() {
    let name = ShmName::new("reused");
    let first = Options::new()
        .unlink_on_drop(true)
        .create_named(&name.0, 1)
        .unwrap();
    // Someone removes the name and another process creates its own object
    // under it.
    raindrops_shm::unlink_named(&name.0).unwrap();
    let second = Region::create_named(&name.0, 1).unwrap();
    second.set(0, 7).unwrap();
    drop(first);
    let again = Region::open_named(&name.0).expect("the second object lost its name");
    assert_eq!(again.get(0), Ok(7));
    // The same for files.
    let path = TempPath::new("reused");
    let first = Options::new()
        .unlink_on_drop(true)
        .create_file(path.path(), 1)
        .unwrap();
    std::fs::remove_file(path.path()).unwrap();
    let second = Options::new().create_file(path.path(), 1).unwrap();
    drop(first);
    assert!(path.path().exists(), "the second file was removed");
    drop(second);
    // Its own object it does remove.
    let own = ShmName::new("own");
    drop(
        Options::new()
            .unlink_on_drop(true)
            .create_named(&own.0, 1)
            .unwrap(),
    );
    assert_eq!(Region::open_named(&own.0).unwrap_err(), Error::NotFound);
}

#[test]
fn mode_refuses_setuid_setgid_and_sticky() {
    for bits in [0o4600, 0o2600, 0o1600, 0o4777, 0o7777, 0o10600] {
        let name = ShmName::new("mode");
        let made = Options::new().mode(bits).create_named(&name.0, 1);
        let e = made.expect_err("a mode with special bits was accepted");
        assert!(e.to_string().contains("setuid"), "{bits:o}: {e}");
        assert_eq!(Region::open_named(&name.0).unwrap_err(), Error::NotFound);
        let path = TempPath::new("mode");
        assert!(
            Options::new()
                .mode(bits)
                .create_file(path.path(), 1)
                .is_err()
        );
        assert!(!path.path().exists());
        assert!(Options::new().mode(bits).ruby_file(path.path(), 1).is_err());
        assert!(!path.path().exists());
    }
    // Plain permission bits are fine and used as given (less the umask).
    let name = ShmName::new("mode-ok");
    let r = Options::new().mode(0o640).create_named(&name.0, 1).unwrap();
    let meta = std::fs::metadata(Path::new("/dev/shm").join(&name.0[1..])).unwrap();
    assert_eq!(meta.permissions().mode() & 0o7000, 0);
    drop(r);
}
