//! The gRPC server (`falco.sensor.v1.SensorService`): Subscribe streams fed
//! by the bus, and unary calls answered by what the integrator provides
//! through `SensorInfo`.

mod auth;
mod service;
mod subscribe;

pub use auth::Auth;
pub use service::SensorApi;

use crate::bus::AlertBus;
use crate::config::GrpcConfig;
use falco_proto::v1::sensor_service_server::SensorServiceServer;
use falco_proto::v1::{
    GetStatsResponse, GetVersionResponse, PutRulesFileRequest, PutRulesFileResponse,
    ResponseRecord, RuleInfo, RunActionRequest,
};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Certificate, Identity, Server, ServerTlsConfig};

/// What the API needs from the rest of the sensor; the integrator implements it.
pub trait SensorInfo: Send + Sync + 'static {
    /// Adds what only the pipeline knows (rules loaded/enabled) to stats the
    /// API already filled from `SensorCounters`.
    fn fill_stats(&self, stats: &mut GetStatsResponse);
    fn rules(&self) -> Vec<RuleInfo>;
    /// Version and health; sensor_id, cluster, hostname, api_version and
    /// actions_enabled are filled by the API when left empty.
    fn version(&self) -> GetVersionResponse;
    /// Runs a response action. Only called when actions are allowed and the
    /// client is authenticated. The returned record is published on the bus.
    fn run_action(&self, req: RunActionRequest) -> Result<ResponseRecord, tonic::Status>;
    /// Installs a rules file and hot-reloads. Same permission as `run_action`.
    fn put_rules_file(&self, req: PutRulesFileRequest) -> PutRulesFileResponse;
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("grpc.listen {addr:?}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("{key} {path}: {source}")]
    ReadFile {
        key: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("grpc.token_file {path}: file is empty")]
    EmptyToken { path: PathBuf },
    #[error("grpc TLS setup: {0}")]
    Tls(tonic::transport::Error),
    #[error("grpc server on {addr}: {source}")]
    Serve {
        addr: String,
        source: tonic::transport::Error,
    },
}

fn read(key: &'static str, path: &Path) -> Result<Vec<u8>, ApiError> {
    std::fs::read(path).map_err(|source| ApiError::ReadFile {
        key,
        path: path.to_path_buf(),
        source,
    })
}

/// Binds `cfg.listen` (use port 0 in tests); returns the listener so the
/// caller learns the real address before serving.
pub async fn bind(cfg: &GrpcConfig) -> Result<tokio::net::TcpListener, ApiError> {
    tokio::net::TcpListener::bind(&cfg.listen)
        .await
        .map_err(|source| ApiError::Bind {
            addr: cfg.listen.clone(),
            source,
        })
}

/// A configured server: TLS material and token already loaded, so every
/// file or PEM error surfaces before anything is spawned.
pub struct ApiServer {
    server: Server,
    auth: Auth,
    cfg: GrpcConfig,
}

impl ApiServer {
    pub fn new(cfg: &GrpcConfig) -> Result<ApiServer, ApiError> {
        let auth = Auth::from_config(cfg)?;
        let keepalive = Duration::from_secs(cfg.keepalive_interval_secs.max(1));
        let mut server = Server::builder()
            .http2_keepalive_interval(Some(keepalive))
            .http2_keepalive_timeout(Some(Duration::from_secs(cfg.keepalive_timeout_secs.max(1))));
        if let (Some(cert), Some(key)) = (&cfg.tls.cert, &cfg.tls.key) {
            let identity =
                Identity::from_pem(read("grpc.tls.cert", cert)?, read("grpc.tls.key", key)?);
            let mut tls = ServerTlsConfig::new().identity(identity);
            if let Some(ca) = &cfg.tls.client_ca {
                tls = tls
                    .client_ca_root(Certificate::from_pem(read("grpc.tls.client_ca", ca)?))
                    .client_auth_optional(false);
            }
            server = server.tls_config(tls).map_err(ApiError::Tls)?;
        }
        Ok(ApiServer {
            server,
            auth,
            cfg: cfg.clone(),
        })
    }

    /// Serves on `listener` until `shutdown` resolves.
    pub async fn serve(
        mut self,
        listener: tokio::net::TcpListener,
        bus: AlertBus,
        info: Arc<dyn SensorInfo>,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), ApiError> {
        let addr = listener
            .local_addr()
            .map_or_else(|_| self.cfg.listen.clone(), |a| a.to_string());
        let api = SensorApi::new(bus, info, self.auth, &self.cfg);
        let incoming = TcpIncoming::from(listener)
            .with_nodelay(Some(true))
            .with_keepalive(Some(Duration::from_secs(
                self.cfg.keepalive_interval_secs.max(1),
            )));
        self.server
            .add_service(SensorServiceServer::new(api))
            .serve_with_incoming_shutdown(incoming, shutdown)
            .await
            .map_err(|source| ApiError::Serve { addr, source })
    }
}
