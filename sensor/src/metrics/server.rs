//! `/metrics` (Prometheus text) and `/healthz`.

use super::{SensorCounters, render_prometheus};
use crate::http_server::{HttpResponse, respond, serve as serve_http};
use hyper::{Method, StatusCode};
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Health text: "ok" or what is wrong (from the integrator's version/health).
pub type HealthFn = Arc<dyn Fn() -> String + Send + Sync>;

pub async fn serve(
    listener: TcpListener,
    counters: Arc<SensorCounters>,
    health: HealthFn,
    shutdown: watch::Receiver<bool>,
) {
    let handler = move |req: hyper::Request<hyper::body::Incoming>| {
        let counters = counters.clone();
        let health = health.clone();
        async move { route(&req, &counters, &health) }
    };
    serve_http(listener, handler, shutdown).await;
}

fn route<B>(req: &hyper::Request<B>, counters: &SensorCounters, health: &HealthFn) -> HttpResponse {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return respond(StatusCode::METHOD_NOT_ALLOWED, "text/plain", "GET only\n");
    }
    match req.uri().path() {
        "/metrics" => respond(
            StatusCode::OK,
            "text/plain; version=0.0.4",
            render_prometheus(counters),
        ),
        "/healthz" => {
            let h = health();
            let status = if h == "ok" {
                StatusCode::OK
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            };
            respond(status, "text/plain", format!("{h}\n"))
        }
        _ => respond(
            StatusCode::NOT_FOUND,
            "text/plain",
            "try /metrics or /healthz\n",
        ),
    }
}
