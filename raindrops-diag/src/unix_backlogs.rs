//! The backlogs of Unix listeners, remembered between queries.
//!
//! unix_diag reports a listener's backlog only in `UNIX_DIAG_RQLEN`, which
//! a dump request asks of every socket of the machine, and which makes the
//! kernel's answer about 40% dearer (see BENCHMARKS.md). A backlog changes
//! only when the application calls `listen()` again, so the default Unix
//! query asks for `RQLEN` only on every [`REFRESH_EVERY`]th query, or
//! when a listener is not known yet, and otherwise takes each listener's
//! backlog from here, by its inode, in the cheaper `UDIAG_SHOW_ICONS` dump.

/// How many listeners are remembered. Past that, every query asks the
/// kernel for the backlogs (correct, at the price of `RQLEN`).
pub(crate) const CAPACITY: usize = 256;

/// A remembered backlog is read again after this many queries, so that a
/// second `listen()` with another backlog shows within that many queries.
pub(crate) const REFRESH_EVERY: u32 = 8;

/// Listener inode to backlog, as the last dump with `RQLEN` reported them.
#[derive(Clone, Debug, Default)]
pub(crate) struct UnixBacklogs {
    /// `(inode, backlog)`, sorted by inode.
    entries: heapless::Vec<(u32, u32), CAPACITY>,
    /// Whether `entries` holds every listener the last filling dump
    /// counted (false before the first one).
    complete: bool,
    /// Queries answered from `entries` since they were filled.
    used: u32,
    /// Whether the current query met a listener not in `entries`.
    missed: bool,
}

#[cfg_attr(not(feature = "socket"), allow(dead_code))]
impl UnixBacklogs {
    /// Whether the next query must ask the kernel for the backlogs.
    pub(crate) const fn due(&self) -> bool {
        !self.complete || self.used >= REFRESH_EVERY
    }

    /// Starts a dump with `RQLEN` that refills the entries.
    pub(crate) fn begin_fill(&mut self) {
        self.entries.clear();
        self.complete = true;
        self.missed = false;
    }

    /// Remembers the backlog of a listener the dump counted.
    pub(crate) fn fill(&mut self, ino: u32, backlog: u32) {
        if self.entries.push((ino, backlog)).is_err() {
            self.complete = false;
        }
    }

    /// Ends a filling dump.
    pub(crate) fn end_fill(&mut self) {
        self.entries.sort_unstable_by_key(|e| e.0);
        self.used = 0;
    }

    /// Starts a dump without `RQLEN`, answered from the entries.
    pub(crate) fn begin_lookup(&mut self) {
        self.missed = false;
    }

    /// The remembered backlog of the listener `ino`; a listener not
    /// remembered marks the query as [`missed`](Self::missed).
    pub(crate) fn get(&mut self, ino: u32) -> Option<u32> {
        match self.entries.binary_search_by_key(&ino, |e| e.0) {
            Ok(i) => Some(self.entries[i].1),
            Err(_) => {
                self.missed = true;
                None
            }
        }
    }

    /// Ends a dump answered from the entries.
    pub(crate) fn end_lookup(&mut self) {
        self.used = self.used.saturating_add(1);
    }

    /// Whether the last lookup dump met a listener not remembered.
    pub(crate) const fn missed(&self) -> bool {
        self.missed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_lookup_refresh() {
        let mut b = UnixBacklogs::default();
        assert!(b.due(), "nothing read yet");
        b.begin_fill();
        b.fill(30, 5);
        b.fill(10, 128);
        b.end_fill();
        for _ in 0..REFRESH_EVERY {
            assert!(!b.due());
            b.begin_lookup();
            assert_eq!((b.get(10), b.get(30)), (Some(128), Some(5)));
            assert!(!b.missed());
            b.end_lookup();
        }
        assert!(b.due(), "read again after REFRESH_EVERY queries");
        b.begin_lookup();
        assert_eq!(b.get(20), None);
        assert!(b.missed());
        // More listeners than the capacity: correct, never answered from
        // the entries.
        b.begin_fill();
        for i in 0..=CAPACITY as u32 {
            b.fill(i, 1);
        }
        b.end_fill();
        assert!(b.due());
    }
}
