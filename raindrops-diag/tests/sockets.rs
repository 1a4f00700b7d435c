//! The listening sockets a listener query lists with its result
//! (`Diag::set_sockets`): every member of a `SO_REUSEPORT` group, each
//! socket under every row it counts for (requested addresses, a Unix
//! symlink and its target), the same from the `/proc/net/unix` fallback,
//! TCP cgroup ids, and the fallback reading the calling thread's network
//! namespace.

mod ns_common;

use ns_common::{NamedNs, in_netns, inode, root_or_skip, unix_loaded};
use raindrops_diag::{Diag, ListenSocket, TcpQuery};
use rustix::net::{AddressFamily, SocketFlags, SocketType};
use std::net::SocketAddr;
use std::os::fd::OwnedFd;

/// A TCP listener on `addr` with `SO_REUSEPORT`.
fn reuseport(addr: SocketAddr) -> OwnedFd {
    let fam = if addr.is_ipv4() {
        AddressFamily::INET
    } else {
        AddressFamily::INET6
    };
    let l = rustix::net::socket_with(fam, SocketType::STREAM, SocketFlags::CLOEXEC, None).unwrap();
    rustix::net::sockopt::set_socket_reuseport(&l, true).unwrap();
    rustix::net::bind(&l, &addr).unwrap();
    rustix::net::listen(&l, 8).unwrap();
    l
}

fn local(fd: &OwnedFd) -> SocketAddr {
    SocketAddr::try_from(rustix::net::getsockname(fd).unwrap()).unwrap()
}

/// The inodes of the row named `name` in the last result.
fn inodes_of(diag: &Diag, names: &[&str], name: &str) -> Vec<u64> {
    let i = names.iter().position(|n| *n == name).unwrap();
    diag.sockets_of(i).iter().map(|s| s.inode).collect()
}

#[test]
fn tcp_sockets_of_every_target() {
    let a = reuseport("127.0.0.1:0".parse().unwrap());
    let addr = local(&a);
    let b = reuseport(addr);
    let other = reuseport("127.0.0.1:0".parse().unwrap());
    let key = addr.to_string();
    let other_key = local(&other).to_string();
    let mut want = vec![inode(&a), inode(&b)];
    want.sort_unstable();

    let mut diag = Diag::new().unwrap();
    // Off by default: nothing listed.
    diag.tcp_listener_stats_all().unwrap();
    assert!(diag.sockets().is_empty());

    diag.set_sockets(true);
    let all = diag.tcp_listener_stats_all().unwrap();
    let names: Vec<&str> = all.names().collect();
    assert_eq!(inodes_of(&diag, &names, &key), want);
    assert_eq!(inodes_of(&diag, &names, &other_key), [inode(&other)]);
    // Sorted by listener, each socket once, every index in the result.
    let s = diag.sockets();
    assert!(s.windows(2).all(|w| w[0] < w[1]));
    assert!(s.iter().all(|x| x.listener < all.len()));

    // One address (the kernel filters), and queued only (LISTEN dump
    // alone).
    for q in [TcpQuery::new(), TcpQuery::queued_only()] {
        let one = diag.tcp_listener_stats_with(&[&key], &q).unwrap();
        assert_eq!(one.len(), 1);
        let got: Vec<u64> = diag.sockets().iter().map(|s| s.inode).collect();
        assert_eq!(got, want);
        assert!(diag.sockets().iter().all(|s| s.listener == 0));
    }
    // Several, one of them not listening: indices follow the result.
    let some = diag
        .tcp_listener_stats(&["127.0.0.1:1", &other_key, &key])
        .unwrap();
    let names: Vec<&str> = some.names().collect();
    assert_eq!(names, [other_key.as_str(), key.as_str()]);
    assert_eq!(inodes_of(&diag, &names, &other_key), [inode(&other)]);
    assert_eq!(inodes_of(&diag, &names, &key), want);
    // Nothing listens: no sockets.
    diag.tcp_listener_stats(&["127.0.0.1:1"]).unwrap();
    assert!(diag.sockets().is_empty());

    diag.set_sockets(false);
    diag.tcp_listener_stats_all().unwrap();
    assert!(diag.sockets().is_empty());
}

/// Every TCP listening socket carries the id of the cgroup it was made in
/// (Linux 5.7+ with cgroup v2): here, the test's own cgroup, whose
/// directory's inode is that id.
#[test]
fn tcp_cgroup_id_is_the_creators_cgroup() {
    let Ok(Some(mount)) = raindrops_diag::cgroup::find_cgroup2_mount() else {
        eprintln!("skipping: no cgroup v2 mount");
        return;
    };
    let Some(mine) = raindrops_diag::cgroup::process_cgroup("/proc", std::process::id()) else {
        eprintln!("skipping: no cgroup v2 line in /proc/self/cgroup");
        return;
    };
    if mount.root != b"/" {
        eprintln!("skipping: the cgroup2 mount shows a sub-tree");
        return;
    }
    let dir = mount.mount_point.join(mine.trim_start_matches('/'));
    let Ok(st) = rustix::fs::stat(&dir) else {
        eprintln!("skipping: {} is not visible here", dir.display());
        return;
    };
    let l = reuseport("127.0.0.1:0".parse().unwrap());
    let key = local(&l).to_string();
    let mut diag = Diag::new().unwrap().with_sockets(true);
    diag.tcp_listener_stats(&[&key]).unwrap();
    let got: Vec<ListenSocket> = diag.sockets().to_vec();
    assert_eq!(got.len(), 1);
    match got[0].cgroup_id {
        Some(id) => assert_eq!(id, st.st_ino, "{}", dir.display()),
        None => eprintln!("this kernel reports no INET_DIAG_CGROUP_ID"),
    }
}

#[test]
fn unix_sockets_under_every_name() {
    use std::os::unix::net::UnixListener;
    let dir = std::env::temp_dir().join(format!("rd-sockets-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir(&dir).unwrap();
    let path = dir.join("s");
    let link = dir.join("link");
    let l = UnixListener::bind(&path).unwrap();
    std::os::unix::fs::symlink(&path, &link).unwrap();
    let abs = unix_loaded(&format!("rd-sockets-{}", std::process::id()), 4, 1, 0);
    let p = path.to_str().unwrap();
    let k = link.to_str().unwrap();
    let a = format!("@rd-sockets-{}", std::process::id());
    let want = rustix::fs::fstat(&l).unwrap().st_ino;

    let mut diag = Diag::new().unwrap().with_sockets(true);
    for proc_ in [false, true] {
        let r = if proc_ {
            diag.unix_listener_stats_proc(&[k, a.as_str()]).unwrap()
        } else {
            diag.unix_listener_stats(&[k, a.as_str()]).unwrap()
        };
        // The link resolves to the target's row, then the link's.
        let names: Vec<&str> = r.names().collect();
        assert_eq!(names, [p, k, a.as_str()], "proc: {proc_}");
        assert_eq!(inodes_of(&diag, &names, p), [want]);
        assert_eq!(inodes_of(&diag, &names, k), [want]);
        assert_eq!(inodes_of(&diag, &names, &a), [inode(&abs.listener)]);
        assert!(diag.sockets().iter().all(|s| s.cgroup_id.is_none()));
    }
    let all = diag.unix_listener_stats_all().unwrap();
    let names: Vec<&str> = all.names().collect();
    assert_eq!(inodes_of(&diag, &names, p), [want]);
    assert_eq!(inodes_of(&diag, &names, &a), [inode(&abs.listener)]);
    assert!(!names.contains(&k));
    drop(l);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The `/proc/net/unix` fallback reads the calling thread's namespace: a
/// thread that entered another namespace sees that namespace's sockets,
/// the main thread does not.
#[test]
fn proc_fallback_reads_the_threads_namespace() {
    if !root_or_skip("proc_fallback_reads_the_threads_namespace") {
        return;
    }
    let ns = NamedNs::new("procunix");
    let name = format!("rd-proc-{}", std::process::id());
    let at = format!("@{name}");
    let (inside, queued, ino) = in_netns(&ns.path(), {
        let (name, at) = (name.clone(), at.clone());
        move || {
            let l = unix_loaded(&name, 8, 2, 0);
            let mut d = Diag::new().unwrap().with_sockets(true);
            let r = d.unix_listener_stats_proc(&[at.as_str()]).unwrap();
            let got: Vec<u64> = d.sockets().iter().map(|s| s.inode).collect();
            (got, r.get(&at).unwrap().queued, inode(&l.listener))
        }
    });
    assert_eq!(inside, [ino]);
    assert_eq!(queued, 2);
    let mut d = Diag::new().unwrap().with_sockets(true);
    let here = d.unix_listener_stats_proc(&[at.as_str()]).unwrap();
    assert_eq!(here.get(&at).unwrap().queued, 0);
    assert!(d.sockets().is_empty());
    let all = d.unix_listener_stats_proc::<&str>(&[]).unwrap();
    assert!(!all.contains(&at));
}
