//! [`LastDataRecvListener`]: the accept hook of Ruby's
//! `Raindrops::Aggregate::LastDataRecv`, for std's and tokio's
//! `TcpListener`.

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsFd;

use raindrops_tcpinfo::{LastDataRecv, tcp_info};

use crate::AggregateHandle;

/// A TCP listener that records, for every connection it accepts, how long
/// the client waited in the accept queue (`last_data_recv` of `TCP_INFO`,
/// in milliseconds) into a shared aggregate: what Ruby does when a
/// `TCPServer` is extended with `Raindrops::Aggregate::LastDataRecv`.
///
/// `L` is std's [`TcpListener`] (blocking [`accept`](Self::accept)) or,
/// with the `tokio` feature, tokio's (`async` accept; with `axum`, an
/// `axum::serve::Listener`, so `axum::serve` records every connection).
/// Each accept costs one `getsockopt(TCP_INFO)` on the accepted socket.
///
/// The measure is the time in the queue only when the listener has
/// `TCP_DEFER_ACCEPT` ([`defer_accept`](Self::defer_accept), 60 seconds
/// like Ruby): the connection is then queued when its first data arrives.
/// Without it, it is the time since the client's first data, if any.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::io::Write;
/// use raindrops::{AtomicAggregate, LastDataRecvListener};
/// static WAITED_MS: AtomicAggregate = AtomicAggregate::new();
///
/// let l = std::net::TcpListener::bind("127.0.0.1:0")?;
/// let l = LastDataRecvListener::new(l, &WAITED_MS).defer_accept()?;
/// let mut client = std::net::TcpStream::connect(l.local_addr()?)?;
/// client.write_all(b"GET / HTTP/1.0\r\n\r\n")?;
/// let (_conn, _peer) = l.accept()?;
/// assert_eq!(WAITED_MS.count(), 1);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct LastDataRecvListener<L, A> {
    listener: L,
    aggregate: A,
}

impl<L: AsFd, A: AggregateHandle> LastDataRecvListener<L, A> {
    /// Records the connections `listener` accepts into `aggregate`.
    pub const fn new(listener: L, aggregate: A) -> Self {
        LastDataRecvListener {
            listener,
            aggregate,
        }
    }

    /// Sets `TCP_DEFER_ACCEPT` on the listener to
    /// [`LastDataRecv::DEFER_ACCEPT_SECS`] (60 s, as Ruby does), which the
    /// measure needs to be the time spent in the queue.
    ///
    /// # Errors
    ///
    /// raindrops-tcpinfo's errors (`NotTcp` if the listener is not TCP).
    pub fn defer_accept(self) -> Result<Self, raindrops_tcpinfo::Error> {
        LastDataRecv::prepare_listener(&self.listener)?;
        Ok(self)
    }

    /// Records the socket just accepted (one `getsockopt`); a socket the
    /// kernel gives no `last_data_recv` for pushes nothing.
    fn record(&self, accepted: impl AsFd) {
        // An accepted TCP socket always answers TCP_INFO; should it not,
        // the connection is still served, just not measured.
        if let Ok(Some(ms)) = tcp_info(accepted).map(|i| i.last_data_recv()) {
            self.aggregate.aggregate().push(u64::from(ms));
        }
    }

    /// The listener.
    pub const fn get_ref(&self) -> &L {
        &self.listener
    }

    /// The aggregate.
    pub const fn aggregate(&self) -> &A {
        &self.aggregate
    }

    /// The listener and the aggregate.
    pub fn into_parts(self) -> (L, A) {
        (self.listener, self.aggregate)
    }
}

impl<A: AggregateHandle> LastDataRecvListener<TcpListener, A> {
    /// Accepts a connection ([`TcpListener::accept`]) and records how long
    /// it waited.
    ///
    /// # Errors
    ///
    /// Those of [`TcpListener::accept`]; nothing is recorded then.
    pub fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let (s, peer) = self.listener.accept()?;
        self.record(&s);
        Ok((s, peer))
    }

    /// The listener's address.
    ///
    /// # Errors
    ///
    /// Those of [`TcpListener::local_addr`].
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }
}

#[cfg(feature = "tokio")]
impl<A: AggregateHandle> LastDataRecvListener<tokio::net::TcpListener, A> {
    /// Accepts a connection ([`tokio::net::TcpListener::accept`]) and
    /// records how long it waited.
    ///
    /// # Errors
    ///
    /// Those of tokio's accept; nothing is recorded then.
    pub async fn accept(&self) -> io::Result<(tokio::net::TcpStream, SocketAddr)> {
        let (s, peer) = self.listener.accept().await?;
        self.record(&s);
        Ok((s, peer))
    }

    /// The listener's address.
    ///
    /// # Errors
    ///
    /// Those of tokio's `local_addr`.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }
}

/// `axum::serve(listener, app)` records every connection it accepts.
/// Accept errors are retried as axum's own listener does: at once for a
/// connection that failed, after a second for a lack of resources
/// (`EMFILE`...), so that the loop never spins.
#[cfg(feature = "axum")]
impl<A: AggregateHandle> axum::serve::Listener
    for LastDataRecvListener<tokio::net::TcpListener, A>
{
    type Io = tokio::net::TcpStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match LastDataRecvListener::<tokio::net::TcpListener, A>::accept(self).await {
                Ok(conn) => return conn,
                Err(e) if is_connection_error(&e) => {}
                Err(_) => tokio::time::sleep(std::time::Duration::from_secs(1)).await,
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }
}

/// Errors of one connection (the next accept may succeed at once).
#[cfg(feature = "axum")]
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}
