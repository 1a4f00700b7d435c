//! The accept hook against a bare `accept`, side by side in one run: what
//! recording `last_data_recv` (one `getsockopt(TCP_INFO)` per accepted
//! socket) adds to each accept.
//!
//! Both accept from the same kind of listener on 127.0.0.1 with the same
//! queue of already connected clients; connecting is not timed. The two
//! alternate in blocks of 32 accepts within every sample, so they see the
//! same machine noise, and the ratio of their summed times over the same
//! samples is printed at the end.
//!
//! Run: `cargo bench -p raindrops --features tcpinfo --bench accept`

// criterion_group! generates an undocumented function.
#![allow(missing_docs)]

use std::hint::black_box;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use criterion::{Bencher, Criterion};
use raindrops::{AtomicAggregate, LastDataRecvListener};

static WAITED: AtomicAggregate = AtomicAggregate::new();

/// Connects `n` clients to `addr` (not timed); they wait in the queue.
fn connect(addr: SocketAddr, n: u64) -> Vec<TcpStream> {
    (0..n).map(|_| TcpStream::connect(addr).unwrap()).collect()
}

/// Times `n` accepts of queued connections on each of the two listeners,
/// alternating in blocks of 32; returns (bare, hook) times.
fn block(
    bare: &TcpListener,
    hook: &LastDataRecvListener<TcpListener, &'static AtomicAggregate>,
    n: u64,
) -> [Duration; 2] {
    let clients_bare = connect(bare.local_addr().unwrap(), n);
    let clients_hook = connect(hook.local_addr().unwrap(), n);
    let t = Instant::now();
    let a: Vec<_> = (0..n).map(|_| black_box(bare.accept().unwrap())).collect();
    let d_bare = t.elapsed();
    let t = Instant::now();
    let b: Vec<_> = (0..n).map(|_| black_box(hook.accept().unwrap())).collect();
    let d_hook = t.elapsed();
    drop((a, b, clients_bare, clients_hook));
    [d_bare, d_hook]
}

fn interleaved(
    b: &mut Bencher<'_>,
    which: usize,
    bare: &TcpListener,
    hook: &LastDataRecvListener<TcpListener, &'static AtomicAggregate>,
    totals: &mut [Duration; 2],
) {
    b.iter_custom(|iters| {
        let mut spent = [Duration::ZERO; 2];
        let mut done = 0;
        while done < iters {
            let n = (iters - done).min(32);
            let d = block(bare, hook, n);
            spent[0] += d[0];
            spent[1] += d[1];
            done += n;
        }
        totals[0] += spent[0];
        totals[1] += spent[1];
        spent[which]
    })
}

fn accept_vs_hook(c: &mut Criterion) {
    // Backlogs above the 32 queued per block.
    let bare = TcpListener::bind("127.0.0.1:0").unwrap();
    let hook = LastDataRecvListener::new(TcpListener::bind("127.0.0.1:0").unwrap(), &WAITED);
    let mut totals = [Duration::ZERO; 2];
    let mut g = c.benchmark_group("accept");
    g.bench_function("bare accept", |b| {
        interleaved(b, 0, &bare, &hook, &mut totals)
    });
    g.bench_function("LastDataRecvListener::accept", |b| {
        interleaved(b, 1, &bare, &hook, &mut totals)
    });
    g.finish();
    println!(
        "interleaved: LastDataRecvListener::accept / bare accept = {:.3} over the same samples \
         ({} connections recorded)",
        totals[1].as_secs_f64() / totals[0].as_secs_f64(),
        WAITED.count()
    );
}

criterion::criterion_group!(benches, accept_vs_hook);
criterion::criterion_main!(benches);
