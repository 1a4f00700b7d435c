//! Ruby's `Raindrops::Middleware`: the plain text stats body and the
//! `calling` / `writing` gauges around each request.

use core::fmt;

use raindrops_core::{Counter, GaugeGuard, SafeText, Sharded};

use crate::source::{StatsSource, each_listener};

/// The `Content-Type` of the middleware body.
pub const MIDDLEWARE_CONTENT_TYPE: &str = "text/plain";

/// Writes the body of Ruby's `Raindrops::Middleware` stats endpoint
/// (`/_raindrops`), byte for byte:
///
/// ```text
/// calling: 0
/// writing: 0
/// 127.0.0.1:8080 active: 1
/// 127.0.0.1:8080 queued: 0
/// /tmp/sock active: 0
/// /tmp/sock queued: 0
/// ```
///
/// TCP listeners first, then Unix ones, each in the source's order; an
/// unknown `calling`/`writing` shows 0. Names are shown through
/// [`SafeText`], so no listener name can add a line (the Ruby gem prints
/// them raw). The text has only these lines
/// (backlog, drops and the other numbers beyond Ruby's are in the metrics
/// and JSON). Allocates nothing; fails only if `w` does.
pub fn render_middleware_text<S, W>(source: &S, w: &mut W) -> fmt::Result
where
    S: StatsSource + ?Sized,
    W: fmt::Write + ?Sized,
{
    write!(
        w,
        "calling: {}\nwriting: {}\n",
        source.calling().unwrap_or(0),
        source.writing().unwrap_or(0)
    )?;
    render_middleware_listeners(source, w)
}

/// Writes the listener lines of the middleware body (after `calling` and
/// `writing`): `ADDR active: N` and `ADDR queued: N` for each TCP, then
/// each Unix listener. Allocates nothing; fails only if `w` does.
///
/// ```
/// use raindrops_core::{Family, ListenStats, Listener};
/// use raindrops_http::{render_middleware_listeners, Snapshot};
/// let listeners = [
///     Listener::new("/tmp/sock", Family::Unix, ListenStats::new(0, 2)),
///     Listener::new("[::1]:80", Family::Tcp6, ListenStats::new(1, 0)),
/// ];
/// let mut out = String::new();
/// render_middleware_listeners(&Snapshot { listeners: &listeners, ..Snapshot::new() }, &mut out)
///     .unwrap();
/// assert_eq!(out, "[::1]:80 active: 1\n[::1]:80 queued: 0\n/tmp/sock active: 0\n/tmp/sock queued: 2\n");
/// ```
pub fn render_middleware_listeners<S, W>(source: &S, w: &mut W) -> fmt::Result
where
    S: StatsSource + ?Sized,
    W: fmt::Write + ?Sized,
{
    for tcp in [true, false] {
        each_listener(source, |l| {
            if l.family.is_tcp() != tcp {
                return Ok(());
            }
            let name = SafeText(l.name);
            name.write_to(w)?;
            w.write_str(" active: ")?;
            crate::text::uint(w, l.stats.active.into())?;
            w.write_char('\n')?;
            name.write_to(w)?;
            w.write_str(" queued: ")?;
            crate::text::uint(w, l.stats.queued.into())?;
            w.write_char('\n')
        })?;
    }
    Ok(())
}

raindrops_core::named_counters! {
    /// The two gauges of Ruby's `Raindrops::Middleware::Stats`: requests in
    /// the application and responses being written. A `static` of this type
    /// (or one laid over shared memory with `from_slots`) is shared by every
    /// worker; [`RequestGauges`] does the counting.
    pub struct MiddlewareStats {
        /// Requests inside the application right now.
        calling,
        /// Responses whose body is still being sent.
        writing,
    }
}

/// The `calling` and `writing` counters one worker updates around each
/// request, as Ruby's middleware does: `calling` while the application
/// runs, `writing` from when it returns until the body is finished or
/// dropped.
///
/// The counters may be anywhere a [`Counter`] lives: a
/// [`MiddlewareStats`], a shared memory region, or this worker's shard of a
/// [`Sharded`] pair.
///
/// ```
/// use raindrops_http::{MiddlewareStats, RequestGauges};
/// static STATS: MiddlewareStats = MiddlewareStats::new();
/// let gauges = RequestGauges::new(STATS.calling(), STATS.writing());
///
/// let calling = gauges.enter();          // the request enters the app
/// assert_eq!((STATS.calling().get(), STATS.writing().get()), (1, 0));
/// let writing = calling.returned();      // the app returned a response
/// assert_eq!((STATS.calling().get(), STATS.writing().get()), (0, 1));
/// drop(writing);                         // the body is finished or dropped
/// assert_eq!((STATS.calling().get(), STATS.writing().get()), (0, 0));
/// ```
#[derive(Clone, Copy, Debug)]
pub struct RequestGauges<'a> {
    calling: &'a Counter,
    writing: &'a Counter,
}

impl<'a> RequestGauges<'a> {
    /// Gauges over two counters.
    pub const fn new(calling: &'a Counter, writing: &'a Counter) -> Self {
        RequestGauges { calling, writing }
    }

    /// The gauges of a [`MiddlewareStats`].
    pub fn of<S: core::borrow::Borrow<raindrops_core::Counters<2>>>(
        stats: &'a MiddlewareStats<S>,
    ) -> Self {
        RequestGauges::new(stats.calling(), stats.writing())
    }

    /// `worker`'s shards of two sharded gauges (readers sum the shards), or
    /// an error if `worker` is out of range of either.
    pub fn sharded(
        calling: Sharded<'a>,
        writing: Sharded<'a>,
        worker: usize,
    ) -> Result<Self, raindrops_core::Error> {
        Ok(RequestGauges::new(
            calling.shard(worker)?,
            writing.shard(worker)?,
        ))
    }

    /// The `calling` counter.
    pub const fn calling(&self) -> &'a Counter {
        self.calling
    }

    /// The `writing` counter.
    pub const fn writing(&self) -> &'a Counter {
        self.writing
    }

    /// A request enters the application: `calling` goes up until the
    /// returned guard is turned into [`Writing`] or dropped (also when the
    /// application panics).
    pub fn enter(&self) -> Calling<'a> {
        Calling {
            guard: GaugeGuard::new(self.calling),
            writing: self.writing,
        }
    }
}

/// A request inside the application; dropping it decrements `calling`.
#[must_use = "dropping it ends the request's `calling` count at once"]
#[derive(Debug)]
pub struct Calling<'a> {
    guard: GaugeGuard<'a>,
    writing: &'a Counter,
}

impl<'a> Calling<'a> {
    /// The application returned its response: `writing` goes up, then
    /// `calling` down (Ruby's order, so the request is never counted in
    /// neither). Keep the [`Writing`] guard with the body.
    pub fn returned(self) -> Writing<'a> {
        let writing = Writing {
            guard: GaugeGuard::new(self.writing),
        };
        drop(self.guard);
        writing
    }
}

/// A response being written; dropping it (when the body is finished,
/// fails or is abandoned) decrements `writing`.
#[must_use = "dropping it ends the response's `writing` count at once"]
#[derive(Debug)]
pub struct Writing<'a> {
    guard: GaugeGuard<'a>,
}

impl Writing<'_> {
    /// The `writing` counter this guard holds up.
    pub fn counter(&self) -> &Counter {
        self.guard.counter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Snapshot;
    use raindrops_core::{CounterArray, Counters, Family, ListenStats, Listener};
    use std::string::String;

    #[test]
    fn text_body() {
        let listeners = [
            Listener::new("/tmp/sock", Family::Unix, ListenStats::new(0, 7)),
            Listener::new(
                "0.0.0.0:80",
                Family::Tcp4,
                ListenStats::new(1, 0).with_drops(5),
            ),
            Listener::new("[::1]:8080", Family::Tcp6, ListenStats::new(2, 2)),
        ];
        let snap = Snapshot {
            calling: Some(3),
            writing: Some(usize::MAX),
            listeners: &listeners,
            ..Snapshot::new()
        };
        let mut s = String::new();
        render_middleware_text(&snap, &mut s).unwrap();
        // What Ruby's Raindrops::Middleware printed for the same numbers.
        assert_eq!(
            s,
            "calling: 3\nwriting: 18446744073709551615\n0.0.0.0:80 active: 1\n\
             0.0.0.0:80 queued: 0\n[::1]:8080 active: 2\n[::1]:8080 queued: 2\n\
             /tmp/sock active: 0\n/tmp/sock queued: 7\n"
        );
        let mut empty = String::new();
        render_middleware_text(&Snapshot::<&str>::new(), &mut empty).unwrap();
        assert_eq!(empty, "calling: 0\nwriting: 0\n");
        // A name of unknown origin cannot add a line.
        let forged = [Listener::new(
            "@evil\n127.0.0.1:80 active: 999",
            Family::Unix,
            ListenStats::new(0, 0),
        )];
        let mut s = String::new();
        render_middleware_listeners(
            &Snapshot {
                listeners: &forged,
                ..Snapshot::new()
            },
            &mut s,
        )
        .unwrap();
        assert_eq!(s.lines().count(), 2, "{s}");
    }

    #[test]
    fn gauges_follow_the_request() {
        let stats = MiddlewareStats::new();
        let g = RequestGauges::of(&stats);
        let c1 = g.enter();
        let c2 = g.enter();
        assert_eq!(stats.calling().get(), 2);
        let w1 = c1.returned();
        assert_eq!((stats.calling().get(), stats.writing().get()), (1, 1));
        drop(c2); // the application failed
        assert_eq!((stats.calling().get(), stats.writing().get()), (0, 1));
        assert_eq!(w1.counter().get(), 1);
        drop(w1);
        assert_eq!(stats.writing().get(), 0);
    }

    #[test]
    fn panicking_app_and_shards() {
        static SLOTS: Counters<4> = Counters::new();
        let calling = Sharded::new(&SLOTS.as_slots()[..2]);
        let writing = Sharded::new(&SLOTS.as_slots()[2..]);
        assert!(RequestGauges::sharded(calling, writing, 2).is_err());
        let g = RequestGauges::sharded(calling, writing, 1).unwrap();
        let r = std::panic::catch_unwind(|| {
            let _c = g.enter();
            assert_eq!(calling.sum(), 1);
            panic!("application failed");
        });
        assert!(r.is_err());
        assert_eq!(calling.sum(), 0);
        let w = g.enter().returned();
        assert_eq!((calling.sum(), writing.sum()), (0, 1));
        assert_eq!(SLOTS.get(3), Ok(1));
        drop(w);
        assert_eq!(writing.sum(), 0);
    }
}
