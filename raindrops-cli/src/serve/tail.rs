//! Watcher tail streams: a line after each sample that qualifies, until
//! the client goes, stops reading, the stream reaches `--tail-lifetime`, or
//! the server shuts down. At most `--max-tail-streams` at once.

use std::sync::Arc;

use hyper::body::Bytes;
use raindrops_http::Tail;
use tokio::sync::{OwnedSemaphorePermit, mpsc};

use super::http::Ctx;

/// Lines a client may leave unread before its stream ends (the socket
/// buffers hold many more; past them the write timeout closes it).
const BACKLOG: usize = 8;

/// Starts the stream; `permit` is its place under `--max-tail-streams`,
/// given back when the stream ends.
pub(super) fn stream(
    ctx: &Arc<Ctx>,
    tail: Tail,
    permit: OwnedSemaphorePermit,
) -> mpsc::Receiver<Bytes> {
    let (tx, rx) = mpsc::channel(BACKLOG);
    let mut finished = ctx.hub.subscribe();
    let mut shutdown = ctx.shutdown.clone();
    let deadline = tokio::time::Instant::now() + ctx.registry.limits().tail_lifetime;
    let hub = Arc::clone(&ctx.hub);
    tokio::spawn(async move {
        let _permit = permit;
        let mut line = String::new();
        loop {
            tokio::select! {
                r = finished.changed() => if r.is_err() { break },
                () = tokio::time::sleep_until(deadline) => break,
                _ = shutdown.wait_for(|&s| s) => break,
                () = tx.closed() => break,
            }
            line.clear();
            let wrote = {
                let shared = hub.lock();
                tail.write_line(&shared.watcher, &mut line)
            };
            if matches!(wrote, Ok(true))
                && tx.try_send(Bytes::from(std::mem::take(&mut line))).is_err()
            {
                // Full: the client does not read. Closed: it went away.
                break;
            }
        }
    });
    rx
}
