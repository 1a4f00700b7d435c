//! Ruby's `use Raindrops::Middleware` for tower, hyper and axum, in one
//! call.

use std::sync::{Arc, Mutex};

use raindrops_http::tower::{Gauges, RaindropsLayer};
use raindrops_http::{MiddlewareStats, StatsSource};

/// Ruby's `Raindrops::Middleware` as a tower layer (for axum's
/// `Router::layer`, or any tower/hyper service): `calling` and `writing`
/// counted in fresh gauges of this process, `/_raindrops` (Ruby's text,
/// or Prometheus, OpenMetrics, JSON by `Accept`) and `/metrics` answered
/// from `source` with those gauges.
///
/// ```
/// # fn main() -> Result<(), raindrops::Error> {
/// use axum::{Router, routing::get};
/// let app: Router = Router::new()
///     .route("/", get(|| async { "hello" }))
///     .layer(raindrops::layer(raindrops::KernelSource::own()?));
/// # Ok(()) }
/// ```
pub fn layer<S: StatsSource + Send + 'static>(source: S) -> RaindropsLayer<S> {
    layer_with(Arc::new(MiddlewareStats::new()), source)
}

/// [`layer`] counting into `gauges`: a [`MiddlewareStats`] shared with
/// other code, or one in shared memory that every forked worker updates
/// (`MiddlewareStats::from_storage(raindrops_shm::SharedCounters::anonymous()?)`).
pub fn layer_with<G: Gauges, S: StatsSource + Send + 'static>(
    gauges: Arc<G>,
    source: S,
) -> RaindropsLayer<S> {
    RaindropsLayer::new(gauges, Arc::new(Mutex::new(source)))
}
