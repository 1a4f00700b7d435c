//! End-to-end test of the workspace: the `prefork` example (master + forked
//! workers on one listener) with shared gauges, LastDataRecv, the stats
//! endpoint, a worker killed mid-request, and the `raindrops` command
//! reading it all from outside.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use raindrops_testutil::exposition::sample;

use raindrops_core::CounterArray;

const RAINDROPS: &str = env!("CARGO_BIN_EXE_raindrops");

/// `cargo test` builds the examples next to the test binaries.
fn example() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap();
    dir.join("examples").join("prefork")
}

struct Server {
    child: Child,
    out: BufReader<ChildStdout>,
    addr: String,
    name: String,
    pids: Vec<i32>,
}

impl Server {
    fn start(workers: usize) -> Server {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("raindrops-prefork-test-{}-{n}", std::process::id());
        let mut child = Command::new(example())
            .args([
                "--listen",
                "127.0.0.1:0",
                "--workers",
                &workers.to_string(),
                "--name",
                &name,
            ])
            .stdout(Stdio::piped())
            .spawn()
            .expect("run the prefork example (built by cargo test)");
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let first = line(&mut out);
        let addr = first
            .split("listening on ")
            .nth(1)
            .and_then(|r| r.split(',').next())
            .unwrap_or_else(|| panic!("{first:?}"))
            .to_string();
        let pids = (0..workers).map(|_| worker_pid(&line(&mut out))).collect();
        Server {
            child,
            out,
            addr,
            name,
            pids,
        }
    }

    fn get(&self, target: &str) -> String {
        get(&self.addr, target)
    }

    /// SIGKILLs worker `w`, which holds one request inside the
    /// application, and checks that the master resets its gauges (calling
    /// 1 to 0) and forks a replacement, whose pid it records.
    fn kill_mid_request(&mut self, w: usize) {
        let pid = self.pids[w];
        assert!(
            Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status()
                .unwrap()
                .success()
        );
        let reset = line(&mut self.out);
        assert!(
            reset.contains(&format!(
                "worker {w} (pid {pid}) exited; reset its gauges (calling 1, writing 0)"
            )),
            "{reset}"
        );
        let replaced = line(&mut self.out);
        assert!(
            replaced.starts_with(&format!("prefork: worker {w} pid ")),
            "{replaced}"
        );
        self.pids[w] = worker_pid(&replaced);
    }

    /// Polls `/_raindrops` until `want` is in it.
    fn wait_for(&self, want: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let r = self.get("/_raindrops");
            if r.contains(want) || Instant::now() > deadline {
                return r;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}

fn line(r: &mut impl BufRead) -> String {
    let mut l = String::new();
    r.read_line(&mut l).unwrap();
    l
}

fn worker_pid(l: &str) -> i32 {
    l.rsplit(' ')
        .next()
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("{l:?}"))
}

fn get(addr: &str, target: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(format!("GET {target} HTTP/1.0\r\n\r\n").as_bytes())
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

/// A GET that may fail (a worker killed under it); the whole response or
/// `None`.
fn try_get(addr: &str, target: &str) -> Option<String> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(20))).ok()?;
    s.write_all(format!("GET {target} HTTP/1.0\r\n\r\n").as_bytes())
        .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

fn body(response: &str) -> &str {
    response.split_once("\r\n\r\n").map_or("", |(_, b)| b)
}

#[test]
fn gauges_stats_and_a_dead_worker() {
    let mut srv = Server::start(2);
    assert!(srv.get("/").ends_with("\r\n\r\nhello\n"));
    // The stats request itself is the one active connection.
    assert_eq!(
        body(&srv.get("/_raindrops")),
        format!(
            "calling: 0\nwriting: 0\n{0} active: 1\n{0} queued: 0\n",
            srv.addr
        )
    );

    // A request inside the application holds `calling` up...
    let addr = srv.addr.clone();
    let slow = thread::spawn(move || get(&addr, "/sleep?ms=30000"));
    let r = srv.wait_for("calling: 1\n");
    assert!(body(&r).starts_with("calling: 1\nwriting: 0\n"), "{r}");
    // ...in the shard of the worker serving it, visible from outside.
    let region = raindrops_shm::Region::open_read_only(&format!("shm:{}", srv.name)).unwrap();
    let busy = (0..2)
        .find(|&w| region.get(w) == Ok(1))
        .expect("a busy shard");
    let out = Command::new(RAINDROPS)
        .args(["counters", "--format", "json", &format!("shm:{}", srv.name)])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&format!(
            "{{\"index\":{busy},\"name\":\"calling[{busy}]\",\"value\":1}}"
        )),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    // Kill that worker mid-request: the master resets its shards and forks
    // a replacement, so `calling` is right again.
    srv.kill_mid_request(busy);
    assert_eq!(region.get(busy), Ok(0));
    let r = srv.wait_for("calling: 0\n");
    assert!(body(&r).starts_with("calling: 0\nwriting: 0\n"), "{r}");
    let cut = slow.join().unwrap();
    assert!(cut.is_empty(), "the killed worker answered: {cut:?}");

    // A body being sent holds `writing` up.
    let addr = srv.addr.clone();
    let streaming = thread::spawn(move || get(&addr, "/stream?ms=1500"));
    let r = srv.wait_for("writing: 1\n");
    assert!(body(&r).starts_with("calling: 0\nwriting: 1\n"), "{r}");
    assert!(
        streaming
            .join()
            .unwrap()
            .ends_with("first half\nsecond half\n")
    );
    let r = srv.wait_for("writing: 0\n");
    assert!(body(&r).starts_with("calling: 0\nwriting: 0\n"), "{r}");

    // Prometheus from the same numbers.
    let m = srv.get("/metrics");
    assert!(m.contains("raindrops_calling 0\n"), "{m}");
    assert_eq!(
        sample(&m, "raindrops_listener_active", &[("listener", &srv.addr)]),
        Some(1.0),
        "{m}"
    );

    // SIGTERM: workers stop, the shared memory name is removed.
    assert!(
        Command::new("kill")
            .arg(srv.child.id().to_string())
            .status()
            .unwrap()
            .success()
    );
    assert!(srv.child.wait().unwrap().success());
    let mut rest = String::new();
    srv.out.read_to_string(&mut rest).unwrap();
    assert!(rest.contains("prefork: stopped"), "{rest}");
    assert!(raindrops_shm::Region::open_read_only(&format!("shm:{}", srv.name)).is_err());
}

#[test]
fn last_data_recv_measures_the_wait_in_the_accept_queue() {
    let srv = Server::start(1);
    // The only worker is busy for 600 ms...
    let addr = srv.addr.clone();
    let busy = thread::spawn(move || get(&addr, "/sleep?ms=600"));
    // (Asked through shared memory: the busy worker cannot answer.)
    let region = raindrops_shm::Region::open_read_only(&format!("shm:{}", srv.name)).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while region.get(0) != Ok(1) && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(5));
    }
    // ...so this request, its data sent at once, waits in the accept queue
    // (TCP_DEFER_ACCEPT keeps data-less connections out of it).
    let started = Instant::now();
    let r = get(&srv.addr, "/");
    let waited = started.elapsed();
    assert!(r.ends_with("hello\n"));
    busy.join().unwrap();
    let r = srv.get("/last_data_recv");
    let header = |name: &str| -> u64 {
        r.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}: ")))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {name} in {r}"))
    };
    assert!(header("X-Count") >= 2, "{r}");
    let max = header("X-Max");
    // It waited at least most of the 600 ms (minus the time until the
    // first request was inside the application), and at most as long as
    // the client saw.
    assert!(max >= 300, "{r}");
    assert!(max <= waited.as_millis() as u64 + 20, "{max} vs {waited:?}");
}

#[test]
fn the_command_sees_the_prefork_listener() {
    let srv = Server::start(2);
    let out = Command::new(RAINDROPS)
        .args(["listeners", "--format", "json", &srv.addr])
        .output()
        .unwrap();
    let s = String::from_utf8_lossy(&out.stdout);
    for member in [
        format!("\"address\":\"{}\"", srv.addr),
        "\"active\":0,".into(),
        "\"queued\":0,".into(),
    ] {
        assert!(s.contains(&member), "{member} not in {s}");
    }
}

#[test]
fn a_worker_killed_under_load_leaves_nothing_behind() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    let mut srv = Server::start(3);
    let stop = Arc::new(AtomicBool::new(false));
    let responses = Arc::new(AtomicU64::new(0));
    let clients: Vec<_> = (0..16)
        .map(|i| {
            let (addr, stop, responses) =
                (srv.addr.clone(), Arc::clone(&stop), Arc::clone(&responses));
            thread::spawn(move || {
                let (target, want) = match i % 3 {
                    0 => ("/", "hello\n"),
                    1 => ("/sleep?ms=3", "slept\n"),
                    _ => ("/stream?ms=2", "first half\nsecond half\n"),
                };
                while !stop.load(Ordering::Relaxed) {
                    // Only complete responses count; the killed worker's
                    // requests in flight get none.
                    if try_get(&addr, target).is_some_and(|r| r.ends_with(want)) {
                        responses.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    // One request sleeps inside the application: the worker serving it is
    // killed there, so the kill lands mid-request for certain (a kill at a
    // random moment could fall between a response's last byte and its
    // count).
    let addr = srv.addr.clone();
    let long = thread::spawn(move || try_get(&addr, "/sleep?ms=5000"));
    // That worker is the one in `calling` whose completed-requests shard
    // stops moving while the others serve the load.
    let region = raindrops_shm::Region::open_read_only(&format!("shm:{}", srv.name)).unwrap();
    let (calling, requests) = (
        |w: usize| region.get(w).unwrap(),
        |w: usize| region.get(6 + w).unwrap(),
    );
    let mut victim = None;
    let deadline = Instant::now() + Duration::from_secs(10);
    while victim.is_none() && Instant::now() < deadline {
        let before: Vec<usize> = (0..3).map(requests).collect();
        thread::sleep(Duration::from_millis(300));
        victim = (0..3).find(|&w| calling(w) == 1 && requests(w) == before[w]);
    }
    let w = victim.expect("the worker holding the long request");
    srv.kill_mid_request(w);
    assert_eq!(
        long.join().unwrap().filter(|r| !r.is_empty()),
        None,
        "the killed request got an answer"
    );
    thread::sleep(Duration::from_millis(400));
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().unwrap();
    }
    let served = responses.load(Ordering::Relaxed);
    assert!(served > 100, "only {served} responses");
    // No request is in the application or being written any more, though a
    // worker died in the middle of some.
    let r = srv.wait_for("calling: 0\nwriting: 0\n");
    assert!(body(&r).starts_with("calling: 0\nwriting: 0\n"), "{r}");
    // Every response the clients received was counted, and nothing else.
    let m = srv.get("/metrics");
    assert!(
        m.contains(&format!("prefork_requests_total {served}\n")),
        "{served} responses; {m}"
    );
}

/// Two clients that send a byte every 2 s (each read well within any
/// per-read timeout) do not hold the two workers: a request's head has a
/// deadline, so a third client is answered.
#[test]
fn slow_clients_do_not_lock_out_the_workers() {
    let srv = Server::start(2);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let slow: Vec<_> = (0..2)
        .map(|_| {
            let addr = srv.addr.clone();
            let stop = std::sync::Arc::clone(&stop);
            thread::spawn(move || {
                let mut s = TcpStream::connect(&addr).unwrap();
                for b in b"GET / HTTP/1.0\r\nX: yyyyyyyyyyyyyyyyyyyy" {
                    if stop.load(std::sync::atomic::Ordering::Relaxed)
                        || s.write_all(&[*b]).is_err()
                    {
                        break;
                    }
                    thread::sleep(Duration::from_secs(2));
                }
            })
        })
        .collect();
    // Both workers now hold a slow client (TCP_DEFER_ACCEPT hands each
    // over with its first byte).
    thread::sleep(Duration::from_millis(500));
    let t = Instant::now();
    let r = try_get(&srv.addr, "/");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(
        r.is_some_and(|r| r.starts_with("HTTP/1.0 200")),
        "not served"
    );
    // The head deadline is 5 s; far from the minute the slow clients need.
    assert!(t.elapsed() < Duration::from_secs(15), "{:?}", t.elapsed());
    for s in slow {
        let _ = s.join();
    }
}

/// A request line that never ends is refused past 16 KiB instead of
/// growing a worker.
#[test]
fn an_endless_request_line_is_refused() {
    let srv = Server::start(1);
    let mut s = TcpStream::connect(&srv.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let chunk = vec![b'a'; 64 * 1024];
    let mut sent = 0usize;
    // The worker answers 431 and closes; writing then fails.
    while sent < 64 << 20 && s.write_all(&chunk).is_ok() {
        sent += chunk.len();
    }
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    assert!(
        out.starts_with(b"HTTP/1.0 431"),
        "{:?} after {sent} bytes",
        String::from_utf8_lossy(&out)
    );
    assert!(sent < 64 << 20, "the worker read all {sent} bytes");
    // The worker is still there and answers.
    assert!(srv.get("/").starts_with("HTTP/1.0 200"));
}
