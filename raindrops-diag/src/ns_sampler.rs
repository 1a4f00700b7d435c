//! Listener statistics of many network namespaces at once: one worker
//! thread per namespace, each with its own netlink socket inside it, asked
//! in parallel; with the owning processes and cgroup of each listener on
//! request. The rules are in `docs/namespaces.md` of the workspace.

use crate::cgroup::CgroupMap;
use crate::listen_sockets;
use crate::netns::{NetNs, NsDiscovery, NsId, NsSkip, NsSpec, SkipCounts};
use crate::ns_worker::{Job, NsData, NsQuery, Reply, Worker};
use crate::owner::{Holder, Owners, Rescan};
use raindrops_core::{Errno, EscapedName, Listener, Netns, Owner};
use std::collections::HashMap;
use std::os::unix::ffi::OsStrExt;
use std::string::String;
use std::string::ToString;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use std::vec::Vec;

/// How many unanswered jobs make a worker stuck.
const MAX_IN_FLIGHT: u32 = 2;

/// Which namespaces a [`NsSampler`] samples.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NsScope {
    /// Only this process's namespace (no `/proc` walk, no privilege).
    Current,
    /// Every namespace a process or an `ip netns` name refers to.
    All,
    /// The namespaces named (`--namespace NAME|PID|PATH`).
    Only(Vec<NsSpec>),
}

/// One listener of a namespace, with what attribution found.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct NsListener {
    /// The listener record: its statistics, its namespace
    /// ([`Listener::netns`], always set here) and, with attribution, its
    /// main owner and its cgroup v2 path in display form (the socket's
    /// cgroup for TCP, where it was created; else the main owner's).
    pub listener: Listener<String>,
    /// Its listening sockets' inodes (several for a `SO_REUSEPORT`
    /// group), sorted; empty without attribution.
    pub inodes: Vec<u64>,
    /// The cgroup id of its (first) socket, where the kernel reports one
    /// (TCP).
    pub cgroup_id: Option<u64>,
    /// Every descriptor that holds one of its sockets, sorted by pid and
    /// descriptor (what `ss -p` lists); empty without attribution or when
    /// the holders are not visible.
    pub owners: Vec<Holder>,
}

impl NsListener {
    /// The owner for a single label: the lowest pid (in a pre-forking
    /// server, usually the master that opened the socket).
    pub fn main_owner(&self) -> Option<&Holder> {
        self.owners.first()
    }
}

/// The listeners of one namespace.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct NsListeners {
    /// The namespace.
    pub ns: Arc<NetNs>,
    /// Its listeners: TCP sorted by address, then Unix sorted by name.
    pub listeners: Vec<NsListener>,
}

/// What a skipped entry refers to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SkipTarget {
    /// A namespace that was known.
    Ns(Arc<NetNs>),
    /// A namespace asked for by name, pid or path that could not be found.
    Spec(NsSpec),
}

/// A namespace left out of a sample, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Skipped {
    /// The namespace.
    pub target: SkipTarget,
    /// Why.
    pub reason: NsSkip,
}

impl Skipped {
    /// The identity of the namespace, if it was known.
    pub fn ns_id(&self) -> Option<NsId> {
        match &self.target {
            SkipTarget::Ns(ns) => Some(ns.id),
            SkipTarget::Spec(_) => None,
        }
    }
}

/// One sample of every namespace.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct NsSample {
    /// The namespaces that answered, in discovery order (this process's
    /// first, then named ones, then by pid).
    pub namespaces: Vec<NsListeners>,
    /// The namespaces left out, each with its reason (also counted in
    /// [`NsSampler::skip_counts`]).
    pub skipped: Vec<Skipped>,
    /// Why discovery failed, if it was due and failed (the namespaces
    /// known before were sampled).
    pub discovery_error: Option<Errno>,
    /// Whether and why the owner cache scanned `/proc` (with attribution).
    pub rescan: Option<Rescan>,
    /// Why the owners could not be found, if so (listeners are reported
    /// without owners).
    pub owner_error: Option<Errno>,
}

impl NsSample {
    /// The listeners of namespace `id`, if it answered.
    pub fn get(&self, id: NsId) -> Option<&NsListeners> {
        self.namespaces.iter().find(|n| n.ns.id == id)
    }
}

/// Samples the listeners of many network namespaces.
///
/// Each namespace gets a worker thread that enters it once (`setns`) and
/// keeps its netlink socket there; a sample sends one request to every
/// worker and collects the replies until a timeout, so a stuck worker
/// delays a sample by the timeout at most and is reported
/// ([`NsSkip::Timeout`]) until it answers; a slow one gets the next
/// request queued behind the one it is on, a stuck one (two unanswered)
/// is asked nothing more until it answers. A namespace that vanished, may
/// not be entered or whose query failed is left out with its reason
/// ([`NsSample::skipped`], counted in [`NsSampler::skip_counts`]), never
/// failing the sample. Discovery runs on the first sample and then at most
/// every [`NsSampler::with_discovery_interval`]: workers of namespaces no
/// longer found stop (a worker keeps its namespace alive until then), new
/// namespaces get one.
///
/// ```
/// use raindrops_diag::{NsSampler, NsScope};
/// let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
/// let name = l.local_addr().unwrap().to_string();
/// let mut s = NsSampler::new(NsScope::Current).with_owners(true);
/// let sample = s.sample();
/// let here = &sample.namespaces[0];
/// assert!(here.ns.current);
/// let me = here.listeners.iter().find(|x| x.listener.name == name).unwrap();
/// assert_eq!(me.main_owner().unwrap().pid, std::process::id());
/// ```
#[derive(Debug)]
pub struct NsSampler {
    scope: NsScope,
    query: NsQuery,
    owners_on: bool,
    cmdline: bool,
    timeout: Duration,
    discovery_interval: Duration,
    discovery: NsDiscovery,
    last_discovery: Option<Instant>,
    workers: Vec<Worker>,
    replies_tx: Sender<Reply>,
    replies: Receiver<Reply>,
    seq: u64,
    counts: SkipCounts,
    owners: Option<Owners>,
    cgroups: Option<CgroupMap>,
    cgroups_probed: bool,
    retired: Vec<JoinHandle<()>>,
}

impl core::fmt::Debug for Worker {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Worker")
            .field("ns", &self.ns.id)
            .field("in_flight", &self.in_flight)
            .finish()
    }
}

impl NsSampler {
    /// A sampler of `scope` with the default query ([`NsQuery::new`]),
    /// no attribution, a 2 s timeout and discovery every 10 s.
    pub fn new(scope: NsScope) -> Self {
        let (replies_tx, replies) = channel();
        NsSampler {
            scope,
            query: NsQuery::new(),
            owners_on: false,
            cmdline: false,
            timeout: Duration::from_secs(2),
            discovery_interval: Duration::from_secs(10),
            discovery: NsDiscovery::new(),
            last_discovery: None,
            workers: Vec::new(),
            replies_tx,
            replies,
            seq: 0,
            counts: SkipCounts::default(),
            owners: None,
            cgroups: None,
            cgroups_probed: false,
            retired: Vec::new(),
        }
    }

    /// The same sampler asking `query` of every namespace.
    #[must_use]
    pub fn with_query(mut self, query: NsQuery) -> Self {
        self.query = query;
        self
    }

    /// The same sampler, finding each listener's owners and cgroup or not.
    #[must_use]
    pub fn with_owners(mut self, on: bool) -> Self {
        self.owners_on = on;
        self
    }

    /// The same sampler, reading owners' command lines or not.
    #[must_use]
    pub fn with_cmdline(mut self, on: bool) -> Self {
        self.cmdline = on;
        self
    }

    /// The same sampler, waiting at most `timeout` for the workers'
    /// replies in each sample.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The same sampler, discovering namespaces at most every `interval`
    /// (`Duration::ZERO`: at every sample).
    #[must_use]
    pub fn with_discovery_interval(mut self, interval: Duration) -> Self {
        self.discovery_interval = interval;
        self
    }

    /// The same sampler, discovering with `discovery`.
    #[must_use]
    pub fn with_discovery(mut self, discovery: NsDiscovery) -> Self {
        self.discovery = discovery;
        self
    }

    /// Changes the reply timeout of the next samples.
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// Makes the next sample discover namespaces, whatever the interval.
    pub fn rediscover(&mut self) {
        self.last_discovery = None;
    }

    /// Empties the owner cache: the next sample with attribution scans
    /// `/proc` afresh.
    pub fn clear_owner_cache(&mut self) {
        if let Some(o) = &mut self.owners {
            o.clear();
        }
    }

    /// The namespaces that have a worker now.
    pub fn namespaces(&self) -> impl Iterator<Item = &Arc<NetNs>> + '_ {
        self.workers.iter().map(|w| &w.ns)
    }

    /// Skipped namespaces by kind since creation.
    pub fn skip_counts(&self) -> SkipCounts {
        self.counts
    }

    /// The owner cache, once attribution has run.
    pub fn owners(&self) -> Option<&Owners> {
        self.owners.as_ref()
    }

    /// The cgroup map, once attribution needed it.
    pub fn cgroups(&self) -> Option<&CgroupMap> {
        self.cgroups.as_ref()
    }

    /// Samples every namespace: discovery if due, one request to each
    /// worker, replies until the timeout, then attribution if asked.
    pub fn sample(&mut self) -> NsSample {
        let mut out = NsSample::default();
        self.retired.retain(|h| !h.is_finished());
        // Late answers to earlier samples.
        while let Ok(r) = self.replies.try_recv() {
            if let Some(w) = self.workers.iter_mut().find(|w| w.ns.id == r.ns) {
                w.answered();
            }
        }
        let due = self
            .last_discovery
            .is_none_or(|t| t.elapsed() >= self.discovery_interval);
        if due {
            if let Err(e) = self.discover(&mut out.skipped) {
                out.discovery_error = Some(e);
            }
        }
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let query = self
            .query
            .clone()
            .with_sockets(self.query.sockets || self.owners_on);
        let mut waiting = 0usize;
        let mut dead = Vec::new();
        let mut asked = std::vec![false; self.workers.len()];
        for (i, w) in self.workers.iter_mut().enumerate() {
            // A slow worker gets the new job queued behind the one it is
            // on; one that has not answered two is stuck and asked nothing
            // more (its queue stays bounded).
            if w.in_flight >= MAX_IN_FLIGHT {
                out.skipped.push(Skipped {
                    target: SkipTarget::Ns(Arc::clone(&w.ns)),
                    reason: NsSkip::Timeout,
                });
            } else if w.send(Job {
                seq,
                query: query.clone(),
            }) {
                waiting += 1;
                asked[i] = true;
            } else {
                dead.push(i);
            }
        }
        let index: HashMap<NsId, usize> = self
            .workers
            .iter()
            .enumerate()
            .map(|(i, w)| (w.ns.id, i))
            .collect();
        let mut data: Vec<(usize, NsData)> = Vec::with_capacity(waiting);
        let deadline = Instant::now() + self.timeout;
        while waiting > 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            let reply = match self.replies.recv_timeout(left) {
                Ok(r) => r,
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
            };
            let Some(&i) = index.get(&reply.ns) else {
                continue;
            };
            let w = &mut self.workers[i];
            w.answered();
            if reply.seq != seq || !asked[i] {
                continue; // a late answer to an earlier sample
            }
            asked[i] = false;
            waiting -= 1;
            match reply.result {
                Ok(d) => data.push((i, d)),
                Err(reason) => out.skipped.push(Skipped {
                    target: SkipTarget::Ns(Arc::clone(&w.ns)),
                    reason,
                }),
            }
            if reply.fatal {
                dead.push(i);
            }
        }
        // Asked and not answered in time.
        for (w, _) in self.workers.iter().zip(&asked).filter(|(_, a)| **a) {
            out.skipped.push(Skipped {
                target: SkipTarget::Ns(Arc::clone(&w.ns)),
                reason: NsSkip::Timeout,
            });
        }
        data.sort_by_key(|(i, _)| *i);
        if self.owners_on {
            let inodes: Vec<u64> = data
                .iter()
                .flat_map(|(_, d)| d.sockets.iter().map(|s| s.inode))
                .collect();
            match self.owners_mut() {
                Ok(o) => match o.update(inodes) {
                    Ok(r) => out.rescan = Some(r),
                    Err(e) => out.owner_error = Some(e),
                },
                Err(e) => out.owner_error = Some(e),
            }
        }
        for (i, d) in data {
            let ns = Arc::clone(&self.workers[i].ns);
            let listeners = self.attribute(&ns, d);
            out.namespaces.push(NsListeners { ns, listeners });
        }
        // Workers that ended are dropped: their namespace gets a new one
        // at the next discovery.
        dead.sort_unstable();
        dead.dedup();
        for i in dead.into_iter().rev() {
            let w = self.workers.remove(i);
            self.retired.push(w.stop());
        }
        for s in &out.skipped {
            self.counts.add(&s.reason);
        }
        out
    }

    fn owners_mut(&mut self) -> Result<&mut Owners, Errno> {
        let o = match self.owners.take() {
            Some(o) => o,
            None => Owners::new()?.with_cmdline(self.cmdline),
        };
        Ok(self.owners.insert(o))
    }

    /// The listeners of one namespace with their sockets, owners and
    /// cgroups.
    fn attribute(&mut self, ns: &NetNs, d: NsData) -> Vec<NsListener> {
        let netns_name = ns.name().map(|n| EscapedName(n.as_bytes()).to_string());
        let mut out = Vec::with_capacity(d.listeners.len());
        for (i, mut listener) in d.listeners.into_iter().enumerate() {
            let socks = listen_sockets::of_listener(&d.sockets, i);
            let inodes: Vec<u64> = socks.iter().map(|s| s.inode).collect();
            let cgroup_id = socks.iter().find_map(|s| s.cgroup_id);
            let mut netns = Netns::new(ns.id.ino);
            netns.name.clone_from(&netns_name);
            listener = listener.with_netns(netns);
            let owners = match (&self.owners, self.owners_on) {
                (Some(o), true) => o.owners_of(&inodes),
                _ => Vec::new(),
            };
            if self.owners_on {
                if let Some(main) = owners.first() {
                    let mut pids: Vec<u32> = owners.iter().map(|h| h.pid).collect();
                    pids.dedup(); // sorted by pid
                    let n = u32::try_from(pids.len()).unwrap_or(u32::MAX);
                    listener = listener.with_owner(
                        Owner::new(main.pid, main.process.comm.clone()).with_processes(n),
                    );
                }
                let mut cgroup =
                    cgroup_id.and_then(|id| self.cgroups_mut().and_then(|m| m.path(id)));
                if cgroup.is_none() {
                    cgroup = owners
                        .first()
                        .and_then(|o| o.process.cgroup.as_deref())
                        .map(Arc::from);
                }
                if let Some(c) = cgroup {
                    listener = listener.with_cgroup(String::from(&*c));
                }
            }
            out.push(NsListener {
                listener,
                inodes,
                cgroup_id,
                owners,
            });
        }
        out
    }

    fn cgroups_mut(&mut self) -> Option<&mut CgroupMap> {
        if !self.cgroups_probed {
            self.cgroups_probed = true;
            self.cgroups = CgroupMap::new().ok().flatten();
        }
        self.cgroups.as_mut()
    }

    /// Finds the namespaces of the scope and reconciles the workers.
    fn discover(&mut self, skipped: &mut Vec<Skipped>) -> Result<(), Errno> {
        self.last_discovery = Some(Instant::now());
        let found: Vec<NetNs> = match &self.scope {
            NsScope::Current => std::vec![self.discovery.current()?],
            NsScope::All => self.discovery.all()?.namespaces,
            NsScope::Only(specs) => {
                let (found, failed) = self.discovery.resolve_all(specs);
                for (spec, reason) in failed {
                    skipped.push(Skipped {
                        target: SkipTarget::Spec(spec.clone()),
                        reason,
                    });
                }
                found
            }
        };
        let mut i = 0;
        while i < self.workers.len() {
            if found.iter().any(|n| n.id == self.workers[i].ns.id) {
                i += 1;
            } else {
                let w = self.workers.remove(i);
                skipped.push(Skipped {
                    target: SkipTarget::Ns(Arc::clone(&w.ns)),
                    reason: NsSkip::Vanished,
                });
                self.retired.push(w.stop());
            }
        }
        let mut next: Vec<Worker> = Vec::with_capacity(found.len());
        let mut old = core::mem::take(&mut self.workers);
        for ns in found {
            let ns = Arc::new(ns);
            if let Some(j) = old.iter().position(|w| w.ns.id == ns.id) {
                let mut w = old.swap_remove(j);
                w.ns = ns; // names and pids may have changed
                next.push(w);
                continue;
            }
            match Worker::spawn(Arc::clone(&ns), self.replies_tx.clone()) {
                Ok(w) => next.push(w),
                Err(reason) => skipped.push(Skipped {
                    target: SkipTarget::Ns(ns),
                    reason,
                }),
            }
        }
        self.workers = next;
        Ok(())
    }
}

impl Drop for NsSampler {
    fn drop(&mut self) {
        // Closing the job channels ends the workers; none is waited for,
        // so a stuck one cannot hang the caller.
        for w in self.workers.drain(..) {
            drop(w.stop());
        }
    }
}
