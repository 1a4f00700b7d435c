//! How long accepted clients waited in the listen queue (Ruby raindrops'
//! `LastDataRecv`).

use std::os::fd::AsFd;

use raindrops_core::AtomicAggregate;

use crate::{Error, set_tcp_defer_accept, tcp_info};

/// Records, for every connection a server accepts, how long it waited in
/// the listener's accept queue, into a shared [`AtomicAggregate`]: the
/// equivalent of Ruby raindrops' `Raindrops::Aggregate::LastDataRecv`.
///
/// With `TCP_DEFER_ACCEPT` on the listener ([`prepare_listener`]), a
/// connection enters the accept queue only when its first data arrives, so
/// `last_data_recv` of a socket just returned by `accept` is the time, in
/// milliseconds, it sat in the queue waiting for a worker. Each
/// [`record`](Self::record) pushes that number into the aggregate; put the
/// aggregate in shared memory (e.g. from `raindrops-shm`) and every worker
/// of a preforking server feeds one distribution, which any process can
/// [`snapshot`](AtomicAggregate::snapshot) (Ruby serves it as the
/// `X-Count`, `X-Min`, `X-Max`… of its `Raindrops::LastDataRecv` Rack app).
///
/// The value is in the kernel's clock ticks (jiffies), so it has the
/// kernel's `HZ` resolution (1 to 10 ms).
///
/// ```
/// use std::io::Write;
/// use std::net::{TcpListener, TcpStream};
/// use raindrops_core::AtomicAggregate;
/// use raindrops_tcpinfo::LastDataRecv;
///
/// static WAITED_MS: AtomicAggregate = AtomicAggregate::new();
///
/// let listener = TcpListener::bind("127.0.0.1:0")?;
/// LastDataRecv::prepare_listener(&listener)?;
/// let recorder = LastDataRecv::new(&WAITED_MS);
///
/// let mut client = TcpStream::connect(listener.local_addr()?)?;
/// client.write_all(b"GET / HTTP/1.0\r\n\r\n")?; // wakes accept
/// let (conn, _) = listener.accept()?;
/// let waited = recorder.record(&conn)?;
/// assert!(waited.is_some());
/// assert_eq!(WAITED_MS.snapshot().count(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// [`prepare_listener`]: Self::prepare_listener
#[derive(Clone, Copy, Debug)]
pub struct LastDataRecv<'a> {
    aggregate: &'a AtomicAggregate,
}

impl<'a> LastDataRecv<'a> {
    /// The `TCP_DEFER_ACCEPT` time [`prepare_listener`](Self::prepare_listener)
    /// sets, in seconds: 60, like Ruby (the kernel reads it back as 63).
    pub const DEFER_ACCEPT_SECS: u32 = 60;

    /// A recorder that pushes into `aggregate` (which may live in shared
    /// memory).
    pub const fn new(aggregate: &'a AtomicAggregate) -> Self {
        LastDataRecv { aggregate }
    }

    /// The aggregate the recorder pushes into.
    pub const fn aggregate(&self) -> &'a AtomicAggregate {
        self.aggregate
    }

    /// Sets `TCP_DEFER_ACCEPT` to [`DEFER_ACCEPT_SECS`](Self::DEFER_ACCEPT_SECS)
    /// on a listener, which the measurement needs to be accurate (what
    /// Ruby does when a `TCPServer` is extended with the module).
    ///
    /// # Errors
    ///
    /// As [`set_tcp_defer_accept`]: [`Error::NotTcp`] if `listener` is not
    /// a TCP socket, and so on.
    pub fn prepare_listener(listener: impl AsFd) -> Result<(), Error> {
        set_tcp_defer_accept(listener, Self::DEFER_ACCEPT_SECS)
    }

    /// Reads `last_data_recv` (ms) of a socket just returned by `accept`
    /// and pushes it into the aggregate; returns the value pushed.
    ///
    /// Returns `Ok(None)`, pushing nothing, if the kernel did not return
    /// the field (it has since Linux 2.6; a zero is never invented).
    ///
    /// # Errors
    ///
    /// As [`tcp_info`]: [`Error::NotTcp`] if `accepted` is not a TCP
    /// socket, and so on; nothing is pushed then.
    pub fn record(&self, accepted: impl AsFd) -> Result<Option<u32>, Error> {
        let waited = tcp_info(accepted)?.last_data_recv();
        if let Some(ms) = waited {
            self.aggregate.push(u64::from(ms));
        }
        Ok(waited)
    }
}
