//! Runs the real `falco-sensor` binary for end-to-end tests and talks to it
//! over gRPC.

use falco_proto::v1::sensor_service_client::SensorServiceClient;
use falco_proto::v1::subscribe_response::Payload;
use falco_proto::v1::{Alert, GetVersionRequest, SubscribeRequest};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub type Client = SensorServiceClient<tonic::transport::Channel>;

/// A running sensor; killed (SIGTERM, then SIGKILL) when dropped.
pub struct Sensor {
    pub child: Child,
    pub grpc: String,
    pub log: PathBuf,
}

impl Drop for Sensor {
    fn drop(&mut self) {
        self.signal(libc::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Sensor {
    /// Starts `falco-sensor run` with `args` (rules, `-o` overrides) on free
    /// loopback ports, stdout output off, log in `dir/sensor.log`.
    pub fn start(dir: &Path, args: &[String]) -> Sensor {
        let grpc = format!("127.0.0.1:{}", free_port());
        let log = dir.join("sensor.log");
        let logf = std::fs::File::create(&log).expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_falco-sensor"))
            .arg("run")
            .args(args)
            .args(["-o", &format!("grpc.listen={grpc}")])
            .args(["-o", &format!("metrics.listen=127.0.0.1:{}", free_port())])
            .args([
                "-o",
                &format!("rules.writable_dir={}", dir.join("rules.d").display()),
            ])
            .args(["-o", "outputs.stdout.enabled=false"])
            .stdout(Stdio::null())
            .stderr(logf)
            .spawn()
            .expect("spawn falco-sensor");
        Sensor { child, grpc, log }
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on the pid of a child we own.
        unsafe { libc::kill(self.child.id() as i32, sig) };
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Connects once the sensor answers GetVersion with health "ok".
    pub async fn connect(&mut self) -> Client {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "falco-sensor exited during start-up ({status}):\n{}",
                    self.log_text()
                );
            }
            if let Ok(mut c) = SensorServiceClient::connect(format!("http://{}", self.grpc)).await
                && let Ok(v) = c.get_version(GetVersionRequest {}).await
            {
                assert_eq!(v.get_ref().health, "ok");
                return c;
            }
            assert!(
                Instant::now() < deadline,
                "sensor not ready after 90 s:\n{}",
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// Subscribes from the oldest held alert and collects until `done` holds or
/// `limit` passes.
pub async fn collect(
    client: &mut Client,
    limit: Duration,
    mut done: impl FnMut(&[Alert]) -> bool,
) -> Vec<Alert> {
    let mut stream = client
        .subscribe(SubscribeRequest {
            from_oldest: true,
            ..Default::default()
        })
        .await
        .expect("subscribe")
        .into_inner();
    let mut alerts = Vec::new();
    let deadline = tokio::time::Instant::now() + limit;
    while !done(&alerts) {
        match tokio::time::timeout_at(deadline, stream.message()).await {
            Ok(Ok(Some(msg))) => {
                if let Some(Payload::Alert(a)) = msg.payload {
                    alerts.push(a);
                }
            }
            Ok(other) => panic!("stream ended: {other:?}"),
            Err(_) => break,
        }
    }
    alerts
}

pub fn summary(alerts: &[Alert]) -> String {
    alerts
        .iter()
        .map(|a| format!("{} | {}", a.rule, a.output))
        .collect::<Vec<_>>()
        .join("\n")
}
