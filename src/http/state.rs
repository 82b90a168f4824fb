//! `AppState`: what every handler can reach — the flow's `Services` plus the metrics
//! handle. Cheap to clone (Arcs inside).

use std::ops::Deref;

use metrics_exporter_prometheus::PrometheusHandle;

use crate::flow::Services;

/// Shared state of the HTTP server.
#[derive(Clone)]
pub struct AppState {
    /// The ports the use cases call.
    pub services: Services,
    /// Renders `/metrics`.
    pub metrics: PrometheusHandle,
}

impl Deref for AppState {
    type Target = Services;

    fn deref(&self) -> &Services {
        &self.services
    }
}
