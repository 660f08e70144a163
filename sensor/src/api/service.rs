//! The SensorService implementation.

use super::subscribe::spawn_stream;
use super::{Auth, SensorInfo};
use crate::bus::{AlertBus, AlertFilter, SubscribeOptions};
use crate::config::GrpcConfig;
use falco_proto::v1::sensor_service_server::SensorService;
use falco_proto::v1::*;
use std::sync::Arc;
use std::time::Duration;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

pub struct SensorApi {
    bus: AlertBus,
    info: Arc<dyn SensorInfo>,
    auth: Auth,
    subscriber_queue: usize,
    heartbeat: Duration,
}

impl SensorApi {
    pub fn new(bus: AlertBus, info: Arc<dyn SensorInfo>, auth: Auth, cfg: &GrpcConfig) -> Self {
        SensorApi {
            bus,
            info,
            auth,
            subscriber_queue: cfg.subscriber_queue,
            heartbeat: Duration::from_secs(cfg.heartbeat_interval_secs.max(1)),
        }
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(Arc<dyn SensorInfo>) -> T + Send + 'static,
    ) -> Result<T, Status> {
        let info = self.info.clone();
        tokio::task::spawn_blocking(move || f(info))
            .await
            .map_err(|e| Status::internal(format!("sensor task failed: {e}")))
    }
}

#[tonic::async_trait]
impl SensorService for SensorApi {
    type SubscribeStream = ReceiverStream<Result<SubscribeResponse, Status>>;

    async fn subscribe(
        &self,
        request: Request<SubscribeRequest>,
    ) -> Result<Response<Self::SubscribeStream>, Status> {
        self.auth.check(&request)?;
        let req = request.into_inner();
        let sub = self.bus.subscribe(SubscribeOptions {
            filter: AlertFilter::from_request(&req),
            since_seq: req.since_seq,
            from_oldest: req.from_oldest,
            queue_capacity: self.subscriber_queue,
        });
        Ok(Response::new(spawn_stream(
            sub,
            self.bus.clone(),
            self.heartbeat,
            req.since_seq,
        )))
    }

    async fn get_stats(
        &self,
        request: Request<GetStatsRequest>,
    ) -> Result<Response<GetStatsResponse>, Status> {
        self.auth.check(&request)?;
        let mut stats = GetStatsResponse::default();
        self.bus.counters().fill_stats(&mut stats);
        stats.last_seq = self.bus.last_seq();
        let stats = self
            .blocking(move |info| {
                info.fill_stats(&mut stats);
                stats
            })
            .await?;
        Ok(Response::new(stats))
    }

    async fn list_rules(
        &self,
        request: Request<ListRulesRequest>,
    ) -> Result<Response<ListRulesResponse>, Status> {
        self.auth.check(&request)?;
        let rules = self.blocking(|info| info.rules()).await?;
        Ok(Response::new(ListRulesResponse { rules }))
    }

    async fn get_version(
        &self,
        request: Request<GetVersionRequest>,
    ) -> Result<Response<GetVersionResponse>, Status> {
        self.auth.check(&request)?;
        let mut v = self.blocking(|info| info.version()).await?;
        let id = self.bus.identity();
        if v.api_version.is_empty() {
            v.api_version = "v1".to_string();
        }
        if v.version.is_empty() {
            v.version = env!("CARGO_PKG_VERSION").to_string();
        }
        if v.hostname.is_empty() {
            v.hostname.clone_from(&id.hostname);
        }
        if v.sensor_id.is_empty() {
            v.sensor_id.clone_from(&id.sensor_id);
        }
        if v.cluster.is_empty() {
            v.cluster.clone_from(&id.cluster);
        }
        v.actions_enabled = self.auth.actions_enabled();
        Ok(Response::new(v))
    }

    async fn run_action(
        &self,
        request: Request<RunActionRequest>,
    ) -> Result<Response<RunActionResponse>, Status> {
        self.auth.check_action(&request)?;
        let req = request.into_inner();
        let about = req.alert_seq;
        let mut record = self.blocking(move |info| info.run_action(req)).await??;
        record.alert_seq = about;
        self.bus.publish_response(about, vec![record.clone()]);
        Ok(Response::new(RunActionResponse {
            record: Some(record),
        }))
    }

    async fn put_rules_file(
        &self,
        request: Request<PutRulesFileRequest>,
    ) -> Result<Response<PutRulesFileResponse>, Status> {
        self.auth.check_action(&request)?;
        let req = request.into_inner();
        let resp = self.blocking(move |info| info.put_rules_file(req)).await?;
        Ok(Response::new(resp))
    }
}
