//! `tcp_info(fd)` against a bare `getsockopt(TCP_INFO)` into a buffer of the
//! same size, in the same run (target: ratio <= 1.05), on an established
//! loopback connection; plus the cost of decoding alone.
//!
//! Run: `cargo bench -p raindrops-tcpinfo --bench tcp_info`

// criterion_group! generates an undocumented function.
#![allow(missing_docs)]

#[cfg(feature = "std")]
mod bench {
    use std::hint::black_box;
    use std::io::Write;
    use std::net::{TcpListener, TcpStream};
    use std::os::fd::AsRawFd;
    use std::time::{Duration, Instant};

    use criterion::{Bencher, Criterion};
    use raindrops_tcpinfo::{TcpInfo, tcp_info};

    /// The baseline: the system call alone, into a zeroed buffer of the
    /// size `tcp_info` uses, returning the length.
    fn bare_getsockopt(fd: libc::c_int) -> ([u8; TcpInfo::SIZE], libc::socklen_t) {
        let mut buf = [0u8; TcpInfo::SIZE];
        let mut len = TcpInfo::SIZE as libc::socklen_t;
        // SAFETY: `buf` is valid for writes of `len` bytes and `len` is a
        // valid socklen_t; the kernel writes at most `len` bytes.
        let rc = unsafe {
            libc::getsockopt(
                fd,
                libc::IPPROTO_TCP,
                libc::TCP_INFO,
                buf.as_mut_ptr().cast(),
                &mut len,
            )
        };
        assert_eq!(rc, 0);
        (buf, len)
    }

    /// Runs the baseline and our call alternately, in blocks of 32 calls,
    /// and reports the time of one of them (`ours`): both see the same
    /// machine noise, which matters on a shared machine. Adds both times
    /// to `totals`, from which the ratio over the very same samples is
    /// printed at the end.
    fn interleaved(
        b: &mut Bencher<'_>,
        ours: bool,
        client: &TcpStream,
        totals: &mut [Duration; 2],
    ) {
        let fd = client.as_raw_fd();
        b.iter_custom(|iters| {
            let mut spent = [Duration::ZERO; 2];
            let mut done = 0;
            while done < iters {
                let n = (iters - done).min(32);
                let t = Instant::now();
                for _ in 0..n {
                    black_box(bare_getsockopt(black_box(fd)));
                }
                spent[0] += t.elapsed();
                let t = Instant::now();
                for _ in 0..n {
                    black_box(tcp_info(black_box(client)).unwrap());
                }
                spent[1] += t.elapsed();
                done += n;
            }
            totals[0] += spent[0];
            totals[1] += spent[1];
            spent[usize::from(ours)]
        })
    }

    pub(crate) fn tcp_info_vs_getsockopt(c: &mut Criterion) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (_server, _) = listener.accept().unwrap();
        client.write_all(b"warm").unwrap();
        let fd = client.as_raw_fd();

        let mut g = c.benchmark_group("tcp_info");
        g.bench_function("bare getsockopt", |b| {
            b.iter(|| bare_getsockopt(black_box(fd)))
        });
        g.bench_function("tcp_info(fd)", |b| {
            b.iter(|| tcp_info(black_box(&client)).unwrap())
        });
        g.bench_function("tcp_info(fd) + rtt", |b| {
            b.iter(|| tcp_info(black_box(&client)).unwrap().rtt())
        });
        g.finish();

        let mut g = c.benchmark_group("interleaved");
        let mut totals = [Duration::ZERO; 2];
        g.bench_function("bare getsockopt", |b| {
            interleaved(b, false, &client, &mut totals)
        });
        g.bench_function("tcp_info(fd)", |b| {
            interleaved(b, true, &client, &mut totals)
        });
        g.finish();
        println!(
            "interleaved: tcp_info(fd) / bare getsockopt = {:.3} over the same samples",
            totals[1].as_secs_f64() / totals[0].as_secs_f64()
        );

        let bytes = bare_getsockopt(fd).0;
        let mut g = c.benchmark_group("decode");
        g.bench_function("TcpInfo::parse", |b| {
            b.iter(|| TcpInfo::parse(black_box(&bytes)))
        });
        g.bench_function("parse + every metric", |b| {
            b.iter(|| {
                TcpInfo::parse(black_box(&bytes))
                    .fields()
                    .fold(0u64, |a, m| a.wrapping_add(m.value))
            })
        });
        g.finish();
    }
}

#[cfg(feature = "std")]
criterion::criterion_group!(benches, bench::tcp_info_vs_getsockopt);
#[cfg(feature = "std")]
criterion::criterion_main!(benches);

#[cfg(not(feature = "std"))]
fn main() {}
