//! The cost of the accept-queue waits (issue 19): a listener's active and
//! queued count (today's default query) against the same query with the
//! waits (`TcpQuery::with_queue_wait`, which asks `INET_DIAG_INFO` of the
//! established sockets of the listener's port), interleaved, with N =
//! 1,000 accepted connections and Q = 100 waiting on the listener and B =
//! 10,000 established connections on another port. Also every listener
//! with and without the waits. Run: `cargo bench -p raindrops-diag
//! --bench queue_wait` (forks 11 holder processes, ~1 min).

mod common;
use common::{INTERLEAVED, paired};
use criterion::{Criterion, black_box};
use raindrops_diag::{Diag, TcpQuery};
use raindrops_testutil::holders::Holders;
use std::net::{TcpListener, TcpStream};
use std::os::fd::OwnedFd;
use std::time::Duration;

const ACCEPTED: usize = 1000;
const QUEUED: usize = 100;
const OTHERS_PROCS: usize = 10;
const OTHERS_PER: usize = 1000;

fn main() {
    let mut c = Criterion::default()
        .configure_from_args()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));

    // The listener: N accepted (held by a forked process), Q waiting.
    let target = TcpListener::bind("127.0.0.1:0").unwrap();
    rustix::net::listen(&target, 4096).unwrap();
    let taddr = target.local_addr().unwrap();
    let t_ref = &target;
    let _accepted = Holders::spawn(
        1,
        ACCEPTED,
        || OwnedFd::from(TcpStream::connect(taddr).expect("connect")),
        || OwnedFd::from(t_ref.accept().expect("accept").0),
    );
    let _queued: Vec<_> = (0..QUEUED)
        .map(|_| TcpStream::connect(taddr).unwrap())
        .collect();
    // B: other connections on another port.
    let load = TcpListener::bind("127.0.0.1:0").unwrap();
    let laddr = load.local_addr().unwrap();
    let l_ref = &load;
    let _others = Holders::spawn(
        OTHERS_PROCS,
        OTHERS_PER,
        || OwnedFd::from(TcpStream::connect(laddr).expect("connect")),
        || OwnedFd::from(l_ref.accept().expect("accept").0),
    );

    let key = taddr.to_string();
    let today = TcpQuery::new();
    let waits = TcpQuery::new().with_queue_wait(true);
    let mut diag = Diag::new().unwrap();
    let s = diag.tcp_listener_stats_with(&[&key], &waits).unwrap();
    let st = s.get(&key).unwrap();
    assert_eq!((st.active, st.queued), (ACCEPTED as u32, QUEUED as u32));
    assert_eq!(s.waiting(&key).len(), QUEUED);

    let mut g = c.benchmark_group("queue_wait");
    paired(
        &mut g,
        "one listener, N=1000 Q=100 B=10000",
        ["active_queued", "with_queue_wait"],
        |w| {
            let q = if w { &waits } else { &today };
            black_box(diag.tcp_listener_stats_with(&[&key], q).unwrap());
        },
    );
    paired(
        &mut g,
        "every listener, same sockets",
        ["all_active_queued", "all_with_queue_wait"],
        |w| {
            let q = if w { &waits } else { &today };
            black_box(diag.tcp_listener_stats_with::<&str>(&[], q).unwrap());
        },
    );
    g.finish();

    c.final_summary();
    println!("\ninterleaved ratios (baseline time / our time; > 1 means ours is faster):");
    for l in INTERLEAVED.lock().unwrap().iter() {
        println!("{l}");
    }
}
