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
/// other code, one in shared memory that every forked worker updates
/// (`MiddlewareStats::from_storage(raindrops_shm::SharedCounters::anonymous()?)`),
/// or a worker's shards of sharded gauges
/// ([`ShardedGauges`](raindrops_http::tower::ShardedGauges): each worker
/// counts in its own shard, every worker's page shows the sums).
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::sync::Arc;
/// use raindrops::http::tower::ShardedGauges;
/// use raindrops::{Counters, Sharded};
/// // calling and writing of 4 workers (in shared memory in a preforking
/// // server: raindrops_shm::SharedCounters).
/// static SLOTS: Counters<8> = Counters::new();
/// let (calling, writing) = SLOTS.as_slots().split_at(4);
/// let worker = 2;
/// let gauges = ShardedGauges::new(Sharded::new(calling), Sharded::new(writing), worker)?;
/// let app: axum::Router = axum::Router::new()
///     .route("/", axum::routing::get(|| async { "hello" }))
///     .layer(raindrops::layer_with(Arc::new(gauges), raindrops::KernelSource::own()?));
/// # Ok(()) }
/// ```
pub fn layer_with<G: Gauges, S: StatsSource + Send + 'static>(
    gauges: Arc<G>,
    source: S,
) -> RaindropsLayer<S> {
    RaindropsLayer::new(gauges, Arc::new(Mutex::new(source)))
}
