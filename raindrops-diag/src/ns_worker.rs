//! One thread per network namespace: it enters the namespace once
//! (`setns(fd, CLONE_NEWNET)` changes only the calling thread), opens its
//! own [`Diag`] there, and answers listener queries over a channel until
//! its job channel closes.

use crate::listen_sockets::ListenSocket;
use crate::netns::{NetNs, NsId, NsSkip, errno, io_errno};
use crate::query::{TcpQuery, UnixQuery};
use crate::{Diag, Error, QueryError};
use raindrops_core::{Listener, is_unix_name};
use rustix::fd::AsFd;
use rustix::thread::LinkNameSpaceType;
use std::string::String;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::thread::JoinHandle;
use std::vec::Vec;

/// What to ask each namespace: the listener queries of [`Diag`], run in
/// each namespace with the same rules as in this one.
///
/// ```
/// use raindrops_diag::{NsQuery, TcpQuery};
/// // Two listeners by name, queued only, in every namespace sampled.
/// let q = NsQuery::new()
///     .with_tcp(Some(TcpQuery::queued_only()))
///     .with_names(["0.0.0.0:80", "@app"]);
/// assert_eq!(q.names(), ["0.0.0.0:80", "@app"]);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct NsQuery {
    /// The TCP listener query, or `None` for no TCP listeners.
    pub tcp: Option<TcpQuery>,
    /// The Unix listener query, or `None` for no Unix listeners.
    pub unix: Option<UnixQuery>,
    /// Also list each listener's listening sockets, with their inodes and
    /// cgroup ids (for owner and cgroup attribution), from the query's
    /// own LISTEN dump ([`Diag::set_sockets`]).
    pub sockets: bool,
    /// The listeners asked for by name (see [`NsQuery::with_names`]);
    /// `None` for every listener.
    pub names: Option<Arc<[String]>>,
}

impl NsQuery {
    /// TCP and Unix listeners with their default queries, no sockets.
    pub const fn new() -> Self {
        NsQuery {
            tcp: Some(TcpQuery::new()),
            unix: Some(UnixQuery::new()),
            sockets: false,
            names: None,
        }
    }

    /// The same query with `tcp` for TCP listeners (`None`: none).
    #[must_use]
    pub const fn with_tcp(mut self, tcp: Option<TcpQuery>) -> Self {
        self.tcp = tcp;
        self
    }

    /// The same query with `unix` for Unix listeners (`None`: none).
    #[must_use]
    pub const fn with_unix(mut self, unix: Option<UnixQuery>) -> Self {
        self.unix = unix;
        self
    }

    /// The same query, listing listening sockets or not.
    #[must_use]
    pub const fn with_sockets(mut self, on: bool) -> Self {
        self.sockets = on;
        self
    }

    /// The same query for the listeners named `names` in each namespace
    /// (none: every listener): TCP addresses as
    /// [`Diag::tcp_listener_stats`] takes them and Unix names (`/path`,
    /// `@abstract`, told apart by [`raindrops_core::is_unix_name`]) as
    /// [`Diag::unix_listener_stats`] does, with the same rules (the
    /// caller's order, zeros for one address or path where nothing
    /// listens). Names of one kind only ask nothing of the other kind.
    /// Paths are resolved in this process's mount namespace. An address
    /// that does not parse fails the query in every namespace (a `query`
    /// skip): check them first with [`raindrops_core::parse_tcp_addr`].
    #[must_use]
    pub fn with_names<S: Into<String>>(mut self, names: impl IntoIterator<Item = S>) -> Self {
        let names: Vec<String> = names.into_iter().map(Into::into).collect();
        self.names = (!names.is_empty()).then(|| names.into());
        self
    }

    /// The listeners asked for by name; empty for every listener.
    pub fn names(&self) -> &[String] {
        self.names.as_deref().unwrap_or(&[])
    }
}

impl Default for NsQuery {
    fn default() -> Self {
        Self::new()
    }
}

/// What a worker found in its namespace.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct NsData {
    /// TCP listeners (sorted by address), then Unix ones (sorted by name).
    pub(crate) listeners: Vec<Listener<String>>,
    /// The listening sockets, when asked, sorted by their listener's
    /// index in `listeners`.
    pub(crate) sockets: Vec<ListenSocket>,
}

pub(crate) struct Job {
    pub(crate) seq: u64,
    pub(crate) query: NsQuery,
}

pub(crate) struct Reply {
    pub(crate) ns: NsId,
    pub(crate) seq: u64,
    pub(crate) result: Result<NsData, NsSkip>,
    /// The worker could not start and has ended.
    pub(crate) fatal: bool,
}

/// The sampler's handle on one worker thread.
pub(crate) struct Worker {
    pub(crate) ns: Arc<NetNs>,
    jobs: Sender<Job>,
    thread: JoinHandle<()>,
    /// How many jobs it has not answered yet.
    pub(crate) in_flight: u32,
}

impl Worker {
    /// Starts the thread for `ns`; it enters the namespace right away and
    /// reports the outcome with its first answer.
    pub(crate) fn spawn(ns: Arc<NetNs>, replies: Sender<Reply>) -> Result<Worker, NsSkip> {
        let (jobs, rx) = channel();
        let for_thread = Arc::clone(&ns);
        let thread = std::thread::Builder::new()
            // Thread names show in /proc (15 bytes kept): "rdns-" + inode.
            .name(std::format!("rdns-{}", ns.id.ino))
            .stack_size(256 * 1024)
            .spawn(move || run(&for_thread, &rx, &replies))
            .map_err(|e| NsSkip::Sys(io_errno(&e)))?;
        Ok(Worker {
            ns,
            jobs,
            thread,
            in_flight: 0,
        })
    }

    /// Sends a job; `false` if the thread has ended.
    pub(crate) fn send(&mut self, job: Job) -> bool {
        let sent = self.jobs.send(job).is_ok();
        if sent {
            self.in_flight += 1;
        }
        sent
    }

    /// Notes an answer (to any job).
    pub(crate) fn answered(&mut self) {
        self.in_flight = self.in_flight.saturating_sub(1);
    }

    /// Closes the job channel: the thread ends after its current job. The
    /// handle is returned to be reaped later, never waited for here.
    pub(crate) fn stop(self) -> JoinHandle<()> {
        drop(self.jobs);
        self.thread
    }
}

fn run(ns: &NetNs, jobs: &Receiver<Job>, replies: &Sender<Reply>) {
    let mut session = Session::open(ns);
    while let Ok(job) = jobs.recv() {
        let (result, fatal) = match &mut session {
            Ok(s) => (s.run(&job.query), false),
            Err(e) => (Err(*e), true),
        };
        let reply = Reply {
            ns: ns.id,
            seq: job.seq,
            result,
            fatal,
        };
        if replies.send(reply).is_err() || fatal {
            return;
        }
    }
}

/// A worker's state inside its namespace: its own query handle (the
/// netlink socket belongs to the namespace it was opened in, and the
/// `/proc/net/unix` fallback reads this thread's view).
struct Session {
    diag: Diag,
}

impl Session {
    fn open(ns: &NetNs) -> Result<Session, NsSkip> {
        enter(ns)?;
        let diag = Diag::new().map_err(NsSkip::Query)?;
        Ok(Session { diag })
    }

    fn run(&mut self, q: &NsQuery) -> Result<NsData, NsSkip> {
        let mut data = NsData::default();
        self.diag.set_sockets(q.sockets);
        let (unix_names, tcp_names): (Vec<&str>, Vec<&str>) = q
            .names()
            .iter()
            .map(String::as_str)
            .partition(|n| is_unix_name(n));
        let all = q.names().is_empty();
        if let Some(tcp) = q.tcp.as_ref().filter(|_| all || !tcp_names.is_empty()) {
            let stats = self
                .diag
                .tcp_listener_stats_with(&tcp_names, tcp)
                .map_err(query_skip)?;
            data.sockets.extend_from_slice(self.diag.sockets());
            data.listeners.extend(stats);
        }
        if let Some(unix) = q.unix.as_ref().filter(|_| all || !unix_names.is_empty()) {
            let stats = self
                .diag
                .unix_listener_stats_with(&unix_names, unix)
                .map_err(query_skip)?;
            // Indices into the one list: Unix listeners follow TCP ones.
            let base = data.listeners.len();
            data.sockets.extend(
                self.diag
                    .sockets()
                    .iter()
                    .map(|s| ListenSocket::new(s.listener + base, s.inode, s.cgroup_id)),
            );
            data.listeners.extend(stats);
        }
        Ok(data)
    }
}

fn query_skip(e: QueryError) -> NsSkip {
    match e {
        QueryError::Diag(e) => NsSkip::Query(e),
        QueryError::Io(e) => NsSkip::Sys(io_errno(&e)),
        // A name that is not an address: the same in every namespace.
        _ => NsSkip::Query(Error::Protocol),
    }
}

/// Moves the calling thread into `ns` (nothing to do if it is there): the
/// first of its files that still refers to it is opened and checked
/// against its identity (a pid may have been reused since discovery).
fn enter(ns: &NetNs) -> Result<(), NsSkip> {
    let here = NsId::of_current_thread().map_err(NsSkip::Sys)?;
    if here == ns.id {
        return Ok(());
    }
    let mut why = NsSkip::Vanished;
    for path in &ns.paths {
        let fd = match crate::netns::open_ns(path) {
            Ok(fd) => fd,
            Err(skip) => {
                // A refusal says more than a missing file.
                if !matches!(why, NsSkip::Denied(_)) {
                    why = skip;
                }
                continue;
            }
        };
        match NsId::of_fd(&fd) {
            Ok(id) if id == ns.id => {}
            _ => continue,
        }
        return rustix::thread::move_into_link_name_space(
            fd.as_fd(),
            Some(LinkNameSpaceType::Network),
        )
        .map_err(|e| NsSkip::from_errno(errno(e)));
    }
    Err(why)
}
