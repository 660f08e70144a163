//! `--kube`: find the sensor pods and port-forward a local port to each through
//! the Kubernetes API (no kubectl), then treat each as a gRPC sensor.

use crate::kube::{Kube, SensorPod};
use crate::source::SensorTarget;
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

/// The gRPC target for a forwarded sensor pod, named after its node.
pub fn target_for(pod: &SensorPod, local: SocketAddr, token: Option<String>) -> SensorTarget {
    SensorTarget {
        name: format!("{}/{} ({})", pod.namespace, pod.name, pod.node),
        address: local.to_string(),
        tls: None,
        token,
    }
}
