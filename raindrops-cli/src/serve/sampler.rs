//! The sampler thread: samples the listeners every `--delay` (and, with
//! `--sample-on-scrape`, when a scrape asks), records the round in the
//! Watcher history and the self-metrics, and tells the waiting scrapes and
//! tail streams that a new sample is there. Requests never wait on the
//! kernel: they read what the last round left under the lock.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use raindrops_core::Aggregate;
use raindrops_http::{Metric, SourceError, Timestamp, WatcherState};
use tokio::sync::watch;

use crate::namespaces::{Sampling, Shown};
use crate::out;

use super::select::{LeftOut, Selection};

/// The shortest time between the starts of two samples, whatever asks:
/// `--delay` may not go below it, and scrapes with `--sample-on-scrape`
/// share a sample taken within it.
pub(super) const MIN_DELAY: Duration = Duration::from_millis(100);

/// How long a scrape with `--sample-on-scrape` waits for its sample before
/// it answers from the last one.
pub(super) const SCRAPE_WAIT: Duration = Duration::from_secs(5);

/// Why a sample failed (the `reason` label of `raindrops_sample_errors_total`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ErrorReason {
    /// The netlink sock_diag query failed.
    SockDiag,
    /// A scrape waited [`SCRAPE_WAIT`] for its sample in vain.
    ScrapeTimeout,
}

impl ErrorReason {
    pub(super) const ALL: [ErrorReason; 2] = [ErrorReason::SockDiag, ErrorReason::ScrapeTimeout];

    pub(super) const fn label(self) -> &'static str {
        match self {
            ErrorReason::SockDiag => "sock_diag",
            ErrorReason::ScrapeTimeout => "scrape_timeout",
        }
    }
}

/// What the sampler measured about itself.
#[derive(Clone, Debug, Default)]
pub(super) struct SampleStats {
    /// Samples attempted.
    pub(super) samples: u64,
    /// Failures, indexed like [`ErrorReason::ALL`].
    pub(super) errors: [u64; 2],
    /// How long the last sample took.
    pub(super) last_duration: Duration,
    /// When the last successful sample was taken.
    pub(super) last_good: Option<Timestamp>,
    /// Listeners left out of the last successful sample.
    pub(super) left_out: LeftOut,
    /// Listeners left out, summed over every sample.
    pub(super) left_out_total: LeftOut,
}

impl SampleStats {
    pub(super) fn error(&mut self, reason: ErrorReason) {
        let i = ErrorReason::ALL
            .iter()
            .position(|r| *r == reason)
            .unwrap_or(0);
        self.errors[i] = self.errors[i].saturating_add(1);
    }
}

/// What the sampler thread and the request handlers share.
pub(super) struct Shared {
    pub(super) watcher: WatcherState,
    /// The last sampling failure, answered as 503 until a sample succeeds.
    pub(super) error: Option<SourceError>,
    pub(super) stats: SampleStats,
    /// Every namespace's listeners, when sampled by namespace.
    pub(super) ns: Shown,
    /// The namespace's TcpExt counters of the last sample.
    pub(super) netstat: Vec<Metric<'static>>,
    /// How long connections waited in each listener's accept queue before
    /// they were accepted, by listener name (those that waited at all).
    pub(super) waits: Vec<(String, Aggregate)>,
}

/// What the last sample of `sampler` adds to the shared state beyond the
/// Watcher: namespaces, the namespace counters, the queue waits.
fn publish(sampler: &Sampling, shared: &mut Shared) {
    sampler.publish(&mut shared.ns);
    shared.netstat = sampler
        .overflow_watch()
        .and_then(|w| w.netstat())
        .map(raindrops::netstat_metrics)
        .unwrap_or_default();
    shared.waits.clear();
    if let Some(t) = sampler.queue_waits() {
        shared
            .waits
            .extend(t.iter().map(|(name, a)| (name.to_string(), a.clone())));
    }
}

/// The shared state and the signals around it.
pub(super) struct Hub {
    state: Mutex<Shared>,
    /// Samples started so far (the first one, before serving, is 1).
    started: AtomicU64,
    /// The number of the last finished sample.
    finished: watch::Sender<u64>,
    /// Wakes the sampler for a scrape.
    wake: SyncSender<()>,
}

impl Hub {
    /// Locks the shared state. A panicking holder cannot leave the watcher
    /// half-updated in a way that matters more than stopping the server.
    pub(super) fn lock(&self) -> MutexGuard<'_, Shared> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A receiver told of each finished sample (tail streams).
    pub(super) fn subscribe(&self) -> watch::Receiver<u64> {
        self.finished.subscribe()
    }

    /// Asks for a sample started after this call and waits for it, at
    /// most [`SCRAPE_WAIT`]; a timeout is counted as a sample error and the
    /// caller answers from the last sample.
    pub(super) async fn fresh_sample(&self) {
        let mut rx = self.finished.subscribe();
        let wanted = self.started.load(Ordering::Acquire) + 1;
        match self.wake.try_send(()) {
            Ok(()) | Err(TrySendError::Full(())) => {}
            Err(TrySendError::Disconnected(())) => return,
        }
        let waited = tokio::time::timeout(SCRAPE_WAIT, rx.wait_for(|&n| n >= wanted)).await;
        if waited.is_err() {
            self.lock().stats.error(ErrorReason::ScrapeTimeout);
        }
    }
}

/// How many listener histories must have been forgotten since the last
/// trim before the freed memory is given back to the system.
const TRIM_AFTER: usize = 256;

/// Gives the heap's free pages back to the system: after listeners come
/// and go by the thousand, glibc would otherwise keep the memory of their
/// forgotten histories (in the sampler thread's arena) for good.
fn give_back_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks glibc's own arenas; it takes no
    // pointer and is safe to call from any thread at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Takes the first sample (its errors end the command before it serves),
/// then starts the sampler thread.
pub(super) fn start(
    mut sampler: Sampling,
    selection: Selection,
    mut watcher: WatcherState,
    delay: Duration,
) -> Result<Arc<Hub>, crate::fail::Failure> {
    let t0 = Instant::now();
    let mut first = sampler.sample()?;
    let mut left = selection.apply(&mut first);
    left.ephemeral = sampler.hidden() as u64;
    let now = Timestamp::now();
    watcher.record(now, first.iter().map(|l| l.as_ref()));
    drop(first);
    let stats = SampleStats {
        samples: 1,
        last_duration: t0.elapsed(),
        last_good: Some(now),
        left_out: left,
        left_out_total: left,
        ..SampleStats::default()
    };
    let (wake, woken) = std::sync::mpsc::sync_channel(1);
    let mut shared = Shared {
        watcher,
        error: None,
        stats,
        ns: Shown::default(),
        netstat: Vec::new(),
        waits: Vec::new(),
    };
    publish(&sampler, &mut shared);
    let hub = Arc::new(Hub {
        state: Mutex::new(shared),
        started: AtomicU64::new(1),
        finished: watch::Sender::new(1),
        wake,
    });
    let h = Arc::clone(&hub);
    thread::Builder::new()
        .name("sampler".into())
        .spawn(move || run(sampler, selection, &h, &woken, delay))
        .map_err(|e| crate::fail::Failure::System(format!("cannot start the sampler: {e}")))?;
    Ok(hub)
}

fn run(
    mut sampler: Sampling,
    selection: Selection,
    hub: &Hub,
    woken: &Receiver<()>,
    delay: Duration,
) {
    let mut next = Instant::now() + delay;
    let mut last_start = Instant::now();
    let mut high_water = 0usize;
    loop {
        match woken.recv_timeout(next.saturating_duration_since(Instant::now())) {
            Ok(()) => {
                // A scrape asked: not sooner than MIN_DELAY after the last
                // start, so that scrapes cannot make it spin.
                thread::sleep((last_start + MIN_DELAY).saturating_duration_since(Instant::now()));
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        // Drop a scrape's request that came in meanwhile: this sample
        // serves it.
        let _ = woken.try_recv();
        last_start = Instant::now();
        if last_start >= next {
            next += delay;
            if next <= last_start {
                // Fell behind (a slow sample, a stopped process): skip the
                // missed rounds rather than sampling back to back.
                next = last_start + delay;
            }
        }
        let n = hub.started.fetch_add(1, Ordering::AcqRel) + 1;
        let result = sampler.sample();
        let took = last_start.elapsed();
        let now = Timestamp::now();
        let mut shared = hub.lock();
        shared.stats.samples += 1;
        shared.stats.last_duration = took;
        match result {
            Ok(mut listeners) => {
                let mut left = selection.apply(&mut listeners);
                left.ephemeral = sampler.hidden() as u64;
                shared
                    .watcher
                    .record(now, listeners.iter().map(|l| l.as_ref()));
                publish(&sampler, &mut shared);
                shared.error = None;
                shared.stats.last_good = Some(now);
                shared.stats.left_out = left;
                shared.stats.left_out_total.add(left);
                let histories = shared.watcher.histories();
                drop(shared);
                drop(listeners);
                high_water = high_water.max(histories);
                if histories + TRIM_AFTER <= high_water {
                    give_back_memory();
                    high_water = histories;
                }
            }
            Err(e) => {
                if shared.error.is_none() {
                    out::stderr(&format!("raindrops: sampling failed: {e}\n"));
                }
                shared.error = Some(SourceError {
                    what: "netlink sock_diag sample",
                    errno: None,
                });
                shared.stats.error(ErrorReason::SockDiag);
                drop(shared);
            }
        }
        hub.finished.send_replace(n);
    }
}
