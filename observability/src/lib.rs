//! What every rtdw process exposes over HTTP for Prometheus and Kubernetes:
//! `/metrics` (OpenMetrics text of a [`Registry`]), `/healthz` (the process
//! is up) and `/readyz` (it can do its work: a task manager is registered, a
//! coordinator serves).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::encoding::text::encode;
use prometheus_client::registry::Registry;

pub mod process;
pub mod traces;

/// Content type of the OpenMetrics text format.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Refreshes gauges computed from state just before a scrape.
pub type ScrapeHook = Box<dyn Fn() + Send + Sync>;

/// A process's metrics registry and readiness.
pub struct Observability {
    registry: Mutex<Registry>,
    ready: AtomicBool,
    before_scrape: Mutex<Vec<ScrapeHook>>,
}

impl Observability {
    /// A registry whose metric names all start with `rtdw_`, holding the
    /// process metrics ([`process`]); not ready.
    pub fn new() -> Arc<Self> {
        let observability = Arc::new(Observability {
            registry: Mutex::new(Registry::with_prefix("rtdw")),
            ready: AtomicBool::new(false),
            before_scrape: Mutex::new(Vec::new()),
        });
        process::register(&observability);
        observability
    }

    /// Registers metrics: `f` gets the registry.
    pub fn register(&self, f: impl FnOnce(&mut Registry)) {
        f(&mut self.registry.lock().unwrap_or_else(|p| p.into_inner()));
    }

    /// Runs `hook` before every scrape.
    pub fn before_scrape(&self, hook: ScrapeHook) {
        self.before_scrape
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(hook);
    }

    /// Marks the process ready (or not) for `/readyz`.
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Relaxed);
    }

    /// The metrics in OpenMetrics text.
    pub fn encode(&self) -> String {
        for hook in self
            .before_scrape
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            hook();
        }
        let mut text = String::new();
        let registry = self.registry.lock().unwrap_or_else(|p| p.into_inner());
        if let Err(error) = encode(&mut text, &registry) {
            tracing::error!(%error, "cannot encode metrics");
        }
        text
    }

    /// Serves `/metrics`, `/healthz` and `/readyz` on `addr` (port 0 for a
    /// free one); returns the bound address.
    pub async fn serve(self: &Arc<Self>, addr: SocketAddr) -> std::io::Result<SocketAddr> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let bound = listener.local_addr()?;
        let router = Router::new()
            .route("/metrics", get(metrics))
            .route("/healthz", get(|| async { "ok\n" }))
            .route("/readyz", get(readiness))
            .with_state(self.clone());
        tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, router).await {
                tracing::error!(%error, "HTTP endpoint stopped");
            }
        });
        Ok(bound)
    }
}

async fn metrics(State(observability): State<Arc<Observability>>) -> Response {
    (
        [(header::CONTENT_TYPE, OPENMETRICS)],
        observability.encode(),
    )
        .into_response()
}

async fn readiness(State(observability): State<Arc<Observability>>) -> Response {
    if observability.ready.load(Ordering::Relaxed) {
        "ready\n".into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n").into_response()
    }
}

#[cfg(test)]
mod tests {
    use prometheus_client::metrics::counter::Counter;

    use super::*;

    #[test]
    fn names_are_prefixed_and_hooks_run_before_encoding() {
        let observability = Observability::new();
        let counter = Counter::<u64>::default();
        observability.register(|r| r.register("records_in", "Rows in.", counter.clone()));
        let hooked = counter.clone();
        observability.before_scrape(Box::new(move || {
            hooked.inc_by(2);
        }));
        let text = observability.encode();
        assert!(text.contains("rtdw_records_in_total 2"), "{text}");
        assert!(text.ends_with("# EOF\n"), "{text}");
    }
}
