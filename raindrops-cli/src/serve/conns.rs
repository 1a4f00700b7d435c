//! The connections of the server and their limits: every connection is
//! tracked with its phase and since when it is in it; a reaper closes
//! those that take too long to send a request (`--timeout`), stay idle
//! between requests (`--idle-timeout`) or do not read what they asked for
//! (`--write-timeout`); at `--max-connections`, a new connection replaces
//! the one waiting longest without a request in progress, so that an idle
//! or slow crowd can never keep a scrape out (nor leave it in the accept
//! queue). Only when every connection is busy does a newcomer get 503.

use std::collections::HashMap;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;

/// The limits of the server.
#[derive(Clone, Copy, Debug)]
pub(super) struct Limits {
    pub(super) max_connections: usize,
    pub(super) max_tail_streams: usize,
    pub(super) tail_lifetime: Duration,
    pub(super) header_timeout: Duration,
    pub(super) idle_timeout: Duration,
    pub(super) write_timeout: Duration,
}

/// Where a connection is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(super) enum Phase {
    /// Accepted (or a new request started arriving), no request yet: the
    /// TLS handshake and the request headers.
    Reading = 0,
    /// A request is being answered.
    Busy = 1,
    /// Between requests (keep-alive).
    Idle = 2,
}

/// Why a connection was closed by the server (the `reason` label of
/// `raindrops_http_closed_total`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Closed {
    HeaderTimeout,
    IdleTimeout,
    WriteTimeout,
    /// Replaced by a newer connection at `--max-connections`.
    Replaced,
    /// Refused with 503: every connection busy.
    Rejected,
}

impl Closed {
    pub(super) const ALL: [Closed; 5] = [
        Closed::HeaderTimeout,
        Closed::IdleTimeout,
        Closed::WriteTimeout,
        Closed::Replaced,
        Closed::Rejected,
    ];

    pub(super) const fn label(self) -> &'static str {
        match self {
            Closed::HeaderTimeout => "header_timeout",
            Closed::IdleTimeout => "idle_timeout",
            Closed::WriteTimeout => "write_timeout",
            Closed::Replaced => "replaced",
            Closed::Rejected => "rejected",
        }
    }
}

/// One connection's state, shared by its task, its stream and the registry.
pub(super) struct Conn {
    epoch: Instant,
    phase: AtomicU8,
    /// Milliseconds since `epoch` when the phase began.
    since: AtomicU64,
    /// Milliseconds since `epoch` (plus one) when a write found the socket
    /// full, 0 while writes go through.
    stalled: AtomicU64,
    /// Tells the connection's task to drop the connection.
    pub(super) kill: Notify,
}

impl Conn {
    fn ms(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.epoch).as_millis()).unwrap_or(u64::MAX)
    }

    fn set(&self, phase: Phase) {
        self.since.store(self.ms(Instant::now()), Ordering::Relaxed);
        self.phase.store(phase as u8, Ordering::Relaxed);
    }

    fn phase(&self) -> Phase {
        match self.phase.load(Ordering::Relaxed) {
            0 => Phase::Reading,
            1 => Phase::Busy,
            _ => Phase::Idle,
        }
    }

    /// Marks the start of a request; the returned guard marks its end when
    /// the response (its body included) is dropped.
    pub(super) fn begin(self: &Arc<Self>) -> RequestGuard {
        self.set(Phase::Busy);
        RequestGuard(Arc::clone(self))
    }
}

/// Ends a request's busy phase when dropped (hyper drops the response body
/// once it is written, or when the connection goes).
pub(super) struct RequestGuard(Arc<Conn>);

impl Drop for RequestGuard {
    fn drop(&mut self) {
        self.0.set(Phase::Idle);
    }
}

/// Counters of the connection limits, for the self-metrics.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct ConnStats {
    pub(super) open: usize,
    pub(super) accepted: u64,
    pub(super) closed: [u64; 5],
}

struct Inner {
    next_id: u64,
    conns: HashMap<u64, Arc<Conn>>,
    accepted: u64,
    closed: [u64; 5],
}

/// Every open connection.
pub(super) struct Registry {
    epoch: Instant,
    limits: Limits,
    inner: Mutex<Inner>,
}

/// What to do with a new connection.
pub(super) enum Admission {
    /// Serve it; it is removed from the registry when the guard drops.
    Serve(Arc<Conn>, Registered),
    /// Answer 503 and close it.
    Reject,
}

/// Removes a connection from the registry when its task ends.
pub(super) struct Registered {
    registry: Arc<Registry>,
    id: u64,
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.registry.lock().conns.remove(&self.id);
    }
}

impl Registry {
    pub(super) fn new(limits: Limits) -> Arc<Self> {
        Arc::new(Registry {
            epoch: Instant::now(),
            limits,
            inner: Mutex::new(Inner {
                next_id: 0,
                conns: HashMap::new(),
                accepted: 0,
                closed: [0; 5],
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Admits a new connection, replacing the one waiting longest without
    /// a request in progress if the server is full.
    pub(super) fn admit(self: &Arc<Self>) -> Admission {
        let mut inner = self.lock();
        inner.accepted += 1;
        if inner.conns.len() >= self.limits.max_connections && !self.replace_one(&mut inner) {
            count(&mut inner, Closed::Rejected);
            return Admission::Reject;
        }
        let conn = Arc::new(Conn {
            epoch: self.epoch,
            phase: AtomicU8::new(Phase::Reading as u8),
            since: AtomicU64::new(0),
            stalled: AtomicU64::new(0),
            kill: Notify::new(),
        });
        conn.set(Phase::Reading);
        let id = inner.next_id;
        inner.next_id += 1;
        inner.conns.insert(id, Arc::clone(&conn));
        Admission::Serve(
            conn,
            Registered {
                registry: Arc::clone(self),
                id,
            },
        )
    }

    /// Closes the connection that has waited longest without a request in
    /// progress (or whose writes have been stalled longest); false if
    /// every connection is busy.
    pub(super) fn replace_oldest(&self) -> bool {
        let mut inner = self.lock();
        self.replace_one(&mut inner)
    }

    fn replace_one(&self, inner: &mut Inner) -> bool {
        let victim = inner
            .conns
            .iter()
            .filter_map(|(id, c)| {
                let stalled = c.stalled.load(Ordering::Relaxed);
                match c.phase() {
                    Phase::Reading | Phase::Idle => Some((c.since.load(Ordering::Relaxed), *id)),
                    Phase::Busy if stalled > 0 => Some((stalled - 1, *id)),
                    Phase::Busy => None,
                }
            })
            .min();
        let Some((_, id)) = victim else {
            return false;
        };
        if let Some(c) = inner.conns.remove(&id) {
            c.kill.notify_one();
            count(inner, Closed::Replaced);
        }
        true
    }

    /// Closes the connections past their timeouts; called periodically.
    pub(super) fn reap(&self) {
        let now = Instant::now();
        let now_ms = u64::try_from(now.saturating_duration_since(self.epoch).as_millis())
            .unwrap_or(u64::MAX);
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        let l = self.limits;
        let mut inner = self.lock();
        let mut dead: Vec<(u64, Closed)> = Vec::new();
        for (id, c) in &inner.conns {
            let since = c.since.load(Ordering::Relaxed);
            let stalled = c.stalled.load(Ordering::Relaxed);
            let age = now_ms.saturating_sub(since);
            let why = if stalled > 0 && now_ms.saturating_sub(stalled - 1) > ms(l.write_timeout) {
                Some(Closed::WriteTimeout)
            } else {
                match c.phase() {
                    Phase::Reading if age > ms(l.header_timeout) => Some(Closed::HeaderTimeout),
                    Phase::Idle if age > ms(l.idle_timeout) => Some(Closed::IdleTimeout),
                    _ => None,
                }
            };
            if let Some(why) = why {
                dead.push((*id, why));
            }
        }
        for (id, why) in dead {
            if let Some(c) = inner.conns.remove(&id) {
                c.kill.notify_one();
                count(&mut inner, why);
            }
        }
    }

    /// The counters, for the self-metrics.
    pub(super) fn stats(&self) -> ConnStats {
        let inner = self.lock();
        ConnStats {
            open: inner.conns.len(),
            accepted: inner.accepted,
            closed: inner.closed,
        }
    }

    /// The reaper's period: a fraction of the shortest timeout.
    pub(super) fn reap_every(&self) -> Duration {
        let l = self.limits;
        (l.header_timeout.min(l.idle_timeout).min(l.write_timeout) / 4)
            .clamp(Duration::from_millis(20), Duration::from_secs(1))
    }
}

fn count(inner: &mut Inner, why: Closed) {
    let i = Closed::ALL.iter().position(|c| *c == why).unwrap_or(0);
    inner.closed[i] = inner.closed[i].saturating_add(1);
}

/// A stream that reports to its [`Conn`]: writes that find the socket full
/// (for the write timeout) and bytes arriving on an idle connection (a new
/// request: the header timeout applies again).
pub(super) struct Tracked<S> {
    inner: S,
    conn: Arc<Conn>,
}

impl<S> Tracked<S> {
    pub(super) fn new(inner: S, conn: Arc<Conn>) -> Self {
        Tracked { inner, conn }
    }

    fn write_result<T>(&self, r: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        match &r {
            Poll::Pending => {
                if self.conn.stalled.load(Ordering::Relaxed) == 0 {
                    let at = self.conn.ms(Instant::now()) + 1;
                    self.conn.stalled.store(at, Ordering::Relaxed);
                }
            }
            Poll::Ready(_) => self.conn.stalled.store(0, Ordering::Relaxed),
        }
        r
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Tracked<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before && self.conn.phase() == Phase::Idle {
            self.conn.set(Phase::Reading);
        }
        r
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Tracked<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.write_result(r)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.write_result(r)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let r = Pin::new(&mut self.inner).poll_flush(cx);
        self.write_result(r)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let r = Pin::new(&mut self.inner).poll_shutdown(cx);
        self.write_result(r)
    }
}
