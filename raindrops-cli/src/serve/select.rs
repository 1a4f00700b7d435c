//! Which sampled listeners become series: without names on the command
//! line, TCP listeners on the kernel's ephemeral ports are left out (a
//! browser's or a test's short-lived listeners, which would otherwise each
//! become a series), unless `--all-ports` (alias `--ephemeral`); and at most `--max-listeners`
//! are kept, abstract Unix names going first, then Unix paths, then TCP
//! listeners.
//!
//! A minimal version until the listener selection of `raindrops listeners`
//! (include and exclude by address, port, port range, path pattern) lands
//! in `Sampler` (docs/serve.md).

use crate::sample::Listener;

use super::port_range;

/// The selection rules of a `serve` run.
#[derive(Clone, Copy, Debug)]
pub(super) struct Selection {
    /// Whether ephemeral-port listeners are filtered (no names given and
    /// no `--ephemeral`).
    pub(super) drop_ephemeral: bool,
    /// The most listeners kept.
    pub(super) max: usize,
}

/// How many listeners of a sample were left out, by reason.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct LeftOut {
    /// On a port of the ephemeral range.
    pub(super) ephemeral: u64,
    /// Past `--max-listeners`.
    pub(super) cap: u64,
}

impl LeftOut {
    /// Adds `other` to these counts.
    pub(super) fn add(&mut self, other: LeftOut) {
        self.ephemeral = self.ephemeral.saturating_add(other.ephemeral);
        self.cap = self.cap.saturating_add(other.cap);
    }
}

impl Selection {
    /// Removes from `listeners` what the rules leave out; the range is
    /// read from the kernel at each call (it can change at run time).
    pub(super) fn apply(&self, listeners: &mut Vec<Listener>) -> LeftOut {
        let range = if self.drop_ephemeral {
            port_range::read()
        } else {
            None
        };
        self.apply_with(listeners, range)
    }

    /// [`apply`](Self::apply) with a given ephemeral range.
    pub(super) fn apply_with(
        &self,
        listeners: &mut Vec<Listener>,
        range: Option<(u16, u16)>,
    ) -> LeftOut {
        let mut left = LeftOut::default();
        if let Some((low, high)) = range {
            let before = listeners.len();
            listeners.retain(|l| {
                !(l.family.is_tcp() && port(&l.name).is_some_and(|p| (low..=high).contains(&p)))
            });
            left.ephemeral = (before - listeners.len()) as u64;
        }
        if listeners.len() > self.max {
            // Stable: the sampler's order (TCP first, then Unix) within
            // each rank.
            listeners.sort_by_key(rank);
            left.cap = (listeners.len() - self.max) as u64;
            listeners.truncate(self.max);
        }
        left
    }
}

/// Which listeners are kept first under the cap: TCP (a port takes
/// privilege or a free port to hold), Unix paths (a file), then abstract
/// names, which any local user can bind by the thousand.
fn rank(l: &Listener) -> u8 {
    if l.family.is_tcp() {
        0
    } else if l.name.starts_with('@') {
        2
    } else {
        1
    }
}

/// The port of a TCP listener name (`127.0.0.1:80`, `[::1]:80`).
fn port(name: &str) -> Option<u16> {
    name.rsplit_once(':')?.1.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use raindrops_core::{Family, ListenStats};

    fn l(name: &str, family: Family) -> Listener {
        Listener::new(name.to_string(), family, ListenStats::new(0, 0))
    }

    #[test]
    fn ephemeral_ports_and_the_cap() {
        let sample = || {
            vec![
                l("127.0.0.1:80", Family::Tcp4),
                l("127.0.0.1:40000", Family::Tcp4),
                l("[::1]:60999", Family::Tcp6),
                l("[::]:32767", Family::Tcp6),
                l("@abstract", Family::Unix),
                l("/run/app.sock", Family::Unix),
                l("/run/:40000", Family::Unix),
            ]
        };
        let names = |v: &[Listener]| v.iter().map(|l| l.name.clone()).collect::<Vec<_>>();
        let mut v = sample();
        let sel = Selection {
            drop_ephemeral: true,
            max: 100,
        };
        let left = sel.apply_with(&mut v, Some((32768, 60999)));
        assert_eq!(
            left,
            LeftOut {
                ephemeral: 2,
                cap: 0
            }
        );
        assert_eq!(
            names(&v),
            [
                "127.0.0.1:80",
                "[::]:32767",
                "@abstract",
                "/run/app.sock",
                "/run/:40000"
            ]
        );
        let sel = Selection {
            drop_ephemeral: false,
            max: 4,
        };
        let mut v = sample();
        let left = sel.apply_with(&mut v, None);
        assert_eq!(
            left,
            LeftOut {
                ephemeral: 0,
                cap: 3
            }
        );
        assert_eq!(
            names(&v),
            [
                "127.0.0.1:80",
                "127.0.0.1:40000",
                "[::1]:60999",
                "[::]:32767"
            ]
        );
        let sel = Selection {
            drop_ephemeral: false,
            max: 5,
        };
        let mut v = sample();
        sel.apply_with(&mut v, None);
        assert_eq!(names(&v)[4], "/run/app.sock", "paths before abstract names");
    }
}
