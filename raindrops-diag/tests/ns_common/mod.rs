//! Helpers of the namespace and owner tests (and the namespace bench):
//! namespaces made by the test (`ip netns add`, or a forked child that
//! `unshare`s), sockets made inside them, holder processes, and the views
//! of `ss` inside a namespace.
#![allow(dead_code, unreachable_pub)]

use rustix::fd::{AsFd, OwnedFd};
use rustix::net::{AddressFamily, SocketAddrUnix, SocketFlags, SocketType};
use std::ffi::CString;
use std::net::{SocketAddr, SocketAddrV4};
use std::os::fd::{AsRawFd, FromRawFd};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Whether the kernel tests can run: they need root (namespaces, setns,
/// cgroups). Without it, prints why and returns false, unless
/// `RAINDROPS_REQUIRE_RUBY=1` (CI), where it fails.
pub fn root_or_skip(test: &str) -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    let why = format!("{test}: needs root (network namespaces, setns, cgroups)");
    if raindrops_testutil::ruby_required() {
        panic!("RAINDROPS_REQUIRE_RUBY=1 but {why}");
    }
    eprintln!("skipping {why}");
    false
}

/// Serializes the tests of one binary: a forked holder inherits every
/// descriptor of the test process, so sockets of a concurrent test would
/// gain owners.
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs `cmd` and returns its standard output, failing the test if it
/// fails.
pub fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A namespace made with `ip netns add` under a unique name, loopback up,
/// deleted on drop.
pub struct NamedNs {
    pub name: String,
}

impl NamedNs {
    pub fn new(tag: &str) -> NamedNs {
        let name = format!("rdt-{}-{tag}", std::process::id());
        let _ = Command::new("ip").args(["netns", "del", &name]).output();
        run(Command::new("ip").args(["netns", "add", &name]));
        run(Command::new("ip").args(["-n", &name, "link", "set", "lo", "up"]));
        NamedNs { name }
    }

    pub fn path(&self) -> PathBuf {
        Path::new("/run/netns").join(&self.name)
    }

    /// `cmd args…` run inside the namespace (`ip netns exec`).
    pub fn exec(&self, args: &[&str]) -> String {
        run(Command::new("ip")
            .args(["netns", "exec", &self.name])
            .args(args))
    }

    pub fn id(&self) -> raindrops_diag::NsId {
        raindrops_diag::NsId::of_path(self.path()).unwrap()
    }

    /// Deletes it now (as a user would with `ip netns del`).
    pub fn delete(self) {
        drop(self);
    }
}

impl Drop for NamedNs {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

/// Runs `f` on a thread that entered the namespace at `path`: sockets it
/// makes live in that namespace, wherever they are used later.
pub fn in_netns<T: Send + 'static>(path: &Path, f: impl FnOnce() -> T + Send + 'static) -> T {
    let path = path.to_path_buf();
    std::thread::spawn(move || {
        let fd = rustix::fs::open(
            &path,
            rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )
        .unwrap();
        rustix::thread::move_into_link_name_space(
            fd.as_fd(),
            Some(rustix::thread::LinkNameSpaceType::Network),
        )
        .unwrap();
        f()
    })
    .join()
    .unwrap()
}

/// A listener with a known backlog, `connect` clients of which `accept`
/// were accepted: (listener, clients, accepted).
pub struct Loaded {
    pub listener: OwnedFd,
    pub clients: Vec<OwnedFd>,
    pub served: Vec<OwnedFd>,
}

/// A TCP listener on `addr` with `backlog`, `connect` clients and `accept`
/// of them accepted, made in the calling thread's namespace.
pub fn tcp_loaded(addr: SocketAddr, backlog: i32, connect: usize, accept: usize) -> Loaded {
    let fam = if addr.is_ipv4() {
        AddressFamily::INET
    } else {
        AddressFamily::INET6
    };
    let l = rustix::net::socket_with(fam, SocketType::STREAM, SocketFlags::CLOEXEC, None).unwrap();
    rustix::net::sockopt::set_socket_reuseaddr(&l, true).unwrap();
    rustix::net::bind(&l, &addr).unwrap();
    rustix::net::listen(&l, backlog).unwrap();
    let local = rustix::net::getsockname(&l).unwrap();
    let local = SocketAddr::try_from(local).unwrap();
    let to = if local.ip().is_unspecified() {
        SocketAddr::new(
            if local.is_ipv4() {
                std::net::Ipv4Addr::LOCALHOST.into()
            } else {
                std::net::Ipv6Addr::LOCALHOST.into()
            },
            local.port(),
        )
    } else {
        local
    };
    let mut clients = Vec::new();
    for _ in 0..connect {
        let c =
            rustix::net::socket_with(fam, SocketType::STREAM, SocketFlags::CLOEXEC, None).unwrap();
        rustix::net::connect(&c, &to).unwrap();
        clients.push(c);
    }
    let served = (0..accept)
        .map(|_| rustix::net::accept_with(&l, SocketFlags::CLOEXEC).unwrap())
        .collect();
    Loaded {
        listener: l,
        clients,
        served,
    }
}

/// An abstract Unix listener `@name` with `connect` clients, `accept` of
/// them accepted, in the calling thread's namespace.
pub fn unix_loaded(name: &str, backlog: i32, connect: usize, accept: usize) -> Loaded {
    let addr = SocketAddrUnix::new_abstract_name(name.as_bytes()).unwrap();
    let l = rustix::net::socket_with(
        AddressFamily::UNIX,
        SocketType::STREAM,
        SocketFlags::CLOEXEC,
        None,
    )
    .unwrap();
    rustix::net::bind(&l, &addr).unwrap();
    rustix::net::listen(&l, backlog).unwrap();
    let clients = (0..connect)
        .map(|_| {
            let c = rustix::net::socket_with(
                AddressFamily::UNIX,
                SocketType::STREAM,
                SocketFlags::CLOEXEC,
                None,
            )
            .unwrap();
            rustix::net::connect(&c, &addr).unwrap();
            c
        })
        .collect();
    let served = (0..accept)
        .map(|_| rustix::net::accept_with(&l, SocketFlags::CLOEXEC).unwrap())
        .collect();
    Loaded {
        listener: l,
        clients,
        served,
    }
}

/// The inode of a socket.
pub fn inode(fd: &impl AsFd) -> u64 {
    rustix::fs::fstat(fd).unwrap().st_ino
}

/// A listener as `ss -Hln` prints it: (local address, Recv-Q, Send-Q).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct SsLine {
    pub local: String,
    pub recv_q: u32,
    pub send_q: u32,
}

/// Parses the LISTEN lines of `ss -Hltn` / `ss -Hlx` output; `ss` prints
/// `*:port` or `0.0.0.0:port` for the any-address and `[::]` for IPv6;
/// abstract Unix names as `@name`.
pub fn parse_ss_listen(out: &str, unix: bool) -> Vec<SsLine> {
    let mut v: Vec<SsLine> = out
        .lines()
        .filter_map(|l| {
            let c: Vec<&str> = l.split_whitespace().collect();
            // TCP: State Recv-Q Send-Q Local Peer; Unix (-x): Netid State
            // Recv-Q Send-Q Local Port Peer Port.
            let (rq, sq, local) = if unix {
                if c.len() < 6 || c[1] != "LISTEN" {
                    return None;
                }
                (c[2], c[3], c[4])
            } else {
                if c.len() < 4 || c[0] != "LISTEN" {
                    return None;
                }
                (c[1], c[2], c[3])
            };
            Some(SsLine {
                local: local.to_string(),
                recv_q: rq.parse().unwrap(),
                send_q: sq.parse().unwrap(),
            })
        })
        .collect();
    v.sort();
    v
}

/// The `users:((…))` triples `("name",pid=N,fd=M)` of an `ss -p` line.
pub fn parse_ss_users(line: &str) -> Vec<(String, u32, u32)> {
    let Some(i) = line.find("users:((") else {
        return Vec::new();
    };
    let rest = &line[i + 8..];
    let end = rest.find("))").unwrap_or(rest.len());
    let mut v: Vec<(String, u32, u32)> = rest[..end]
        .split("),(")
        .map(|t| {
            // "name",pid=N,fd=M
            let close = t.rfind("\",pid=").unwrap();
            let name = t[1..close].to_string();
            let mut nums = t[close + 6..].split(",fd=");
            let pid = nums.next().unwrap().parse().unwrap();
            let fd = nums.next().unwrap().parse().unwrap();
            (name, pid, fd)
        })
        .collect();
    v.sort_by_key(|t| (t.1, t.2));
    v
}

// ---------------------------------------------------------------------
// Forked holder processes (syscalls only between fork and _exit).

/// What a forked holder does, in order: join a cgroup, unshare its network
/// namespace (then bring loopback up), name itself, listen, connect and
/// accept, then report and wait for release.
pub struct HolderSpec {
    pub comm: CString,
    pub new_netns: bool,
    pub cgroup_procs: Option<CString>,
    /// (IPv4 address, port or 0, backlog, clients, accepted; accepts are
    /// interleaved with connects, so queues stay short).
    pub tcp: Vec<(SocketAddrV4, i32, usize, usize)>,
    /// (abstract name, backlog, clients, accepted).
    pub unix: Vec<(Vec<u8>, i32, usize, usize)>,
    pub nofile: Option<u64>,
    /// Sub-processes that share the listeners and make the TCP
    /// connections between them (0: this process makes them).
    pub workers: usize,
}

impl HolderSpec {
    pub fn new(comm: &str) -> Self {
        HolderSpec {
            comm: CString::new(comm).unwrap(),
            new_netns: false,
            cgroup_procs: None,
            tcp: Vec::new(),
            unix: Vec::new(),
            nofile: None,
            workers: 0,
        }
    }
}

/// A forked holder; dropping it kills and reaps it.
pub struct Holder {
    pub pid: u32,
    /// The TCP ports it listens on, in the order of the spec.
    pub ports: Vec<u16>,
    running: bool,
}

impl Holder {
    /// `/proc/PID/ns/net`.
    pub fn ns_path(&self) -> PathBuf {
        PathBuf::from(format!("/proc/{}/ns/net", self.pid))
    }

    /// `cmd args…` run inside its namespace (`nsenter --net`).
    pub fn exec(&self, args: &[&str]) -> String {
        run(Command::new("nsenter")
            .arg(format!("--net={}", self.ns_path().display()))
            .arg("--")
            .args(args))
    }

    /// Kills it and waits for it to exit.
    pub fn stop(mut self) {
        self.kill_and_reap();
    }

    fn kill_and_reap(&mut self) {
        if std::mem::take(&mut self.running) {
            // A signal rather than a pipe: every holder inherits the
            // descriptors of the others, so no pipe would ever close.
            // SAFETY: signalling a child this test forked and has not reaped.
            unsafe { libc::kill(self.pid as i32, libc::SIGKILL) };
            let mut status = 0;
            // SAFETY: waiting for that child.
            unsafe { libc::waitpid(self.pid as i32, &mut status, 0) };
        }
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        self.kill_and_reap();
    }
}

fn pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: `fds` is an array of two ints for pipe2 to fill.
    let r = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    assert_eq!(r, 0, "pipe2");
    // SAFETY: pipe2 succeeded: the descriptor is open and ours.
    let r = unsafe { OwnedFd::from_raw_fd(fds[0]) };
    // SAFETY: as above.
    let w = unsafe { OwnedFd::from_raw_fd(fds[1]) };
    (r, w)
}

fn read_exact(fd: &OwnedFd, buf: &mut [u8], pid: i32) {
    let mut got = 0;
    while got < buf.len() {
        let n = rustix::io::read(fd, &mut buf[got..]).unwrap();
        assert!(n > 0, "holder {pid} died before it was ready");
        got += n;
    }
}

/// Forks a holder doing `spec`. Panics with the failing step if the child
/// reports an error.
pub fn spawn_holder(spec: &HolderSpec) -> Holder {
    let (ready_r, ready_w) = pipe();
    let total: usize = spec.tcp.iter().map(|t| 1 + t.2 + t.3).sum::<usize>()
        + spec.unix.iter().map(|u| 1 + u.2 + u.3).sum::<usize>();
    let mut held: Vec<OwnedFd> = Vec::with_capacity(total + 4);
    // SAFETY: the child only makes system calls, pushes into a vector with
    // enough capacity (no allocation), writes to a pipe and leaves with
    // _exit or a signal.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork");
    if pid == 0 {
        child(spec, &mut held, ready_w.as_fd());
    }
    drop(ready_w);
    let mut status = [0u8; 5];
    read_exact(&ready_r, &mut status, pid);
    if status[0] != 0 {
        let step = status[0];
        let errno = i32::from_ne_bytes([status[1], status[2], status[3], status[4]]);
        let mut st = 0;
        // SAFETY: reaping the child that failed.
        unsafe { libc::waitpid(pid, &mut st, 0) };
        panic!(
            "holder failed at step {step}: {}",
            std::io::Error::from_raw_os_error(errno)
        );
    }
    let mut ports = Vec::new();
    for _ in &spec.tcp {
        let mut p = [0u8; 2];
        read_exact(&ready_r, &mut p, pid);
        ports.push(u16::from_ne_bytes(p));
    }
    Holder {
        pid: pid as u32,
        ports,
        running: true,
    }
}

/// Reports failure of `step` with errno `e` and exits.
fn fail(ready: rustix::fd::BorrowedFd<'_>, step: u8, e: i32) -> ! {
    let b = e.to_ne_bytes();
    let _ = rustix::io::write(ready, &[step, b[0], b[1], b[2], b[3]]);
    // SAFETY: ends the child without running the parent's destructors.
    unsafe { libc::_exit(1) }
}

fn last_errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

fn child(spec: &HolderSpec, held: &mut Vec<OwnedFd>, ready: rustix::fd::BorrowedFd<'_>) -> ! {
    // Dies with the test process.
    // SAFETY: PR_SET_PDEATHSIG takes a signal number.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
    if let Some(limit) = spec.nofile {
        let r = libc::rlimit {
            rlim_cur: limit,
            rlim_max: limit,
        };
        // SAFETY: a valid rlimit structure.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &r) } != 0 {
            fail(ready, 1, last_errno());
        }
    }
    if let Some(procs) = &spec.cgroup_procs {
        let fd = match rustix::fs::open(
            procs.as_c_str(),
            rustix::fs::OFlags::WRONLY | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        ) {
            Ok(fd) => fd,
            Err(e) => fail(ready, 2, e.raw_os_error()),
        };
        // "0" moves the writing process.
        if let Err(e) = rustix::io::write(&fd, b"0") {
            fail(ready, 3, e.raw_os_error());
        }
    }
    if spec.new_netns {
        // SAFETY: CLONE_NEWNET shares no descriptor table (the hazard of
        // unshare_unsafe is CLONE_FILES), and this child has one thread.
        let r = unsafe { rustix::thread::unshare_unsafe(rustix::thread::UnshareFlags::NEWNET) };
        if let Err(e) = r {
            fail(ready, 4, e.raw_os_error());
        }
        if let Err(e) = loopback_up() {
            fail(ready, 5, e);
        }
    }
    if let Err(e) = rustix::thread::set_name(spec.comm.as_c_str()) {
        fail(ready, 6, e.raw_os_error());
    }
    let mut ports = [0u16; 64];
    let mut listeners = [-1i32; 64];
    let mut dests = [SocketAddr::from(([0, 0, 0, 0], 0)); 64];
    if spec.tcp.len() > listeners.len() {
        fail(ready, 7, 0);
    }
    for (i, &(addr, backlog, _, _)) in spec.tcp.iter().enumerate() {
        let l = match listen_tcp(addr, backlog) {
            Ok(l) => l,
            Err(e) => fail(ready, 7, e.raw_os_error()),
        };
        let local = match rustix::net::getsockname(&l).map(SocketAddr::try_from) {
            Ok(Ok(a)) => a,
            _ => fail(ready, 8, 0),
        };
        ports[i] = local.port();
        listeners[i] = l.as_raw_fd();
        dests[i] = SocketAddr::new(
            if local.ip().is_unspecified() {
                std::net::Ipv4Addr::LOCALHOST.into()
            } else {
                local.ip()
            },
            local.port(),
        );
        held.push(l);
    }
    if spec.workers == 0 {
        if let Err((step, e)) = connections(spec, &listeners, &dests, 0, 1, held) {
            fail(ready, step, e);
        }
    } else {
        // Sub-processes share the listeners (as a pre-forking server's
        // workers do) and split the connections, each under the
        // descriptor limit.
        let mut fds = [0; 2];
        // SAFETY: `fds` is an array of two ints for pipe2 to fill.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            fail(ready, 15, last_errno());
        }
        for k in 0..spec.workers {
            // SAFETY: this process has one thread; the sub-process only
            // makes system calls and pushes within capacity.
            let pid = unsafe { libc::fork() };
            if pid < 0 {
                fail(ready, 16, last_errno());
            }
            if pid == 0 {
                // SAFETY: PR_SET_PDEATHSIG takes a signal number.
                unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
                let status = match connections(spec, &listeners, &dests, k, spec.workers, held) {
                    Ok(()) => 0u8,
                    Err((step, _)) => step,
                };
                // SAFETY: a valid descriptor and a one-byte buffer.
                unsafe { libc::write(fds[1], [status].as_ptr().cast(), 1) };
                loop {
                    // SAFETY: pause has no preconditions.
                    unsafe { libc::pause() };
                }
            }
        }
        for _ in 0..spec.workers {
            let mut b = [0u8];
            // SAFETY: a valid descriptor and a one-byte buffer.
            let n = unsafe { libc::read(fds[0], b.as_mut_ptr().cast(), 1) };
            if n != 1 || b[0] != 0 {
                fail(ready, if n == 1 { b[0] } else { 17 }, 0);
            }
        }
    }
    for (name, backlog, connect, accept) in &spec.unix {
        let addr = match SocketAddrUnix::new_abstract_name(name) {
            Ok(a) => a,
            Err(e) => fail(ready, 11, e.raw_os_error()),
        };
        let l = match rustix::net::socket_with(
            AddressFamily::UNIX,
            SocketType::STREAM,
            SocketFlags::CLOEXEC,
            None,
        )
        .and_then(|l| rustix::net::bind(&l, &addr).map(|()| l))
        .and_then(|l| rustix::net::listen(&l, *backlog).map(|()| l))
        {
            Ok(l) => l,
            Err(e) => fail(ready, 12, e.raw_os_error()),
        };
        for k in 0..*connect {
            match rustix::net::socket_with(
                AddressFamily::UNIX,
                SocketType::STREAM,
                SocketFlags::CLOEXEC,
                None,
            )
            .and_then(|c| rustix::net::connect(&c, &addr).map(|()| c))
            {
                Ok(c) => held.push(c),
                Err(e) => fail(ready, 13, e.raw_os_error()),
            }
            if k < *accept {
                match rustix::net::accept_with(&l, SocketFlags::CLOEXEC) {
                    Ok(s) => held.push(s),
                    Err(e) => fail(ready, 14, e.raw_os_error()),
                }
            }
        }
        held.push(l);
    }
    let _ = rustix::io::write(ready, &[0, 0, 0, 0, 0]);
    for p in ports.iter().take(spec.tcp.len()) {
        let _ = rustix::io::write(ready, &p.to_ne_bytes());
    }
    loop {
        // Waits for the parent's SIGKILL.
        // SAFETY: pause has no preconditions.
        unsafe { libc::pause() };
    }
}

/// Connections to each listener of `spec.tcp`: this process makes those
/// whose index is `k` modulo `of`, accepting (interleaved) those below the
/// listener's accept count.
fn connections(
    spec: &HolderSpec,
    listeners: &[i32],
    dests: &[SocketAddr],
    k: usize,
    of: usize,
    held: &mut Vec<OwnedFd>,
) -> Result<(), (u8, i32)> {
    for (i, &(_, _, connect, accept)) in spec.tcp.iter().enumerate() {
        // SAFETY: the listener stays open in `held` for this process's life.
        let l = unsafe { rustix::fd::BorrowedFd::borrow_raw(listeners[i]) };
        for c in (k..connect).step_by(of) {
            held.push(connect_tcp(&dests[i]).map_err(|e| (9, e.raw_os_error()))?);
            if c < accept {
                held.push(
                    rustix::net::accept_with(l, SocketFlags::CLOEXEC)
                        .map_err(|e| (10, e.raw_os_error()))?,
                );
            }
        }
    }
    Ok(())
}

fn listen_tcp(addr: SocketAddrV4, backlog: i32) -> rustix::io::Result<OwnedFd> {
    let l = rustix::net::socket_with(
        AddressFamily::INET,
        SocketType::STREAM,
        SocketFlags::CLOEXEC,
        None,
    )?;
    rustix::net::sockopt::set_socket_reuseaddr(&l, true)?;
    rustix::net::bind(&l, &SocketAddr::V4(addr))?;
    rustix::net::listen(&l, backlog)?;
    Ok(l)
}

fn connect_tcp(to: &SocketAddr) -> rustix::io::Result<OwnedFd> {
    let c = rustix::net::socket_with(
        AddressFamily::INET,
        SocketType::STREAM,
        SocketFlags::CLOEXEC,
        None,
    )?;
    rustix::net::connect(&c, to)?;
    Ok(c)
}

/// `ip link set lo up` with `SIOCSIFFLAGS`, without allocation.
fn loopback_up() -> Result<(), i32> {
    let s = rustix::net::socket_with(
        AddressFamily::INET,
        SocketType::DGRAM,
        SocketFlags::CLOEXEC,
        None,
    )
    .map_err(|e| e.raw_os_error())?;
    // SAFETY: ifreq is plain old data; all zeroes is a valid value.
    let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
    ifr.ifr_name[0] = b'l' as libc::c_char;
    ifr.ifr_name[1] = b'o' as libc::c_char;
    ifr.ifr_ifru.ifru_flags = libc::IFF_UP as libc::c_short;
    // SAFETY: SIOCSIFFLAGS reads an ifreq, which `ifr` is.
    let r = unsafe { libc::ioctl(s.as_raw_fd(), libc::SIOCSIFFLAGS, &ifr) };
    if r != 0 {
        return Err(last_errno());
    }
    Ok(())
}
