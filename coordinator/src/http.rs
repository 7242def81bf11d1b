//! The coordinator's HTTP endpoint: `/healthz` and `/metrics` (Prometheus
//! text format).

use std::fmt::Write;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

use crate::coordinator::Coordinator;

/// The router serving the endpoints.
pub fn router(coordinator: Arc<Coordinator>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(metrics))
        .with_state(coordinator)
}

async fn metrics(State(coordinator): State<Arc<Coordinator>>) -> impl IntoResponse {
    let stats = coordinator.stats();
    let mut text = String::new();
    let _ = writeln!(
        text,
        "# HELP rtdw_taskmanagers_registered Task managers alive."
    );
    let _ = writeln!(text, "# TYPE rtdw_taskmanagers_registered gauge");
    let _ = writeln!(text, "rtdw_taskmanagers_registered {}", stats.taskmanagers);
    let _ = writeln!(
        text,
        "# HELP rtdw_slots_total Task slots of live task managers."
    );
    let _ = writeln!(text, "# TYPE rtdw_slots_total gauge");
    let _ = writeln!(text, "rtdw_slots_total {}", stats.slots_total);
    let _ = writeln!(
        text,
        "# HELP rtdw_slots_free Free task slots of live task managers."
    );
    let _ = writeln!(text, "# TYPE rtdw_slots_free gauge");
    let _ = writeln!(text, "rtdw_slots_free {}", stats.slots_free);
    let _ = writeln!(text, "# HELP rtdw_jobs Jobs by state.");
    let _ = writeln!(text, "# TYPE rtdw_jobs gauge");
    for (state, count) in &stats.jobs_by_state {
        let _ = writeln!(text, "rtdw_jobs{{state=\"{state}\"}} {count}");
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text)
}
