//! `--kube`: find the sensor pods and port-forward a local port to each through
//! the Kubernetes API (no kubectl), then treat each as a gRPC sensor.

use crate::kube::{Kube, SensorPod};
use crate::source::{SensorTarget, TlsOptions};
use std::net::SocketAddr;
use tokio::net::TcpListener;

/// Binds 127.0.0.1:0 and forwards every accepted connection to `pod:port`.
/// Each connection gets its own port-forward stream, so a dropped forward only
/// breaks that connection and the gRPC source's reconnect opens a fresh one.
pub async fn forward(kube: Kube, pod: SensorPod, port: u16) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((mut local, _)) = listener.accept().await {
            let kube = kube.clone();
            let pod = pod.clone();
            tokio::spawn(async move {
                let api: kube::Api<k8s_openapi::api::core::v1::Pod> =
                    kube::Api::namespaced(kube.client.clone(), &pod.namespace);
                let Ok(mut pf) = api.portforward(&pod.name, &[port]).await else {
                    return;
                };
                let Some(mut remote) = pf.take_stream(port) else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut local, &mut remote).await;
                drop(remote);
                let _ = pf.join().await;
            });
        }
    });
    Ok(addr)
}

/// How to talk to discovered sensors: the same `--tls-*` and `--token`
/// settings as `--sensor` targets.
#[derive(Debug, Clone, Default)]
pub struct ConnSecurity {
    pub tls: Option<TlsOptions>,
    pub token: Option<String>,
}

/// The gRPC target for a forwarded sensor pod, named after its node.
pub fn target_for(pod: &SensorPod, local: SocketAddr, security: &ConnSecurity) -> SensorTarget {
    SensorTarget {
        name: format!("{}/{} ({})", pod.namespace, pod.name, pod.node),
        address: local.to_string(),
        tls: security.tls.clone(),
        token: security.token.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discovered_targets_keep_tls_and_token() {
        let pod = SensorPod {
            namespace: "falco".into(),
            name: "falco-sensor-a".into(),
            node: "node-1".into(),
            ready: true,
        };
        let security = ConnSecurity {
            tls: Some(TlsOptions {
                ca: Some("/ca.pem".into()),
                server_name: Some("falco-sensor".into()),
                ..Default::default()
            }),
            token: Some("t".into()),
        };
        let t = target_for(&pod, "127.0.0.1:4000".parse().unwrap(), &security);
        assert_eq!(t.tls, security.tls, "--tls-* apply to discovered sensors");
        assert_eq!(t.token.as_deref(), Some("t"));
        assert_eq!(t.name, "falco/falco-sensor-a (node-1)");
    }
}
