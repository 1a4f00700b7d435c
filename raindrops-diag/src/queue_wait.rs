//! [`QueueWaitTracker`]: how long connections waited in TCP accept queues
//! before they left them, from successive listener samples, seen from
//! outside the server.

use crate::listeners::Listeners;
use raindrops_core::{Aggregate, Family};
use std::collections::HashMap;
use std::string::String;
use std::time::Instant;
use std::vec::Vec;

/// Follows the connections waiting in each TCP listener's accept queue
/// across successive samples (by socket cookie) and records, when one
/// leaves the queue, how long it waited, into an [`Aggregate`] per
/// listener: count, min, max, mean, standard deviation and the
/// power-of-two histogram of the waits in milliseconds, the same buckets
/// for every listener (what the Watcher pages and Prometheus histograms
/// show).
///
/// Feed it the result of each query made with
/// [`TcpQuery::queue_wait`](crate::TcpQuery::queue_wait), with the time
/// the query returned. A connection's wait is the time from its handshake
/// (its age at first sight, from the kernel, subtracted from that
/// sample's time) to the middle between the last sample that saw it
/// waiting and the first that did not: its resolution is the sampling
/// interval (error at most half of it, plus a jiffy), and connections
/// that wait less than the time between two samples may never be seen and
/// are then not recorded. The repository's `docs/queue-wait.md` has the
/// details.
///
/// ```no_run
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use raindrops_diag::{Diag, QueueWaitTracker, TcpQuery};
/// let mut diag = Diag::new()?;
/// let mut waits = QueueWaitTracker::new();
/// let query = TcpQuery::new().with_queue_wait(true);
/// for _ in 0..60 {
///     let sample = diag.tcp_listener_stats_with(&["0.0.0.0:80"], &query)?;
///     waits.update(std::time::Instant::now(), &sample);
///     std::thread::sleep(std::time::Duration::from_secs(1));
/// }
/// if let Some(a) = waits.waits("0.0.0.0:80") {
///     println!("{} connections waited {:?} ms at most", a.count(), a.max());
/// }
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, Default)]
pub struct QueueWaitTracker {
    origin: Option<Instant>,
    generation: u64,
    /// The listeners of the last sample, in its order.
    listeners: Vec<Tracked>,
    index: HashMap<String, usize>,
}

/// What is followed of one listener.
#[derive(Clone, Debug)]
struct Tracked {
    name: String,
    /// The connections seen waiting and still waiting at the last sample.
    waiting: HashMap<u64, Seen>,
    /// The waits of the connections that left the queue.
    waits: Aggregate,
    /// The waits recorded by the last update.
    recorded: Vec<u32>,
    /// The generation of the last update that saw the listener.
    generation: u64,
}

/// A connection seen waiting: when it entered the queue and when it was
/// last seen there, in milliseconds since the tracker's origin.
#[derive(Clone, Copy, Debug)]
struct Seen {
    entered_ms: i64,
    seen_ms: i64,
    generation: u64,
}

impl QueueWaitTracker {
    /// A tracker that has seen nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes in one sample taken at `now` (read right after the query
    /// returned): records the waits of the connections that left an accept
    /// queue since the previous sample, and follows those now waiting.
    ///
    /// Listeners whose waits the sample did not measure (Unix listeners,
    /// or a query without [`TcpQuery::queue_wait`](crate::TcpQuery::queue_wait))
    /// keep their state if they are followed, and are not followed
    /// otherwise; listeners absent from the sample are forgotten with
    /// their aggregates.
    pub fn update(&mut self, now: Instant, sample: &Listeners) {
        let origin = *self.origin.get_or_insert(now);
        let t = ms_between(origin, now);
        self.generation += 1;
        let generation = self.generation;
        for (l, waiting) in sample.iter_waiting() {
            let measured = l.family != Family::Unix && l.stats.queue_wait_oldest_ms.is_some();
            let i = match self.index.get(l.name.as_str()) {
                Some(&i) => i,
                None if !measured => continue,
                None => {
                    self.listeners.push(Tracked {
                        name: l.name.clone(),
                        waiting: HashMap::new(),
                        waits: Aggregate::new(),
                        recorded: Vec::new(),
                        generation,
                    });
                    self.index.insert(l.name.clone(), self.listeners.len() - 1);
                    self.listeners.len() - 1
                }
            };
            let tr = &mut self.listeners[i];
            tr.generation = generation;
            if !measured {
                continue;
            }
            tr.recorded.clear();
            for w in waiting {
                let seen = tr.waiting.entry(w.cookie).or_insert(Seen {
                    entered_ms: t - i64::from(w.age_ms),
                    seen_ms: t,
                    generation,
                });
                seen.seen_ms = t;
                seen.generation = generation;
            }
            let (waits, recorded) = (&mut tr.waits, &mut tr.recorded);
            tr.waiting.retain(|_, s| {
                if s.generation == generation {
                    return true;
                }
                // Left between the last sighting and now: the middle.
                let left = s.seen_ms + (t - s.seen_ms) / 2;
                let wait = u32::try_from((left - s.entered_ms).max(0)).unwrap_or(u32::MAX);
                waits.push(u64::from(wait));
                recorded.push(wait);
                false
            });
        }
        if self.listeners.iter().any(|tr| tr.generation != generation) {
            self.listeners.retain(|tr| tr.generation == generation);
            self.index = (self.listeners.iter().enumerate())
                .map(|(i, tr)| (tr.name.clone(), i))
                .collect();
        }
    }

    /// The waits recorded for the listener `name` (display name, as in
    /// the samples), in milliseconds.
    pub fn waits(&self, name: &str) -> Option<&Aggregate> {
        self.get(name).map(|tr| &tr.waits)
    }

    /// Every listener of the last sample with its recorded waits, in the
    /// sample's order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &Aggregate)> {
        self.listeners
            .iter()
            .map(|tr| (tr.name.as_str(), &tr.waits))
    }

    /// The waits the last [`update`](Self::update) recorded for `name`
    /// (milliseconds), one per connection that left the queue since the
    /// sample before.
    pub fn recorded(&self, name: &str) -> &[u32] {
        self.get(name).map_or(&[], |tr| tr.recorded.as_slice())
    }

    /// How many connections of `name` are followed now (seen waiting at
    /// the last sample).
    pub fn waiting(&self, name: &str) -> usize {
        self.get(name).map_or(0, |tr| tr.waiting.len())
    }

    /// Empties every listener's aggregate (the Watcher's reset), still
    /// following the connections that wait.
    pub fn reset(&mut self) {
        for tr in &mut self.listeners {
            tr.waits.clear();
        }
    }

    /// Empties the aggregate of `name`; false if it is not followed.
    pub fn reset_listener(&mut self, name: &str) -> bool {
        match self.index.get(name) {
            Some(&i) => {
                self.listeners[i].waits.clear();
                true
            }
            None => false,
        }
    }

    fn get(&self, name: &str) -> Option<&Tracked> {
        self.index.get(name).map(|&i| &self.listeners[i])
    }
}

/// Milliseconds from `a` to `b` (negative if `b` is earlier).
fn ms_between(a: Instant, b: Instant) -> i64 {
    let ms = |d: std::time::Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
    match b.checked_duration_since(a) {
        Some(d) => ms(d),
        None => -ms(a.duration_since(b)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::waiting::Waiting;
    use raindrops_core::{ListenStats, Listener};
    use std::string::ToString;
    use std::time::Duration;

    /// A sample of one TCP listener `name` with these waiting connections
    /// (cookie, age in ms).
    fn sample(name: &str, waiting: &[(u64, u32)]) -> Listeners {
        let mut l = Listeners::new();
        let oldest = waiting.iter().map(|w| w.1).max().unwrap_or(0);
        let stats = ListenStats::new(0, waiting.len() as u32).with_queue_wait_oldest(oldest);
        l.push(
            Listener::new(name.into(), Family::Tcp4, stats),
            waiting
                .iter()
                .map(|&(cookie, age_ms)| Waiting { cookie, age_ms }),
        );
        l
    }

    #[test]
    fn waits_from_entry_to_the_middle_of_the_departure_interval() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut tr = QueueWaitTracker::new();
        let k = "127.0.0.1:80";
        tr.update(at(0), &sample(k, &[(1, 300), (2, 50)]));
        assert_eq!(tr.waiting(k), 2);
        assert!(tr.recorded(k).is_empty());
        // 1 leaves between 0 and 1000: entered at -300, left at 500.
        tr.update(at(1000), &sample(k, &[(2, 1050), (3, 10)]));
        assert_eq!(tr.recorded(k), [800]);
        // 2 and 3 leave; 2 entered at -50, 3 at 990; left at 1500.
        tr.update(at(2000), &sample(k, &[]));
        let mut r = tr.recorded(k).to_vec();
        r.sort_unstable();
        assert_eq!(r, [510, 1550]);
        let a = tr.waits(k).unwrap();
        assert_eq!((a.count(), a.min(), a.max()), (3, Some(510), Some(1550)));
        assert_eq!(tr.waiting(k), 0);
        tr.reset();
        assert_eq!(tr.waits(k).unwrap().count(), 0);
    }

    #[test]
    fn unmeasured_and_absent_listeners() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut tr = QueueWaitTracker::new();
        let (a, b) = ("127.0.0.1:80", "/run/app.sock");
        tr.update(at(0), &sample(a, &[(7, 100)]));
        // A sample that did not measure the waits changes nothing.
        let unmeasured: Listeners = [Listener::new(
            a.to_string(),
            Family::Tcp4,
            ListenStats::new(0, 1),
        )]
        .into_iter()
        .collect();
        tr.update(at(500), &unmeasured);
        assert_eq!((tr.waiting(a), tr.recorded(a).len()), (1, 0));
        // A Unix listener has no waits: not followed.
        let unix: Listeners = [Listener::new(
            b.to_string(),
            Family::Unix,
            ListenStats::new(0, 3).with_queue_wait_oldest(0),
        )]
        .into_iter()
        .collect();
        tr.update(at(1000), &unix);
        assert_eq!(tr.waits(a), None, "absent from the sample: forgotten");
        assert_eq!(tr.waits(b), None);
        assert_eq!(tr.iter().len(), 0);
        assert!(!tr.reset_listener(a));
        tr.update(at(1500), &sample(a, &[]));
        assert!(tr.reset_listener(a));
        assert_eq!(tr.iter().map(|(n, _)| n).collect::<Vec<_>>(), [a]);
    }

    #[test]
    fn a_clock_that_goes_back_never_makes_a_negative_wait() {
        let t0 = Instant::now() + Duration::from_secs(10);
        let mut tr = QueueWaitTracker::new();
        let k = "[::1]:80";
        tr.update(t0, &sample(k, &[(1, 0)]));
        tr.update(t0 - Duration::from_secs(5), &sample(k, &[]));
        assert_eq!(tr.recorded(k), [0]);
    }
}
