//! Network namespaces against the real kernel: listeners with accepted and
//! queued connections in three namespaces made by the test plus the host,
//! each counted in its own namespace only and matching `ss` run inside it;
//! a namespace that disappears between two samples; an abstract Unix
//! socket in a namespace; a namespace that may not be entered. Needs root;
//! skipped with the reason otherwise (failing under
//! `RAINDROPS_REQUIRE_RUBY=1`).

mod ns_common;
use ns_common::*;
use raindrops_diag::{NsId, NsListeners, NsSample, NsSampler, NsScope, NsSkip, NsSpec, SkipTarget};
use std::net::SocketAddrV4;
use std::time::Duration;

fn sampler(scope: NsScope) -> NsSampler {
    NsSampler::new(scope)
        .with_discovery_interval(Duration::ZERO)
        .with_timeout(Duration::from_secs(20))
        .with_owners(true)
}

/// `(active, queued, backlog)` of listener `name` in `ns`.
fn stats(ns: &NsListeners, name: &str) -> Option<(u32, u32, Option<u32>)> {
    ns.listeners
        .iter()
        .find(|l| l.listener.name == name)
        .map(|l| {
            let s = l.listener.stats;
            (s.active, s.queued, s.backlog)
        })
}

fn ns<'a>(s: &'a NsSample, id: NsId, what: &str) -> &'a NsListeners {
    s.get(id).unwrap_or_else(|| {
        panic!(
            "{what} ({id}) missing from the sample; skipped: {:?}",
            s.skipped
        )
    })
}

/// Our TCP listeners of `ns` as `ss -Hltn` lines.
fn as_ss(ns: &NsListeners, unix: bool) -> Vec<SsLine> {
    let mut v: Vec<SsLine> = ns
        .listeners
        .iter()
        .filter(|l| l.listener.family.is_tcp() != unix)
        .map(|l| SsLine {
            local: l.listener.name.clone(),
            recv_q: l.listener.stats.queued,
            send_q: l.listener.stats.backlog.unwrap_or(0),
        })
        .collect();
    v.sort();
    v
}

fn v4(s: &str) -> SocketAddrV4 {
    s.parse().unwrap()
}

#[test]
fn listeners_are_counted_in_their_own_namespace_only() {
    if !root_or_skip("listeners_are_counted_in_their_own_namespace_only") {
        return;
    }
    let _serial = serial();
    let me = std::process::id();
    // The host: an ephemeral port, 2 clients, 1 accepted.
    let host = tcp_loaded("127.0.0.1:0".parse().unwrap(), 16, 2, 1);
    let host_port =
        std::net::SocketAddr::try_from(rustix::net::getsockname(&host.listener).unwrap())
            .unwrap()
            .port();
    let host_name = format!("127.0.0.1:{host_port}");
    // Two namespaces named with `ip netns`, their sockets made by this
    // process from a thread inside each; the same addresses in both.
    let a = NamedNs::new("a");
    let b = NamedNs::new("b");
    let in_a = in_netns(&a.path(), || {
        [
            tcp_loaded("127.0.0.1:18181".parse().unwrap(), 8, 3, 1),
            tcp_loaded("0.0.0.0:18182".parse().unwrap(), 4, 0, 0),
        ]
    });
    let in_b = in_netns(&b.path(), move || {
        [
            tcp_loaded("127.0.0.1:18181".parse().unwrap(), 8, 4, 3),
            tcp_loaded(format!("127.0.0.1:{host_port}").parse().unwrap(), 5, 1, 1),
        ]
    });
    // A third made by a forked child that unshares: no name, its own
    // process holds the sockets.
    let mut spec = HolderSpec::new("rd-ns-holder");
    spec.new_netns = true;
    spec.tcp = vec![
        (v4("127.0.0.1:18181"), 6, 5, 0),
        (SocketAddrV4::new([127, 0, 0, 1].into(), host_port), 3, 2, 0),
    ];
    let c = spawn_holder(&spec);
    let c_id = NsId::of_path(c.ns_path()).unwrap();
    let host_id = NsId::of_current_process().unwrap();

    let mut s = sampler(NsScope::All);
    let sample = s.sample();
    let first = &sample.namespaces[0];
    assert!(first.ns.current && first.ns.id == host_id);

    type Want<'a> = &'a [(&'a str, (u32, u32, Option<u32>))];
    let expect: [(NsId, &str, Want<'_>); 4] = [
        (host_id, "host", &[(&host_name, (1, 1, Some(16)))]),
        (
            a.id(),
            "a",
            &[
                ("127.0.0.1:18181", (1, 2, Some(8))),
                ("0.0.0.0:18182", (0, 0, Some(4))),
            ],
        ),
        (
            b.id(),
            "b",
            &[
                ("127.0.0.1:18181", (3, 1, Some(8))),
                (&host_name, (1, 0, Some(5))),
            ],
        ),
        (
            c_id,
            "c",
            &[
                ("127.0.0.1:18181", (0, 5, Some(6))),
                (&host_name, (0, 2, Some(3))),
            ],
        ),
    ];
    for (id, what, want) in expect {
        let n = ns(&sample, id, what);
        for (name, w) in want {
            assert_eq!(stats(n, name), Some(*w), "{what} {name}");
        }
    }
    // The ports of the test namespaces are not counted in the host.
    let h = ns(&sample, host_id, "host");
    assert_eq!(stats(h, "127.0.0.1:18181"), None);
    assert_eq!(stats(h, "0.0.0.0:18182"), None);

    // Every listener of the three test namespaces is the test's: the
    // whole set matches `ss` run inside each, and so do the connections
    // (`ss` lists accepted and waiting ones, active + queued).
    type Exec<'a> = Box<dyn Fn(&[&str]) -> String + 'a>;
    let inside: [(&str, NsId, Exec<'_>); 3] = [
        ("a", a.id(), Box::new(|args: &[&str]| a.exec(args))),
        ("b", b.id(), Box::new(|args: &[&str]| b.exec(args))),
        ("c", c_id, Box::new(|args: &[&str]| c.exec(args))),
    ];
    for (what, id, exec) in &inside {
        let n = ns(&sample, *id, what);
        let ss = parse_ss_listen(&exec(&["ss", "-Hltn"]), false);
        assert_eq!(as_ss(n, false), ss, "{what}: ours vs ss -ltn");
        for l in &n.listeners {
            let port = l.listener.name.rsplit(':').next().unwrap();
            let est = exec(&[
                "ss",
                "-Htn",
                "state",
                "established",
                &format!("sport = :{port}"),
            ]);
            let s = l.listener.stats;
            assert_eq!(
                est.lines().count() as u32,
                s.active + s.queued,
                "{what} {}: established",
                l.listener.name
            );
        }
    }
    // The host listener as `ss` sees it in the host.
    let ss = parse_ss_listen(
        &run(std::process::Command::new("ss").args(["-Hltn", &format!("sport = :{host_port}")])),
        false,
    );
    assert_eq!(
        ss,
        [SsLine {
            local: host_name.clone(),
            recv_q: 1,
            send_q: 16
        }]
    );

    // Names, pids, owners.
    assert_eq!(
        ns(&sample, a.id(), "a").ns.names,
        [std::ffi::OsString::from(&a.name)]
    );
    let cn = ns(&sample, c_id, "c");
    assert!(cn.ns.names.is_empty());
    assert_eq!(cn.ns.pid, Some(c.pid));
    for l in &cn.listeners {
        let o = l.main_owner().expect("the holder owns it");
        assert_eq!((o.pid, o.process.comm.as_str()), (c.pid, "rd-ns-holder"));
        assert_eq!(l.inodes.len(), 1);
        // The record carries its namespace (unnamed) and its owner.
        let r = l.listener.as_ref();
        assert_eq!(r.netns, Some(raindrops_core::Netns::new(c_id.ino)));
        assert_eq!(
            r.owner,
            Some(raindrops_core::Owner::new(c.pid, "rd-ns-holder"))
        );
    }
    for l in &ns(&sample, a.id(), "a").listeners {
        let n = l.listener.netns.as_ref().unwrap();
        assert_eq!(
            (n.inode, n.name.as_deref()),
            (a.id().ino, Some(a.name.as_str()))
        );
    }
    for (id, what) in [(a.id(), "a"), (b.id(), "b")] {
        for l in &ns(&sample, id, what).listeners {
            assert_eq!(l.main_owner().map(|o| o.pid), Some(me), "{what}");
        }
    }
    let ours = [a.id(), b.id(), c_id, host_id];
    assert!(
        !sample
            .skipped
            .iter()
            .any(|x| x.ns_id().is_some_and(|i| ours.contains(&i))),
        "{:?}",
        sample.skipped
    );
    // A second sample: the same namespaces and counts, from the same
    // workers, with owners from the cache.
    let again = s.sample();
    for (id, what, want) in expect {
        let n = ns(&again, id, what);
        for (name, w) in want {
            assert_eq!(stats(n, name), Some(*w), "{what} {name} (again)");
        }
    }
    drop((in_a, in_b, host));
}

#[test]
fn a_namespace_that_disappears_between_two_samples_is_skipped_once() {
    if !root_or_skip("a_namespace_that_disappears_between_two_samples_is_skipped_once") {
        return;
    }
    let _serial = serial();
    let mut spec = HolderSpec::new("rd-ns-gone");
    spec.new_netns = true;
    spec.tcp = vec![(v4("127.0.0.1:18191"), 4, 1, 0)];
    let d = spawn_holder(&spec);
    let d_id = NsId::of_path(d.ns_path()).unwrap();
    let e = NamedNs::new("gone");
    let e_id = e.id();
    let e_socks = in_netns(&e.path(), || {
        tcp_loaded("127.0.0.1:18192".parse().unwrap(), 4, 2, 0)
    });
    let host_id = NsId::of_current_process().unwrap();

    let mut s = sampler(NsScope::All);
    let s1 = s.sample();
    assert_eq!(
        stats(ns(&s1, d_id, "d"), "127.0.0.1:18191"),
        Some((0, 1, Some(4)))
    );
    assert_eq!(
        stats(ns(&s1, e_id, "e"), "127.0.0.1:18192"),
        Some((0, 2, Some(4)))
    );
    let vanished_before = s.skip_counts().get("vanished");

    // Its process exits; the other's name is deleted and its sockets
    // closed.
    d.stop();
    drop(e_socks);
    e.delete();
    let s2 = s.sample();
    assert!(s2.get(d_id).is_none() && s2.get(e_id).is_none());
    for id in [d_id, e_id] {
        let skip = s2
            .skipped
            .iter()
            .find(|x| x.ns_id() == Some(id))
            .unwrap_or_else(|| panic!("{id} not reported: {:?}", s2.skipped));
        assert_eq!(skip.reason, NsSkip::Vanished);
        assert_eq!(skip.reason.kind(), "vanished");
    }
    assert!(s.skip_counts().get("vanished") >= vanished_before + 2);
    // The sample itself did not fail: the host is there.
    assert!(s2.get(host_id).is_some());
    assert!(s2.discovery_error.is_none());
    // Reported once, not at every sample.
    let s3 = s.sample();
    assert!(
        !s3.skipped
            .iter()
            .any(|x| matches!(&x.target, SkipTarget::Ns(n) if n.id == d_id || n.id == e_id)),
        "{:?}",
        s3.skipped
    );

    // Asked for by pid or name, and gone: skipped, not an error.
    let gone_pid = NsSpec::Pid(d_pid_surely_gone());
    let mut only = sampler(NsScope::Only(vec![
        gone_pid.clone(),
        NsSpec::Name("rd-no-such-netns".into()),
        NsSpec::Pid(std::process::id()),
    ]));
    let s4 = only.sample();
    assert_eq!(s4.namespaces.len(), 1);
    assert_eq!(s4.namespaces[0].ns.id, host_id);
    let specs: Vec<_> = s4
        .skipped
        .iter()
        .map(|x| (x.target.clone(), x.reason))
        .collect();
    assert_eq!(
        specs,
        [
            (SkipTarget::Spec(gone_pid), NsSkip::Vanished),
            (
                SkipTarget::Spec(NsSpec::Name("rd-no-such-netns".into())),
                NsSkip::Vanished
            ),
        ]
    );
}

/// A pid with no process: one of a child that was reaped.
fn d_pid_surely_gone() -> u32 {
    let c = spawn_holder(&HolderSpec::new("rd-ns-brief"));
    let pid = c.pid;
    c.stop();
    pid
}

#[test]
fn abstract_unix_socket_in_a_namespace() {
    if !root_or_skip("abstract_unix_socket_in_a_namespace") {
        return;
    }
    let _serial = serial();
    let name = format!("rd-ns-abs-{}", std::process::id());
    let f = NamedNs::new("abs");
    // The same abstract name in the host and in the namespace: abstract
    // Unix names are per network namespace.
    let n2 = name.clone();
    let inside = in_netns(&f.path(), move || unix_loaded(&n2, 7, 3, 1));
    let host = unix_loaded(&name, 4, 1, 0);
    let mut s = sampler(NsScope::All);
    let sample = s.sample();
    // (unix_diag reports the backlog of a Unix listener too: 7 and 4.)
    let key = format!("@{name}");
    let fin = ns(&sample, f.id(), "f");
    assert_eq!(stats(fin, &key), Some((1, 2, Some(7))));
    let l = fin
        .listeners
        .iter()
        .find(|l| l.listener.name == key)
        .unwrap();
    assert_eq!(l.listener.family, raindrops_core::Family::Unix);
    assert_eq!(l.inodes, [inode(&inside.listener)]);
    assert_eq!(l.main_owner().map(|o| o.pid), Some(std::process::id()));
    let h = ns(&sample, NsId::of_current_process().unwrap(), "host");
    assert_eq!(stats(h, &key), Some((0, 1, Some(4))));
    assert_eq!(
        h.listeners
            .iter()
            .find(|l| l.listener.name == key)
            .unwrap()
            .inodes,
        [inode(&host.listener)]
    );
    // `ss -lx` inside: the namespace's only Unix listener, same queue.
    let ss = parse_ss_listen(&f.exec(&["ss", "-Hlx"]), true);
    assert_eq!(ss.len(), 1);
    assert_eq!((ss[0].local.as_str(), ss[0].recv_q), (key.as_str(), 2));
    assert_eq!(as_ss(fin, true).len(), 1);
}

#[test]
fn a_namespace_that_may_not_be_entered_is_skipped_with_a_count() {
    if !root_or_skip("a_namespace_that_may_not_be_entered_is_skipped_with_a_count") {
        return;
    }
    let _serial = serial();
    let g = NamedNs::new("deny");
    let gid = g.id();
    let path = g.path();
    // A thread that gives up root (the raw system calls change only the
    // calling thread; the workers it starts inherit its credentials).
    let (skipped, counts, denied_procs, own, owner_denied) = std::thread::spawn(move || {
        drop_privileges_of_this_thread();
        let mut s = NsSampler::new(NsScope::Only(vec![NsSpec::Path(path)]))
            .with_timeout(Duration::from_secs(20));
        let sample = s.sample();
        assert!(sample.namespaces.is_empty(), "{:?}", sample.namespaces);
        let discovered = raindrops_diag::NsDiscovery::new().all().unwrap();
        // Its own namespace and its own process work unprivileged.
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let name = l.local_addr().unwrap().to_string();
        let mut cur = NsSampler::new(NsScope::Current).with_owners(true);
        let cs = cur.sample();
        let mine = cs.namespaces[0]
            .listeners
            .iter()
            .find(|x| x.listener.name == name)
            .and_then(|x| x.main_owner().map(|o| o.pid));
        let owner_denied = cur.owners().unwrap().stats().denied;
        (
            sample.skipped,
            s.skip_counts(),
            discovered.denied,
            mine,
            owner_denied,
        )
    })
    .join()
    .unwrap();
    assert_eq!(skipped.len(), 1, "{skipped:?}");
    assert_eq!(skipped[0].ns_id(), Some(gid));
    assert!(
        matches!(skipped[0].reason, NsSkip::Denied(e) if e.raw() == libc::EPERM),
        "{:?}",
        skipped[0].reason
    );
    assert_eq!(counts.get("denied"), 1);
    assert_eq!(counts.total(), 1);
    // Other users' processes (pid 1, root's) are counted, not fatal.
    assert!(denied_procs >= 1);
    assert_eq!(own, Some(std::process::id()));
    assert!(owner_denied >= 1);
}

/// Gives up root in the calling thread only (raw system calls: the C
/// library's wrappers would change every thread).
fn drop_privileges_of_this_thread() {
    let nobody: libc::c_long = 65534;
    // SAFETY: setgroups with an empty list reads no memory.
    let r = unsafe { libc::syscall(libc::SYS_setgroups, 0, std::ptr::null::<libc::gid_t>()) };
    assert_eq!(r, 0, "setgroups");
    // SAFETY: plain integer arguments.
    let r = unsafe { libc::syscall(libc::SYS_setresgid, nobody, nobody, nobody) };
    assert_eq!(r, 0, "setresgid");
    // SAFETY: plain integer arguments.
    let r = unsafe { libc::syscall(libc::SYS_setresuid, nobody, nobody, nobody) };
    assert_eq!(r, 0, "setresuid");
}

#[test]
fn a_worker_that_does_not_answer_in_time_cannot_stall_a_sample() {
    // No privilege needed: this process's namespace only.
    let mut s = NsSampler::new(NsScope::Current).with_timeout(Duration::ZERO);
    let s1 = s.sample();
    // A new worker has to enter, open its socket and query: it cannot
    // answer in no time, so the sample returns without it, reporting it.
    assert_eq!(s1.namespaces.len() + s1.skipped.len(), 1);
    let late = s1.skipped.len() as u64;
    if let Some(x) = s1.skipped.first() {
        assert_eq!(x.reason, NsSkip::Timeout);
    }
    assert_eq!(s.skip_counts().get("timeout"), late);
    // Given time, the same worker answers the next sample (its late
    // answer to the first one is discarded, not taken for the second).
    s.set_timeout(Duration::from_secs(20));
    let s2 = s.sample();
    assert_eq!(s2.namespaces.len(), 1, "{:?}", s2.skipped);
    assert!(s2.namespaces[0].ns.current);
    assert_eq!(s.skip_counts().total(), late);
}

#[test]
fn a_path_that_is_not_a_network_namespace_is_skipped() {
    if !root_or_skip("a_path_that_is_not_a_network_namespace_is_skipped") {
        return;
    }
    let _serial = serial();
    // A plain file: refused when resolved, before it is opened.
    let file = std::env::temp_dir().join(format!("rd-not-netns-{}", std::process::id()));
    std::fs::write(&file, b"").unwrap();
    // A bind mount of another kind of namespace (what `ip netns add` does
    // with a network one): found on nsfs, refused by setns.
    let uts = std::env::temp_dir().join(format!("rd-uts-ns-{}", std::process::id()));
    std::fs::write(&uts, b"").unwrap();
    run(std::process::Command::new("mount").args([
        "--bind",
        &format!("/proc/{}/ns/uts", std::process::id()),
        uts.to_str().unwrap(),
    ]));
    let mut s = sampler(NsScope::Only(vec![
        NsSpec::Path(file.clone()),
        NsSpec::Path(uts.clone()),
    ]));
    let sample = s.sample();
    let _ = std::process::Command::new("umount").arg(&uts).output();
    let _ = std::fs::remove_file(&uts);
    let _ = std::fs::remove_file(&file);
    assert!(sample.namespaces.is_empty(), "{:?}", sample.namespaces);
    let reasons: Vec<NsSkip> = sample.skipped.iter().map(|x| x.reason).collect();
    assert_eq!(reasons, [NsSkip::NotNetns, NsSkip::NotNetns]);
    assert!(matches!(&sample.skipped[0].target, SkipTarget::Spec(NsSpec::Path(p)) if *p == file));
    assert_eq!(s.skip_counts().get("not_netns"), 2);
}

/// Listeners asked for by name get the rules of one namespace's query in
/// every namespace: the caller's order, a named path with zeros where
/// nothing listens, each row with its sockets.
#[test]
fn named_listeners_in_every_namespace() {
    if !root_or_skip("named_listeners_in_every_namespace") {
        return;
    }
    let _serial = serial();
    let a = NamedNs::new("named");
    let abs = format!("rd-named-{}", std::process::id());
    let (inside, abs_in) = in_netns(&a.path(), {
        let abs = abs.clone();
        move || {
            (
                tcp_loaded("127.0.0.1:18195".parse().unwrap(), 4, 2, 1),
                unix_loaded(&abs, 4, 1, 0),
            )
        }
    });
    let at = format!("@{abs}");
    let names = ["127.0.0.1:18196", "127.0.0.1:18195", at.as_str()];
    let query = raindrops_diag::NsQuery::new().with_names(names);
    let mut s = NsSampler::new(NsScope::Only(vec![NsSpec::Name(a.name.clone().into())]))
        .with_query(query)
        .with_owners(true)
        .with_timeout(Duration::from_secs(20));
    let sample = s.sample();
    let n = ns(&sample, a.id(), "named");
    let rows: Vec<(&str, u32, u32, Vec<u64>)> = n
        .listeners
        .iter()
        .map(|l| {
            let st = l.listener.stats;
            (
                l.listener.name.as_str(),
                st.active,
                st.queued,
                l.inodes.clone(),
            )
        })
        .collect();
    // Two addresses: the one not listening is left out; a Unix name is
    // always shown.
    assert_eq!(
        rows,
        [
            ("127.0.0.1:18195", 1, 1, vec![inode(&inside.listener)]),
            (at.as_str(), 0, 1, vec![inode(&abs_in.listener)]),
        ]
    );
    drop((inside, abs_in));
}
