//! The accept hook costs one `getsockopt(TCP_INFO)` per accepted
//! connection and nothing else: counted by strace on this very test, run
//! again as a child that accepts through the hook.
#![cfg(feature = "tcpinfo")]

use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};

use raindrops::{AtomicAggregate, LastDataRecvListener};

const CHILD: &str = "RAINDROPS_ACCEPT_SYSCALLS_CHILD";
const N: usize = 20;

/// In the traced child: `N` connections accepted through the hook.
fn child() {
    static WAITED: AtomicAggregate = AtomicAggregate::new();
    let l = LastDataRecvListener::new(TcpListener::bind("127.0.0.1:0").unwrap(), &WAITED);
    let addr = l.local_addr().unwrap();
    let clients: Vec<TcpStream> = (0..N).map(|_| TcpStream::connect(addr).unwrap()).collect();
    let accepted: Vec<TcpStream> = (0..N).map(|_| l.accept().unwrap().0).collect();
    assert_eq!(WAITED.count(), N as u64);
    drop((clients, accepted));
}

#[test]
fn one_getsockopt_per_accept() {
    if std::env::var_os(CHILD).is_some() {
        child();
        return;
    }
    let Ok(probe) = Command::new("strace").arg("-V").output() else {
        let _: Option<()> =
            raindrops_testutil::skip_oracle("strace is not installed", "apt-get install -y strace");
        return;
    };
    assert!(probe.status.success());
    let log = std::env::temp_dir().join(format!("raindrops-strace-{}.log", std::process::id()));
    let status = Command::new("strace")
        .args(["-f", "-qq", "-e", "trace=accept,accept4,getsockopt", "-o"])
        .arg(&log)
        .arg(std::env::current_exe().unwrap())
        .args(["--exact", "one_getsockopt_per_accept", "--test-threads=1"])
        .env(CHILD, "1")
        .stdout(Stdio::null())
        .status()
        .unwrap();
    let text = std::fs::read_to_string(&log).unwrap();
    let _ = std::fs::remove_file(&log);
    assert!(status.success(), "{text}");
    let count = |what: &str| text.lines().filter(|l| l.contains(what)).count();
    assert_eq!(count("accept4("), N, "{text}");
    assert_eq!(count("getsockopt("), N, "{text}");
    assert_eq!(count("TCP_INFO"), N, "{text}");
}
