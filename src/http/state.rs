//! `AppState`: what every handler can reach. Cheap to clone (Arcs inside).

use std::sync::Arc;

use metrics_exporter_prometheus::PrometheusHandle;

use crate::blob::BlobStore;
use crate::clock::Clock;
use crate::config::Settings;
use crate::secrets::Keyring;
use crate::store::Store;

/// Shared state of the HTTP server.
#[derive(Clone)]
pub struct AppState {
    /// Durable records.
    pub store: Arc<dyn Store>,
    /// Encrypted photos and generated images.
    pub blobs: Arc<dyn BlobStore>,
    /// Validated settings.
    pub settings: Arc<Settings>,
    /// Where "now" comes from.
    pub clock: Arc<dyn Clock>,
    /// Keys derived from the master secret.
    pub keys: Keyring,
    /// Renders `/metrics`.
    pub metrics: PrometheusHandle,
}
