//! [`Watcher`]: Ruby's `Raindrops::Watcher` embedded in a server of one's
//! own: a sampler (a thread, or a tokio task) feeding a shared
//! [`WatcherState`], and the pages answered by raindrops-http's
//! [`Router`].

use ::core::fmt;
use ::core::ops::ControlFlow;
use ::core::task::Waker;
use ::core::time::Duration;
use std::boxed::Box;
use std::collections::BTreeMap;
use std::io;
use std::string::String;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Instant;
use std::vec::Vec;

use raindrops_core::{Aggregate, Listener};
use raindrops_http::{
    FieldSet, Histogram, ListenerVisitor, Metric, Request, Response, Router, SourceError,
    StatsSource, Timestamp, WatcherState,
};

/// How a [`Watcher`] samples and answers.
#[derive(Clone, Debug)]
pub struct WatcherOptions {
    delay: Duration,
    hostname: Option<String>,
    router: Router<'static>,
    retention: Option<(usize, Duration)>,
}

impl Default for WatcherOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl WatcherOptions {
    /// One sample a second (Ruby's default `:delay`), the machine's host
    /// name in page titles, the router's default paths.
    pub fn new() -> Self {
        WatcherOptions {
            delay: Duration::from_secs(1),
            hostname: None,
            router: Router::new(),
            retention: None,
        }
    }

    /// The time between samples (at least a millisecond).
    #[must_use]
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay.max(Duration::from_millis(1));
        self
    }

    /// The host name shown in page titles (default: the kernel's,
    /// `/proc/sys/kernel/hostname`).
    #[must_use]
    pub fn hostname(mut self, hostname: impl Into<String>) -> Self {
        self.hostname = Some(hostname.into());
        self
    }

    /// The paths of the stats, metrics and `LastDataRecv` pages (the
    /// router's host name is replaced by [`hostname`](Self::hostname)).
    #[must_use]
    pub fn router(mut self, router: Router<'static>) -> Self {
        self.router = router;
        self
    }

    /// Bounds the histories kept for listeners that went away
    /// ([`WatcherState::set_retention`]).
    #[must_use]
    pub fn retention(mut self, max_absent: usize, forget_after: Duration) -> Self {
        self.retention = Some((max_absent, forget_after));
        self
    }
}

/// Ruby's `Raindrops::Watcher`, embedded: samples a [`StatsSource`]
/// (usually a [`KernelSource`](crate::KernelSource)) every
/// [`delay`](WatcherOptions::delay) on a thread of its own
/// ([`spawn`](Self::spawn)) or a tokio task
/// ([`spawn_tokio`](Self::spawn_tokio)), keeps each listener's history in
/// a shared [`WatcherState`], and answers the Watcher pages (`/`,
/// `/active/ADDR.html`, `/queued/ADDR.txt`, `/tail/ADDR.txt`,
/// `POST /reset/ADDR`), `/_raindrops`, `/metrics` and `/last_data_recv`
/// with raindrops-http's [`Router`]: the pages of `raindrops serve`.
///
/// Mount it in a hyper or axum server with [`service`](Self::service)
/// (feature `tower`), or answer requests of any server with
/// [`respond`](Self::respond). Clones share one state; the sampler stops
/// when the last clone (or service) is dropped, and open tail streams end.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::time::Duration;
/// use raindrops::{KernelSource, Watcher, WatcherOptions};
/// let l = std::net::TcpListener::bind("127.0.0.1:0")?;
/// let addr = l.local_addr()?.to_string();
/// let watcher = Watcher::spawn(
///     KernelSource::new([&addr])?,
///     WatcherOptions::new().delay(Duration::from_millis(10)),
/// )?;
/// std::thread::sleep(Duration::from_millis(50));
/// let mut body = String::new();
/// let res = watcher.respond(&raindrops::http::Request::new("GET", "/"), &mut body)?;
/// assert_eq!(res.status, 200);
/// assert!(body.contains(&addr));
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Watcher {
    pub(crate) inner: Arc<Inner>,
    // Held for its Drop: the last clone stops the sampler.
    _alive: Arc<Alive>,
}

impl fmt::Debug for Watcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Watcher")
            .field("delay", &self.inner.delay)
            .field("hostname", &self.inner.hostname)
            .finish_non_exhaustive()
    }
}

/// What the sampler, the pages and the tail streams share.
pub(crate) struct Inner {
    state: Mutex<State>,
    source: Mutex<Box<dyn StatsSource + Send>>,
    pub(crate) ticks: Ticks,
    hostname: String,
    router: Router<'static>,
    delay: Duration,
    stopped: Mutex<bool>,
    stop: Condvar,
}

struct State {
    watcher: WatcherState,
    /// The last sampling failure, answered as 503 until a sample succeeds.
    error: Option<SourceError>,
}

/// Stops the sampler when the last user handle goes.
struct Alive(Arc<Inner>);

impl Drop for Alive {
    fn drop(&mut self) {
        *lock(&self.0.stopped) = true;
        self.0.stop.notify_all();
        self.0.ticks.close();
    }
}

/// A poisoned lock means a panic elsewhere while it was held; the data
/// (counters, histories) are still usable, better than stopping to serve.
fn lock<T: ?Sized>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| String::from(s.trim()))
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

impl Watcher {
    /// A watcher that samples only when [`sample`](Self::sample) is called
    /// (for tests and for callers with a loop of their own). The first
    /// sample is taken now.
    pub fn manual<S: StatsSource + Send + 'static>(source: S, options: WatcherOptions) -> Self {
        let start = Timestamp::now();
        let mut watcher = WatcherState::new(start, options.delay);
        if let Some((n, t)) = options.retention {
            watcher.set_retention(n, t);
        }
        let inner = Arc::new(Inner {
            state: Mutex::new(State {
                watcher,
                error: None,
            }),
            source: Mutex::new(Box::new(source)),
            ticks: Ticks::default(),
            hostname: options.hostname.unwrap_or_else(hostname),
            router: options.router,
            delay: options.delay,
            stopped: Mutex::new(false),
            stop: Condvar::new(),
        });
        let w = Watcher {
            _alive: Arc::new(Alive(Arc::clone(&inner))),
            inner,
        };
        w.sample();
        w
    }

    /// A watcher sampling `source` on a thread of its own (named
    /// `raindrops-watcher`), which ends when the last clone is dropped.
    ///
    /// # Errors
    ///
    /// If the thread cannot be started.
    pub fn spawn<S: StatsSource + Send + 'static>(
        source: S,
        options: WatcherOptions,
    ) -> io::Result<Self> {
        let w = Self::manual(source, options);
        let inner = Arc::clone(&w.inner);
        std::thread::Builder::new()
            .name("raindrops-watcher".into())
            .spawn(move || sample_on_thread(&inner))?;
        Ok(w)
    }

    /// A watcher sampling `source` in a tokio task (each sample runs on
    /// the blocking pool, since a netlink query is a blocking system
    /// call), which ends after the last clone is dropped. Call it inside a
    /// runtime (any flavour).
    #[cfg(feature = "tokio")]
    pub fn spawn_tokio<S: StatsSource + Send + 'static>(
        source: S,
        options: WatcherOptions,
    ) -> Self {
        let w = Self::manual(source, options);
        let inner = Arc::clone(&w.inner);
        tokio::spawn(async move {
            let mut every = tokio::time::interval(inner.delay);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            every.tick().await; // the first tick is now: sampled already
            loop {
                every.tick().await;
                if *lock(&inner.stopped) {
                    return;
                }
                let i = Arc::clone(&inner);
                if tokio::task::spawn_blocking(move || sample_into(&i))
                    .await
                    .is_err()
                {
                    return; // the runtime is shutting down
                }
            }
        });
        w
    }

    /// Samples the source now: refreshes it, records its listeners in the
    /// history, and wakes the tail streams.
    pub fn sample(&self) {
        sample_into(&self.inner);
    }

    /// The sampled history, read under the watcher's lock.
    pub fn with_state<R>(&self, f: impl FnOnce(&WatcherState) -> R) -> R {
        f(&lock(&self.inner.state).watcher)
    }

    /// The interval between samples.
    pub fn delay(&self) -> Duration {
        self.inner.delay
    }

    /// Answers `req` as `raindrops serve` does, writing the body into
    /// `body` (see [`Router::handle`]); a `tail` answer
    /// ([`Body::Tail`](raindrops_http::Body::Tail)) is the caller's to
    /// stream, one [`Tail::write_line`](raindrops_http::Tail::write_line)
    /// per sample over [`with_state`](Self::with_state).
    ///
    /// # Errors
    ///
    /// Only if `body` fails (a `String` never does).
    pub fn respond<'r, W: fmt::Write + ?Sized>(
        &self,
        req: &Request<'r>,
        body: &mut W,
    ) -> Result<Response<'r>, fmt::Error> {
        let router = self.inner.router.hostname(&self.inner.hostname);
        let mut state = lock(&self.inner.state);
        let source = lock(&self.inner.source);
        let mut page = Page {
            state: &mut state,
            source: &**source,
        };
        router.handle(req, &mut page, body)
    }
}

/// The sampler thread: one sample per `delay` from its start (no drift),
/// until stopped.
fn sample_on_thread(inner: &Inner) {
    let start = Instant::now();
    let mut n = 1u32;
    loop {
        let next = start + inner.delay.saturating_mul(n);
        n = n.wrapping_add(1);
        let mut stopped = lock(&inner.stopped);
        loop {
            if *stopped {
                return;
            }
            let left = next.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            stopped = inner
                .stop
                .wait_timeout(stopped, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        drop(stopped);
        sample_into(inner);
    }
}

fn sample_into(inner: &Inner) {
    // The source is locked while the kernel is asked; the pages wait for
    // it only when they show the source's own numbers.
    let mut listeners: Vec<Listener<String>> = Vec::new();
    let result = {
        let mut source = lock(&inner.source);
        source.refresh().map(|()| {
            let _ = source.listeners(&mut |l| {
                listeners.push(Listener::new(String::from(l.name), l.family, l.stats));
                ControlFlow::Continue(())
            });
        })
    };
    let now = Timestamp::now();
    {
        let mut state = lock(&inner.state);
        match result {
            Ok(()) => {
                state.watcher.record(now, listeners);
                state.error = None;
            }
            Err(e) => state.error = Some(e),
        }
    }
    inner.ticks.tick();
}

/// The source the router sees: the history for the listeners and the
/// Watcher pages, the sampled source for `calling`, `writing`, metrics and
/// `LastDataRecv`.
struct Page<'a> {
    state: &'a mut State,
    source: &'a (dyn StatsSource + Send),
}

impl StatsSource for Page<'_> {
    fn refresh(&mut self) -> Result<(), SourceError> {
        match self.state.error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
    fn calling(&self) -> Option<usize> {
        self.source.calling()
    }
    fn writing(&self) -> Option<usize> {
        self.source.writing()
    }
    fn listeners(&self, visit: &mut ListenerVisitor<'_>) -> ControlFlow<()> {
        StatsSource::listeners(&self.state.watcher, visit)
    }
    fn measured(&self) -> FieldSet {
        self.source.measured()
    }
    fn metrics(&self, visit: &mut dyn FnMut(&Metric<'_>) -> ControlFlow<()>) -> ControlFlow<()> {
        self.source.metrics(visit)
    }
    fn histograms(
        &self,
        visit: &mut dyn FnMut(&Histogram<'_>) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        self.state.watcher.histograms(visit)?;
        self.source.histograms(visit)
    }
    fn last_data_recv(&self) -> Option<&Aggregate> {
        self.source.last_data_recv()
    }
    fn watcher(&mut self) -> Option<&mut dyn raindrops_http::Watcher> {
        Some(&mut self.state.watcher)
    }
}

/// The sample count and the wakers of the streams waiting for the next
/// sample: one entry per open stream, so memory stays bounded by them.
#[derive(Default)]
pub(crate) struct Ticks {
    inner: Mutex<TickState>,
}

// The streams' half is used by the tower service's tail body.
#[cfg_attr(not(feature = "tower"), allow(dead_code))]
#[derive(Default)]
struct TickState {
    count: u64,
    closed: bool,
    next_id: u64,
    waiting: BTreeMap<u64, Waker>,
}

/// What a waiting stream learns from [`Ticks::poll`].
#[cfg_attr(not(feature = "tower"), allow(dead_code))]
pub(crate) enum Tick {
    /// A sample newer than the one the stream saw.
    New(u64),
    /// None yet; the stream is woken at the next one.
    Pending,
    /// The watcher was dropped: no sample will come.
    Closed,
}

#[cfg_attr(not(feature = "tower"), allow(dead_code))]
impl Ticks {
    fn tick(&self) {
        let wake: Vec<Waker> = {
            let mut t = lock(&self.inner);
            t.count += 1;
            ::core::mem::take(&mut t.waiting).into_values().collect()
        };
        wake.into_iter().for_each(Waker::wake);
    }

    fn close(&self) {
        let wake: Vec<Waker> = {
            let mut t = lock(&self.inner);
            t.closed = true;
            ::core::mem::take(&mut t.waiting).into_values().collect()
        };
        wake.into_iter().for_each(Waker::wake);
    }

    /// A new stream's id and the count it starts from (it waits for the
    /// next sample, as Ruby's tail does).
    pub(crate) fn subscribe(&self) -> (u64, u64) {
        let mut t = lock(&self.inner);
        t.next_id += 1;
        (t.next_id, t.count)
    }

    /// Whether a sample after `seen` was taken; if not, `waker` is woken
    /// at the next one.
    pub(crate) fn poll(&self, id: u64, seen: u64, waker: &Waker) -> Tick {
        let mut t = lock(&self.inner);
        if t.closed {
            t.waiting.remove(&id);
            Tick::Closed
        } else if t.count != seen {
            Tick::New(t.count)
        } else {
            match t.waiting.get_mut(&id) {
                Some(w) if w.will_wake(waker) => {}
                Some(w) => w.clone_from(waker),
                None => {
                    t.waiting.insert(id, waker.clone());
                }
            }
            Tick::Pending
        }
    }

    /// Forgets a stream that ended.
    pub(crate) fn unsubscribe(&self, id: u64) {
        lock(&self.inner).waiting.remove(&id);
    }

    /// The number of streams waiting (for tests).
    #[cfg(test)]
    fn waiting(&self) -> usize {
        lock(&self.inner).waiting.len()
    }
}

#[cfg_attr(not(feature = "tower"), allow(dead_code))]
impl Inner {
    /// Writes the tail line of the last sample into `line`; whether one
    /// was due.
    pub(crate) fn tail_line(&self, tail: &raindrops_http::Tail, line: &mut String) -> bool {
        let state = lock(&self.state);
        matches!(tail.write_line(&state.watcher, line), Ok(true))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use raindrops_core::{Family, ListenStats};
    use raindrops_http::{Body, Snapshot};
    use std::sync::atomic::{AtomicU32, Ordering};

    /// A source whose queue grows by one per refresh, failing on demand.
    struct Growing {
        n: Arc<AtomicU32>,
        fail: Arc<AtomicU32>,
        current: u32,
    }

    impl StatsSource for Growing {
        fn refresh(&mut self) -> Result<(), SourceError> {
            if self.fail.load(Ordering::Relaxed) != 0 {
                return Err(SourceError {
                    what: "test source",
                    errno: None,
                });
            }
            self.current = self.n.fetch_add(1, Ordering::Relaxed);
            Ok(())
        }
        fn calling(&self) -> Option<usize> {
            Some(7)
        }
        fn listeners(&self, visit: &mut ListenerVisitor<'_>) -> ControlFlow<()> {
            let l = [Listener::new(
                "127.0.0.1:80",
                Family::Tcp4,
                ListenStats::new(1, self.current),
            )];
            Snapshot {
                listeners: &l,
                ..Snapshot::new()
            }
            .listeners(visit)
        }
    }

    fn get(w: &Watcher, target: &str) -> (u16, String) {
        let mut body = String::new();
        let r = w.respond(&Request::new("GET", target), &mut body).unwrap();
        (r.status, body)
    }

    #[test]
    fn manual_samples_failures_and_the_source_numbers() {
        let fail = Arc::new(AtomicU32::new(0));
        let src = Growing {
            n: Arc::default(),
            fail: Arc::clone(&fail),
            current: 0,
        };
        let w = Watcher::manual(src, WatcherOptions::new().hostname("h<"));
        w.sample();
        w.sample();
        let (status, body) = get(&w, "/_raindrops");
        assert_eq!(status, 200);
        assert_eq!(
            body,
            "calling: 7\nwriting: 0\n127.0.0.1:80 active: 1\n127.0.0.1:80 queued: 2\n"
        );
        let count = w.with_state(|s| {
            raindrops_http::Watcher::summary(s, "127.0.0.1:80", raindrops_http::Which::Queued)
                .aggregate
                .count()
        });
        assert_eq!(count, 3);
        let (_, index) = get(&w, "/");
        assert!(
            index.contains("<title>h&lt; - "),
            "the host name, escaped: {index}"
        );
        fail.store(1, Ordering::Relaxed);
        w.sample();
        let (status, body) = get(&w, "/metrics");
        assert_eq!(status, 503, "{body}");
        fail.store(0, Ordering::Relaxed);
        w.sample();
        assert_eq!(get(&w, "/metrics").0, 200);
    }

    #[test]
    fn tails_wait_for_the_next_sample_and_end_with_the_watcher() {
        let src = Growing {
            n: Arc::default(),
            fail: Arc::default(),
            current: 0,
        };
        let w = Watcher::manual(src, WatcherOptions::new());
        let mut body = String::new();
        let r = w
            .respond(
                &Request::new("GET", "/tail/127.0.0.1%3A80.txt?queued_min=2"),
                &mut body,
            )
            .unwrap();
        let Body::Tail(tail) = r.body else {
            panic!("{:?}", r.body)
        };
        let ticks = &w.inner.ticks;
        let (id, mut seen) = ticks.subscribe();
        let waker = Waker::noop();
        assert!(matches!(ticks.poll(id, seen, waker), Tick::Pending));
        assert!(matches!(ticks.poll(id, seen, waker), Tick::Pending));
        assert_eq!(ticks.waiting(), 1, "one entry per stream");
        let mut lines = Vec::new();
        for _ in 0..3 {
            w.sample();
            match ticks.poll(id, seen, waker) {
                Tick::New(n) => seen = n,
                _ => panic!("a sample was taken"),
            }
            let mut line = String::new();
            if w.inner.tail_line(&tail, &mut line) {
                lines.push(line);
            }
        }
        // queued was 1, 2, 3: the first is below queued_min.
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(lines[0].ends_with("1          2\n"), "{lines:?}");
        let inner = Arc::clone(&w.inner);
        drop(w);
        assert!(matches!(inner.ticks.poll(id, seen, waker), Tick::Closed));
        assert_eq!(inner.ticks.waiting(), 0);
    }

    #[test]
    fn the_thread_samples_and_stops() {
        let n = Arc::new(AtomicU32::new(0));
        let src = Growing {
            n: Arc::clone(&n),
            fail: Arc::default(),
            current: 0,
        };
        let w = Watcher::spawn(src, WatcherOptions::new().delay(Duration::from_millis(5))).unwrap();
        let t0 = Instant::now();
        while n.load(Ordering::Relaxed) < 5 {
            assert!(t0.elapsed() < Duration::from_secs(10), "sampled");
            std::thread::sleep(Duration::from_millis(5));
        }
        let inner = Arc::downgrade(&w.inner);
        drop(w);
        // The thread lets go of the state once stopped.
        let t0 = Instant::now();
        while inner.upgrade().is_some() {
            assert!(t0.elapsed() < Duration::from_secs(10), "stopped");
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}
