//! Owning processes and cgroups against the real kernel: listeners held by
//! forked children are attributed to their pids and command names exactly
//! as `ss -ltnp` lists them (every process that shares a socket across
//! fork); the cache answers the next sample without a scan and notices an
//! owner that exits; a process moved into a cgroup made by the test shows
//! that cgroup. Needs root; skipped with the reason otherwise (failing
//! under `RAINDROPS_REQUIRE_RUBY=1`).

mod ns_common;
use ns_common::*;
use raindrops_diag::cgroup::find_cgroup2_mount;
use raindrops_diag::cgroup_path::cgroup_origin;
use raindrops_diag::owner::Rescan;
use raindrops_diag::{NsListener, NsSample, NsSampler, NsScope};
use std::net::{SocketAddrV4, TcpListener};
use std::os::unix::fs::MetadataExt;
use std::process::Command;

fn sampler() -> NsSampler {
    NsSampler::new(NsScope::Current).with_owners(true)
}

fn find<'a>(s: &'a NsSample, name: &str) -> &'a NsListener {
    s.namespaces[0]
        .listeners
        .iter()
        .find(|l| l.listener.name == name)
        .unwrap_or_else(|| panic!("{name} not in the sample"))
}

/// Our owners of a listener as `ss -p` triples, sorted by pid and fd.
fn triples(l: &NsListener) -> Vec<(String, u32, u32)> {
    l.owners
        .iter()
        .map(|o| (o.process.comm.clone(), o.pid, o.fd))
        .collect()
}

fn ss_users(port: u16) -> Vec<(String, u32, u32)> {
    let out = run(Command::new("ss").args(["-Hltnp", &format!("sport = :{port}")]));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 1, "{out}");
    parse_ss_users(lines[0])
}

fn port(l: &TcpListener) -> u16 {
    l.local_addr().unwrap().port()
}

#[test]
fn forked_children_own_their_listeners_as_ss_p_shows() {
    if !root_or_skip("forked_children_own_their_listeners_as_ss_p_shows") {
        return;
    }
    let _serial = serial();
    let me = std::process::id();
    // Handed over: made here, inherited by the child, closed here.
    let handed = TcpListener::bind("127.0.0.1:0").unwrap();
    // Shared across fork: this process and the child both hold it, the
    // child twice (a dup).
    let shared = TcpListener::bind("127.0.0.1:0").unwrap();
    let dup = shared.try_clone().unwrap();
    let mut spec = HolderSpec::new("rd-own-child");
    // The child's own listener.
    spec.tcp = vec![(SocketAddrV4::new([127, 0, 0, 1].into(), 0), 4, 0, 0)];
    let child = spawn_holder(&spec);
    let handed_port = port(&handed);
    drop(handed);
    drop(dup);
    // Prefork: three more children share the same socket.
    let workers: Vec<Holder> = (0..3)
        .map(|_| spawn_holder(&HolderSpec::new("rd-own-worker")))
        .collect();
    let own_port = child.ports[0];
    let shared_port = port(&shared);

    let mut s = sampler();
    let s1 = s.sample();
    assert_eq!(s1.rescan, Some(Rescan::NewSocket));
    for (p, what) in [
        (handed_port, "handed"),
        (own_port, "child's own"),
        (shared_port, "shared"),
    ] {
        let l = find(&s1, &format!("127.0.0.1:{p}"));
        assert_eq!(triples(l), ss_users(p), "{what}: ours vs ss -ltnp");
    }
    let handed_l = find(&s1, &format!("127.0.0.1:{handed_port}"));
    // Handed over and own: the child only (the workers were forked after
    // the handed one was closed here).
    assert_eq!(handed_l.main_owner().unwrap().pid, child.pid);
    assert!(handed_l.owners.iter().all(|o| o.pid == child.pid));
    assert_eq!(handed_l.main_owner().unwrap().process.comm, "rd-own-child");
    let own = find(&s1, &format!("127.0.0.1:{own_port}"));
    assert_eq!(
        own.owners.iter().map(|o| o.pid).collect::<Vec<_>>(),
        [child.pid]
    );
    // Shared: every process, the lowest pid first (this one, the parent).
    let sh = find(&s1, &format!("127.0.0.1:{shared_port}"));
    let mut pids: Vec<u32> = sh.owners.iter().map(|o| o.pid).collect();
    pids.dedup();
    let mut want = vec![me, child.pid];
    want.extend(workers.iter().map(|w| w.pid));
    want.sort();
    assert_eq!(pids, want);
    assert_eq!(sh.main_owner().unwrap().pid, want[0]);
    assert_eq!(
        sh.owners.iter().filter(|o| o.pid == child.pid).count(),
        2,
        "the child holds the socket and its dup"
    );

    // Nothing new: the cache answers.
    let s2 = s.sample();
    assert_eq!(s2.rescan, Some(Rescan::No));
    assert_eq!(
        triples(find(&s2, &format!("127.0.0.1:{shared_port}"))),
        ss_users(shared_port)
    );
    assert_eq!(s.owners().unwrap().stats().scans, 1);

    // A worker exits: noticed at the next sample.
    let gone = workers[0].pid;
    let mut workers = workers;
    workers.remove(0).stop();
    let s3 = s.sample();
    assert_eq!(s3.rescan, Some(Rescan::OwnerGone));
    let sh = find(&s3, &format!("127.0.0.1:{shared_port}"));
    assert!(sh.owners.iter().all(|o| o.pid != gone));
    assert_eq!(triples(sh), ss_users(shared_port));
    drop(workers);
    drop(child);
}

#[test]
fn a_process_moved_into_a_cgroup_shows_that_cgroup() {
    if !root_or_skip("a_process_moved_into_a_cgroup_shows_that_cgroup") {
        return;
    }
    let _serial = serial();
    let Some(mount) = find_cgroup2_mount().unwrap() else {
        eprintln!("skipping: no cgroup2 mount");
        return;
    };
    let name = format!("rd-test-{}", std::process::id());
    let dir = mount.mount_point.join(&name);
    if let Err(e) = std::fs::create_dir(&dir) {
        eprintln!(
            "skipping: cannot make a cgroup under {}: {e}",
            mount.mount_point.display()
        );
        return;
    }
    struct Rmdir(std::path::PathBuf);
    impl Drop for Rmdir {
        fn drop(&mut self) {
            // Emptied asynchronously after the last process is reaped.
            for _ in 0..200 {
                if std::fs::remove_dir(&self.0).is_ok() {
                    return;
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
        }
    }
    let _cleanup = Rmdir(dir.clone());
    let cg_id = std::fs::metadata(&dir).unwrap().ino();
    let root = String::from_utf8(mount.root.clone()).unwrap();
    let want = if root == "/" {
        format!("/{name}")
    } else {
        format!("{root}/{name}")
    };
    let mine = raindrops_diag::cgroup::process_cgroup("/proc", std::process::id()).unwrap();

    // Made before the move: a socket keeps the cgroup it was created in.
    let before = TcpListener::bind("127.0.0.1:0").unwrap();
    let abs = format!("rd-cg-{}", std::process::id());
    let mut spec = HolderSpec::new("rd-cg-child");
    spec.cgroup_procs = Some(
        std::ffi::CString::new(
            dir.join("cgroup.procs")
                .into_os_string()
                .into_encoded_bytes(),
        )
        .unwrap(),
    );
    spec.tcp = vec![(SocketAddrV4::new([127, 0, 0, 1].into(), 0), 4, 0, 0)];
    spec.unix = vec![(abs.clone().into_bytes(), 4, 0, 0)];
    let child = spawn_holder(&spec);
    assert_eq!(
        raindrops_diag::cgroup::process_cgroup("/proc", child.pid).as_deref(),
        Some(want.as_str())
    );
    let tcp_port = child.ports[0];
    let before_port = port(&before);
    drop(before); // the child holds it alone now

    let mut s = sampler();
    let sample = s.sample();
    // TCP: the socket's own cgroup id, mapped to its path.
    let t = find(&sample, &format!("127.0.0.1:{tcp_port}"));
    assert_eq!(t.main_owner().unwrap().pid, child.pid);
    assert_eq!(t.cgroup_id, Some(cg_id));
    assert_eq!(t.listener.cgroup.as_deref(), Some(want.as_str()));
    assert_eq!(
        t.main_owner().unwrap().process.cgroup.as_deref(),
        Some(want.as_str())
    );
    // ss reads the same id.
    let ss = run(Command::new("ss").args(["-Hltn", "--cgroup", &format!("sport = :{tcp_port}")]));
    assert!(ss.contains(&format!("cgroup:{want}")), "{ss}");
    // Unix: no cgroup in unix_diag; the owner's cgroup.
    let u = find(&sample, &format!("@{abs}"));
    assert_eq!(u.cgroup_id, None);
    assert_eq!(u.listener.cgroup.as_deref(), Some(want.as_str()));
    // Created before the move: the socket's cgroup is the old one, the
    // process's the new one.
    let b = find(&sample, &format!("127.0.0.1:{before_port}"));
    assert_eq!(b.main_owner().unwrap().pid, child.pid);
    assert_eq!(b.listener.cgroup.as_deref(), Some(mine.as_str()));
    assert_eq!(
        b.main_owner().unwrap().process.cgroup.as_deref(),
        Some(want.as_str())
    );
    // A made-up cgroup names no unit and no container.
    let o = cgroup_origin(want.as_bytes());
    assert_eq!((o.unit, o.container), (None, None));
    child.stop();
}
