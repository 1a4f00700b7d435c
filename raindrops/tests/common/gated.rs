//! Handlers of the axum tests whose answers wait on a gate: a request
//! held inside the application, a response that streams its first chunk
//! and the rest when the gate opens.

use tokio::sync::watch;

/// Answers `answer` once `gate` is open: a request held inside the
/// application until then.
pub async fn held_until(mut gate: watch::Receiver<bool>, answer: &'static str) -> &'static str {
    let _ = gate.wait_for(|o| *o).await;
    answer
}

/// A body that sends `first` at once and `last` once `gate` is open: a
/// response that is writing until then.
pub fn stream_until(
    mut gate: watch::Receiver<bool>,
    first: &'static [u8],
    last: &'static [u8],
) -> axum::body::Body {
    let (tx, rx) = tokio::sync::mpsc::channel::<bytes::Bytes>(2);
    tokio::spawn(async move {
        let _ = tx.send(bytes::Bytes::from_static(first)).await;
        let _ = gate.wait_for(|o| *o).await;
        let _ = tx.send(bytes::Bytes::from_static(last)).await;
    });
    axum::body::Body::new(ChanBody(rx))
}

/// A body fed by a channel: one frame per message, the end when the
/// sender goes.
struct ChanBody(tokio::sync::mpsc::Receiver<bytes::Bytes>);

impl http_body::Body for ChanBody {
    type Data = bytes::Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<bytes::Bytes>, Self::Error>>> {
        self.0
            .poll_recv(cx)
            .map(|o| o.map(|b| Ok(http_body::Frame::data(b))))
    }
}
