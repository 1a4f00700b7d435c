//! The accept hook against the kernel and against Ruby's
//! `Raindrops::Aggregate::LastDataRecv` (the listener extension) and
//! `Raindrops::LastDataRecv` (its Rack page): for the same delayed-first-byte
//! clients, the same aggregate and the same page, byte for byte.
#![cfg(all(feature = "tcpinfo", feature = "http"))]

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use raindrops::http::{Body, Request, Router, Snapshot};
use raindrops::tcpinfo::{tcp_defer_accept, tcp_info};
use raindrops::{AtomicAggregate, LastDataRecvListener};

/// Ruby extends the same listener (which sets `TCP_DEFER_ACCEPT`), then
/// receives each socket we accepted over a Unix socket and `count!`s it,
/// which pushes `TCP_Info#last_data_recv` into an `Aggregate`; at the end
/// it prints its values and the page of `Raindrops::LastDataRecv` over
/// that aggregate.
const SCRIPT: &str = r##"
agg = Aggregate.new
values = []
Raindrops::Aggregate::LastDataRecv.default_aggregate = agg
srv = TCPServer.for_fd(3)
srv.extend(Raindrops::Aggregate::LastDataRecv)
ctl = UNIXSocket.for_fd(4)
ctl.write("defer=#{srv.getsockopt(Socket::SOL_TCP, 9).int}\n")
Integer(ARGV[0]).times do
  io = ctl.recv_io
  srv.count!(io)
  values << Raindrops::TCP_Info.new(io).last_data_recv
  io.close
  ctl.write("k")
end
status, headers, body = Raindrops::LastDataRecv.new(aggregate: agg).call({})
out = headers.map { |k, v| "#{k}: #{v}\n" }.sort.join
print "values=", values.join(","), "\n", out, "\n", body.join
"##;

/// How the sockets are accepted: std's listener or tokio's.
#[derive(Clone, Copy, Debug)]
enum Flavour {
    Std,
    Tokio,
}

/// One round: `delays.len()` clients send their first byte `delays[i]` ms
/// after connecting, all are accepted through the hook after the last
/// sent; Ruby counts each right after us. `None` if the kernel's clock
/// moved between our read and Ruby's for some socket (then the two cannot
/// be equal and the round is repeated), else (ours, Ruby's) output.
fn round(flavour: Flavour, delays: &[u64]) -> Option<Option<(String, String)>> {
    let agg = Arc::new(AtomicAggregate::new());
    let std_listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = std_listener.local_addr().unwrap();
    let (mine, theirs) = UnixStream::pair().unwrap();
    let mut cmd =
        raindrops_testutil::ruby_command(&["raindrops", "aggregate", "socket"], SCRIPT, &[])?;
    cmd.arg(delays.len().to_string()).stdout(Stdio::piped());
    common::pass_fds(&mut cmd, &[std_listener.as_fd(), theirs.as_fd()]);
    let child = cmd.spawn().expect("run ruby");
    drop(theirs);
    let mut ctl = mine;
    // Ruby has set TCP_DEFER_ACCEPT on the listener; ours sets the same.
    let mut line = [0u8; 9];
    ctl.read_exact(&mut line).unwrap();
    assert_eq!(&line, b"defer=63\n");

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    enum Hook {
        Std(LastDataRecvListener<TcpListener, Arc<AtomicAggregate>>),
        Tokio(LastDataRecvListener<tokio::net::TcpListener, Arc<AtomicAggregate>>),
    }
    let hook = match flavour {
        Flavour::Std => Hook::Std(
            LastDataRecvListener::new(std_listener, Arc::clone(&agg))
                .defer_accept()
                .unwrap(),
        ),
        Flavour::Tokio => {
            std_listener.set_nonblocking(true).unwrap();
            let _g = rt.enter();
            let l = tokio::net::TcpListener::from_std(std_listener).unwrap();
            Hook::Tokio(
                LastDataRecvListener::new(l, Arc::clone(&agg))
                    .defer_accept()
                    .unwrap(),
            )
        }
    };
    let defer = match &hook {
        Hook::Std(l) => tcp_defer_accept(l.get_ref()),
        Hook::Tokio(l) => tcp_defer_accept(l.get_ref()),
    };
    assert_eq!(defer, Ok(63));

    // Clients connect now and send their first byte later.
    let clients: Vec<_> = delays
        .iter()
        .map(|&ms| {
            std::thread::spawn(move || {
                let mut c = TcpStream::connect(addr).unwrap();
                std::thread::sleep(Duration::from_millis(ms));
                c.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
                c
            })
        })
        .collect();
    let clients: Vec<TcpStream> = clients.into_iter().map(|t| t.join().unwrap()).collect();
    std::thread::sleep(Duration::from_millis(30));

    let mut ours = Vec::new();
    let mut crossed = false;
    let mut accepted: Vec<OwnedFd> = Vec::new();
    for _ in delays {
        let before = agg.snapshot().sum();
        let conn: OwnedFd = match &hook {
            Hook::Std(l) => l.accept().unwrap().0.into(),
            Hook::Tokio(l) => rt
                .block_on(l.accept())
                .unwrap()
                .0
                .into_std()
                .unwrap()
                .into(),
        };
        let recorded = u64::try_from(agg.snapshot().sum() - before).unwrap();
        send_fd(&ctl, &conn);
        let mut k = [0u8; 1];
        ctl.read_exact(&mut k).unwrap();
        let after = u64::from(tcp_info(&conn).unwrap().last_data_recv().unwrap());
        // The value only grows: equal before and after Ruby's read means
        // Ruby read the same.
        crossed |= after != recorded;
        ours.push(recorded);
        accepted.push(conn);
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let ruby = String::from_utf8(out.stdout).unwrap();
    drop((clients, accepted));
    let snap = agg.snapshot();
    assert_eq!(snap.count(), delays.len() as u64);
    // Every client waited at least the 30 ms before the first accept (less
    // a jiffy of the kernel's clock); the first to send, 160 ms more.
    assert!(snap.min().unwrap() + 11 >= 30, "{snap:?}");
    assert!(snap.max().unwrap() + 11 >= 190, "{snap:?}");
    if crossed {
        eprintln!("the kernel clock ticked between two reads: another round");
        return Some(None);
    }
    let values = ruby
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("values="))
        .unwrap_or_else(|| panic!("{ruby}"));
    let ours_values: Vec<String> = ours.iter().map(u64::to_string).collect();
    assert_eq!(values, ours_values.join(","), "the same value per socket");
    let page = Snapshot::<&str> {
        last_data_recv: Some(&snap),
        ..Snapshot::new()
    };
    let mut body = String::new();
    let res = Router::new()
        .handle(
            &Request::new("GET", "/last_data_recv"),
            &mut { page },
            &mut body,
        )
        .unwrap();
    assert_eq!(
        (res.status, &res.body),
        (200, &Body::Written { len: body.len() })
    );
    let mut headers: Vec<String> = res
        .headers
        .iter()
        .map(|h| format!("{}: {}\n", h.name, h.value))
        .collect();
    headers.sort();
    let mine = format!(
        "values={}\n{}\n{body}",
        ours_values.join(","),
        headers.concat()
    );
    Some(Some((mine, ruby)))
}

/// Passes `fd` over a Unix socket (SCM_RIGHTS), as Ruby's `recv_io` takes
/// it.
fn send_fd(sock: &UnixStream, fd: &OwnedFd) {
    use rustix::net::{SendAncillaryBuffer, SendAncillaryMessage, SendFlags, sendmsg};
    let mut space = [std::mem::MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    let fds = [fd.as_fd()];
    assert!(control.push(SendAncillaryMessage::ScmRights(&fds)));
    let n = sendmsg(
        sock,
        &[std::io::IoSlice::new(b"x")],
        &mut control,
        SendFlags::empty(),
    )
    .unwrap();
    assert_eq!(n, 1);
}

fn differential(flavour: Flavour) {
    // Five clients whose first bytes arrive 0 to 160 ms apart: they wait
    // 30 to 190 ms and more in the queue.
    let delays = [160, 120, 80, 40, 0];
    for _ in 0..8 {
        match round(flavour, &delays) {
            None => return, // skipped: no Ruby (the reason was printed)
            Some(None) => continue,
            Some(Some((ours, ruby))) => {
                assert_eq!(ours, ruby);
                return;
            }
        }
    }
    panic!("the kernel clock ticked between our read and Ruby's in 8 rounds");
}

#[test]
fn std_hook_records_what_ruby_records() {
    differential(Flavour::Std);
}

#[test]
fn tokio_hook_records_what_ruby_records() {
    differential(Flavour::Tokio);
}
