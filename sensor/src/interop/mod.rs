//! Falco interop: an HTTP receiver for what Falco's `http_output` posts (one
//! json_output object per request). Each alert is published on the bus with
//! source "falco", its typed contexts filled from the output fields, so the
//! console and every forwarder handle Falco's alerts like the sensor's own.

mod convert;

pub use convert::{FalcoJsonError, alert_from_falco_json};

use crate::bus::AlertBus;
use crate::config::FalcoHttpConfig;
use crate::http_server::{HttpResponse, respond, serve as serve_http};
use http_body_util::{BodyExt, Limited};
use hyper::{Method, StatusCode};
use tokio::net::TcpListener;
use tokio::sync::watch;

pub async fn serve(
    listener: TcpListener,
    cfg: &FalcoHttpConfig,
    bus: AlertBus,
    shutdown: watch::Receiver<bool>,
) {
    let limit = cfg.max_body_bytes;
    let handler = move |req: hyper::Request<hyper::body::Incoming>| {
        let bus = bus.clone();
        async move { handle(req, bus, limit).await }
    };
    serve_http(listener, handler, shutdown).await;
}

async fn handle(
    req: hyper::Request<hyper::body::Incoming>,
    bus: AlertBus,
    limit: usize,
) -> HttpResponse {
    if req.method() != Method::POST {
        return respond(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            "POST Falco json_output alerts here\n",
        );
    }
    let body = match Limited::new(req.into_body(), limit).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            return respond(
                StatusCode::PAYLOAD_TOO_LARGE,
                "text/plain",
                format!("cannot read body (limit {limit} bytes): {e}\n"),
            );
        }
    };
    match alert_from_falco_json(&body) {
        Ok(alert) => {
            let seq = bus.publish(alert);
            respond(
                StatusCode::OK,
                "application/json",
                format!("{{\"seq\":{seq}}}\n"),
            )
        }
        Err(e) => respond(StatusCode::BAD_REQUEST, "text/plain", format!("{e}\n")),
    }
}
