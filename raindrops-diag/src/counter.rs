//! The attribution rules as a public API, for callers who run the dumps
//! themselves (without the `socket` feature, or over their own transport)
//! and want the result in a fixed-capacity table.

use crate::error::Error;
use crate::name::UnixName;
use crate::proc_unix::UnixLine;
use crate::query::{TcpQuery, UnixQuery};
use crate::table::{TcpTable, UnixTable};
use crate::tally::{TcpTally, UnixTally};
use crate::wire::inet_diag::InetDiagMsg;
use crate::wire::unix_diag::UnixDiagMsg;
use core::net::SocketAddr;

/// The attribution rules of TCP listener statistics (the contract is
/// `docs/listener-stats.md` of the repository), the same code the socket
/// queries run.
///
/// Feed it the replies of a LISTEN dump ([`TcpCounter::listener`]) and
/// then of an ESTABLISHED (and, for `syn_recv`, `SYN_RECV`) dump
/// ([`TcpCounter::connection`]); in that order, since connections are
/// attributed to listeners already seen.
///
/// ```
/// use raindrops_diag::{TcpCounter, TcpQuery, TcpTable};
/// use raindrops_diag::wire::{InetDiagMsg, InetDiagMsgRepr, SockId};
///
/// let mut id = SockId::any();
/// id.set_local(&"0.0.0.0:80".parse().unwrap());
/// let mut listener = [0u8; 72];
/// InetDiagMsgRepr { family: 2, state: 10, rqueue: 3, wqueue: 128, id, ..Default::default() }
///     .emit(&mut listener).unwrap();
/// id.set_local(&"127.0.0.1:80".parse().unwrap());
/// let mut conn = [0u8; 72];
/// InetDiagMsgRepr { family: 2, state: 1, inode: 99, id, ..Default::default() }
///     .emit(&mut conn).unwrap();
///
/// let query = TcpQuery::new().with_drops(false);
/// let counter = TcpCounter::new(&[], &query); // every listener
/// let mut table = TcpTable::<4>::new();
/// counter.start(&mut table).unwrap();
/// counter.listener(&mut table, &InetDiagMsg::new_checked(&listener[..]).unwrap()).unwrap();
/// counter.connection(&mut table, &InetDiagMsg::new_checked(&conn[..]).unwrap());
/// counter.finish(&mut table);
/// let s = table.get(&"0.0.0.0:80".parse().unwrap()).unwrap();
/// assert_eq!((s.active, s.queued, s.backlog), (1, 3, Some(128)));
/// ```
#[derive(Clone, Copy, Debug)]
pub struct TcpCounter<'a> {
    tally: TcpTally<'a>,
}

impl<'a> TcpCounter<'a> {
    /// Counts what `query` asks for, for `addrs` (every listener when
    /// empty; one address means the dumps were filtered on it and every
    /// reply counts).
    pub const fn new(addrs: &'a [SocketAddr], query: &TcpQuery) -> Self {
        TcpCounter {
            tally: TcpTally::new(addrs, query),
        }
    }

    /// Empties `table` and puts the requested addresses in, in order.
    ///
    /// # Errors
    ///
    /// [`Error::TableFull`] if they do not fit.
    pub fn start<const N: usize>(&self, table: &mut TcpTable<N>) -> Result<(), Error> {
        self.tally.start(table)
    }

    /// Counts one socket of the LISTEN dump.
    ///
    /// # Errors
    ///
    /// [`Error::TableFull`], or [`Error::Wire`] for a malformed attribute.
    pub fn listener<const N: usize>(
        &self,
        table: &mut TcpTable<N>,
        msg: &InetDiagMsg<&[u8]>,
    ) -> Result<(), Error> {
        self.tally.listener(table, msg)
    }

    /// Counts one socket of the connections dump.
    pub fn connection<const N: usize>(&self, table: &mut TcpTable<N>, msg: &InetDiagMsg<&[u8]>) {
        self.tally.connection(table, msg);
    }

    /// Applies the final rules (drops requested addresses that do not
    /// listen; sorts "every listener" by address).
    pub fn finish<const N: usize>(&self, table: &mut TcpTable<N>) {
        self.tally.finish(table);
    }
}

/// The attribution rules of Unix listener statistics, the same code the
/// socket queries run, for callers who run the unix_diag dump themselves
/// (states LISTEN and ESTABLISHED, `UDIAG_SHOW_NAME` with
/// `UDIAG_SHOW_ICONS` for the queue or `UDIAG_SHOW_RQLEN` for the queue
/// and backlog) or read `/proc/net/unix`. (The socket queries also
/// remember backlogs between dumps; this counter reports a backlog when
/// the dump carries `UDIAG_SHOW_RQLEN`.)
///
/// ```
/// use raindrops_diag::{UnixCounter, UnixName, UnixQuery, UnixTable};
/// use raindrops_diag::proc_unix::ProcNetUnix;
///
/// let text = b"Num       RefCount Protocol Flags    Type St Inode Path
/// 0000000000000000: 00000002 00000000 00010000 0001 01 21958 /run/app.sock
/// 0000000000000000: 00000003 00000000 00000000 0001 03 21962 /run/app.sock
/// 0000000000000000: 00000003 00000000 00000000 0001 02     0 /run/app.sock
/// ";
/// let counter = UnixCounter::new(&[], &UnixQuery::new());
/// let mut table = UnixTable::<4>::new();
/// counter.start(&mut table).unwrap();
/// for line in ProcNetUnix::new(text) {
///     counter.proc_line(&mut table, &line.unwrap()).unwrap();
/// }
/// counter.finish(&mut table);
/// let s = table.get(&UnixName::new(b"/run/app.sock").unwrap()).unwrap();
/// assert_eq!((s.active, s.queued), (1, 1));
/// ```
#[derive(Clone, Copy, Debug)]
pub struct UnixCounter<'a> {
    tally: UnixTally<'a>,
}

impl<'a> UnixCounter<'a> {
    /// Counts what `query` asks for, for `names` (every listener when
    /// empty).
    pub const fn new(names: &'a [UnixName], query: &UnixQuery) -> Self {
        UnixCounter {
            tally: UnixTally::new(names, query),
        }
    }

    /// Empties `table` and puts the requested names in, in order.
    ///
    /// # Errors
    ///
    /// [`Error::TableFull`] if they do not fit.
    pub fn start<const N: usize>(&self, table: &mut UnixTable<N>) -> Result<(), Error> {
        self.tally.start(table)
    }

    /// Counts one socket of a unix_diag dump.
    ///
    /// # Errors
    ///
    /// [`Error::TableFull`], or [`Error::Wire`] for a malformed attribute.
    pub fn message<const N: usize>(
        &self,
        table: &mut UnixTable<N>,
        msg: &UnixDiagMsg<&[u8]>,
    ) -> Result<(), Error> {
        self.tally.message(table, msg)
    }

    /// Counts one line of `/proc/net/unix` (state `02` queued, `03`
    /// active, as the Ruby gem does).
    ///
    /// # Errors
    ///
    /// [`Error::TableFull`].
    pub fn proc_line<const N: usize>(
        &self,
        table: &mut UnixTable<N>,
        line: &UnixLine<'_>,
    ) -> Result<(), Error> {
        self.tally.proc_line(table, line)
    }

    /// Applies the final rules (every listener: only listening names,
    /// sorted).
    pub fn finish<const N: usize>(&self, table: &mut UnixTable<N>) {
        self.tally.finish(table);
    }
}
