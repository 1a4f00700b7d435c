//! An axum server with the layer, set up in five lines of user code,
//! answers `/_raindrops` byte for byte as Ruby's `Raindrops::Middleware`
//! does for the same listeners in the same state: this process's own
//! listeners (found by the layer's `KernelSource::own`, given to Ruby by
//! name), with accepted, queued and in-flight connections.
//!
//! One test in this file: `KernelSource::own` shows every listener of the
//! process, so no other test may open listeners meanwhile.
#![cfg(feature = "axum")]

mod common;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::net::{UnixListener, UnixStream};
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use common::KeepAlive;
use tokio::sync::watch;

/// Ruby's middleware over a stub application, asked for `/_raindrops` by
/// Rack's mock request; `calling`/`writing` set to ours (Ruby's own
/// counters only see Ruby's requests), listeners from ARGV.
const SCRIPT: &str = r#"
calling, writing = Integer(ARGV.shift), Integer(ARGV.shift)
stats = Raindrops::Middleware::Stats.new(calling, writing)
app = Raindrops::Middleware.new(lambda { |env| [200, {}, []] }, listeners: ARGV, stats: stats)
res = Rack::MockRequest.new(app).get("/_raindrops")
print res.status, "\n", res["Content-Type"], "\n", res["Content-Length"], "\n", res.body
"#;

fn ruby(calling: usize, writing: usize, listeners: &[String]) -> Option<String> {
    let mut args = vec![calling.to_string(), writing.to_string()];
    args.extend(listeners.iter().cloned());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    raindrops_testutil::ruby(&["raindrops", "rack", "rack/mock"], SCRIPT, &args)
}

fn ours(conn: &mut KeepAlive) -> String {
    let a = conn.get("/_raindrops", &[]);
    format!(
        "{}\n{}\n{}\n{}",
        a.status,
        a.header("content-type").unwrap_or(""),
        a.header("content-length").unwrap_or(""),
        a.text()
    )
}

#[test]
fn axum_layer_answers_what_ruby_middleware_answers() {
    if raindrops_testutil::ruby_missing(&["raindrops", "rack", "rack/mock"]).is_some() {
        let _: Option<()> = raindrops_testutil::skip("ruby-raindrops and ruby-rack");
        return;
    }
    let dir = common::TempDir::new("axum-ruby");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // The application: `/` answers at once, `/held` when the gate opens,
    // `/stream` sends a first chunk and the rest when the gate opens.
    let (open, gate) = watch::channel(false);
    let held = {
        let gate = gate.clone();
        move || common::gated::held_until(gate.clone(), "done")
    };
    let stream = move || {
        let gate = gate.clone();
        async move { common::gated::stream_until(gate, b"first ", b"last") }
    };

    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let _guard = rt.enter();
    // --- The user's code: the application's routes, one line for
    // raindrops (the layer over this process's own listeners), serving. ---
    let app = Router::new()
        .route("/", get(|| async { "hello" }))
        .route("/held", get(held))
        .route("/stream", get(stream))
        .layer(raindrops::layer(raindrops::KernelSource::own().unwrap()));
    rt.spawn(async move { axum::serve(listener, app).await });
    // --- End of the user's code. ---

    // More listeners of this process: TCP with accepted and queued
    // connections, IPv6 where the machine has it, and a Unix socket.
    let idle = TcpListener::bind("127.0.0.1:0").unwrap();
    let idle_addr = idle.local_addr().unwrap();
    let clients: Vec<TcpStream> = (0..3)
        .map(|_| TcpStream::connect(idle_addr).unwrap())
        .collect();
    let accepted = idle.accept().unwrap().0;
    let v6 = TcpListener::bind("[::1]:0").ok();
    let v6_client = v6
        .as_ref()
        .map(|l| TcpStream::connect(l.local_addr().unwrap()).unwrap());
    let path = dir.0.join("app.sock");
    let ul = UnixListener::bind(&path).unwrap();
    let uclients: Vec<UnixStream> = (0..2)
        .map(|_| UnixStream::connect(&path).unwrap())
        .collect();
    let uaccepted = ul.accept().unwrap().0;

    // The listeners by name, in the order the layer shows them: TCP
    // (IPv4 first, by address), then Unix.
    let mut tcp: Vec<SocketAddr> = vec![addr, idle_addr];
    tcp.extend(v6.as_ref().map(|l| l.local_addr().unwrap()));
    tcp.sort_by_key(|a| (a.is_ipv6(), *a));
    let mut names: Vec<String> = tcp.iter().map(ToString::to_string).collect();
    names.push(path.to_str().unwrap().to_string());

    // At rest: one keep-alive connection of ours, nothing in flight.
    let mut conn = KeepAlive::connect(addr);
    assert_eq!(conn.get("/", &[]).text(), "hello");
    let body = ours(&mut conn);
    let want = ruby(0, 0, &names).unwrap();
    assert_eq!(body, want);
    assert!(body.contains(&format!("{idle_addr} active: 1\n{idle_addr} queued: 2\n")));
    assert!(body.contains(&format!("{addr} active: 1\n")), "{body}");

    // In flight: three requests inside the application, two responses
    // being written, each on a connection of its own (active too).
    let in_app: Vec<_> = (0..3)
        .map(|_| std::thread::spawn(move || common::http(addr, "GET", "/held", &[])))
        .collect();
    let streams: Vec<_> = (0..2)
        .map(|_| std::thread::spawn(move || common::http(addr, "GET", "/stream", &[])))
        .collect();
    common::wait_until("3 calling, 2 writing", || {
        ours(&mut conn).contains("calling: 3\nwriting: 2\n")
    });
    // Connections settle (accepted by the server) before both look.
    std::thread::sleep(Duration::from_millis(100));
    let body = ours(&mut conn);
    let want = ruby(3, 2, &names).unwrap();
    assert_eq!(body, want);
    assert!(body.contains(&format!("{addr} active: 6\n")), "{body}");

    let _ = open.send(true);
    for t in in_app {
        assert_eq!(t.join().unwrap().text(), "done");
    }
    for t in streams {
        assert_eq!(t.join().unwrap().text(), "first last");
    }
    common::wait_until("all finished", || {
        ours(&mut conn).starts_with("200\ntext/plain\n")
            && ours(&mut conn).contains("calling: 0\nwriting: 0\n")
    });
    drop((
        clients, accepted, v6_client, uclients, uaccepted, ul, idle, v6,
    ));
}
