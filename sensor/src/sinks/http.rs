//! The HTTP(S) client every forwarder uses: hyper 1 + rustls (ring), system
//! roots plus an optional CA file, certificate verification on unless the
//! config explicitly turns it off.

use super::SinkError;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Request, StatusCode, Uri};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Where and how one forwarder posts.
#[derive(Clone)]
pub struct HttpTarget {
    pub uri: Uri,
    pub headers: HeaderMap,
    pub timeout: Duration,
}

/// Outcome of one POST.
pub enum PostOutcome {
    Accepted,
    /// Worth retrying: connection error, timeout, 5xx, 429.
    Retry(String),
    /// The receiver refused the payload itself (4xx); retrying cannot help.
    Refused(String),
}

#[derive(Clone)]
pub struct HttpClient {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl HttpClient {
    /// `key` names the config section for errors (e.g. "outputs.loki").
    pub fn new(key: &str, tls_verify: bool, ca_file: Option<&Path>) -> Result<Self, SinkError> {
        let tls = tls_client_config(key, tls_verify, ca_file)?;
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .build();
        Ok(HttpClient {
            client: Client::builder(TokioExecutor::new()).build(connector),
        })
    }

    pub async fn post(&self, target: &HttpTarget, body: Bytes) -> PostOutcome {
        let mut req = Request::builder()
            .method(Method::POST)
            .uri(target.uri.clone());
        if let Some(h) = req.headers_mut() {
            h.extend(target.headers.clone());
        }
        let req = match req.body(Full::new(body)) {
            Ok(r) => r,
            Err(e) => return PostOutcome::Refused(format!("cannot build request: {e}")),
        };
        let call = async {
            let resp = self.client.request(req).await.map_err(|e| {
                // The error chain says why (connection refused, TLS failure...).
                let mut msg = e.to_string();
                let mut src = std::error::Error::source(&e);
                while let Some(s) = src {
                    msg.push_str(": ");
                    msg.push_str(&s.to_string());
                    src = s.source();
                }
                msg
            })?;
            let status = resp.status();
            let body = resp
                .into_body()
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            Ok::<_, String>((status, body))
        };
        match tokio::time::timeout(target.timeout, call).await {
            Err(_) => PostOutcome::Retry(format!("timed out after {:?}", target.timeout)),
            Ok(Err(e)) => PostOutcome::Retry(e),
            Ok(Ok((status, _))) if status.is_success() => PostOutcome::Accepted,
            Ok(Ok((status, body))) => {
                let text = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
                let msg = format!("HTTP {status}: {text}");
                if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
                    PostOutcome::Retry(msg)
                } else {
                    PostOutcome::Refused(msg)
                }
            }
        }
    }
}

/// The TLS client settings of every forwarder (HTTP and syslog): system
/// roots plus an optional CA file, or, only with `tls_verify: false`, any
/// certificate (still encrypted, not authenticated).
pub fn tls_client_config(
    key: &str,
    tls_verify: bool,
    ca_file: Option<&Path>,
) -> Result<rustls::ClientConfig, SinkError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| SinkError::Tls {
            key: key.to_string(),
            message: e.to_string(),
        })?;
    Ok(if tls_verify {
        let mut roots = RootCertStore::empty();
        // Unreadable system certs are not fatal: an explicit ca_file may be all that is needed.
        let native = rustls_native_certs::load_native_certs();
        roots.add_parsable_certificates(native.certs);
        if let Some(path) = ca_file {
            let certs = CertificateDer::pem_file_iter(path)
                .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                .map_err(|e| SinkError::Tls {
                    key: format!("{key}.forward.ca_file"),
                    message: format!("{}: {e}", path.display()),
                })?;
            for c in certs {
                roots.add(c).map_err(|e| SinkError::Tls {
                    key: format!("{key}.forward.ca_file"),
                    message: format!("{}: {e}", path.display()),
                })?;
            }
        }
        builder.with_root_certificates(roots).with_no_client_auth()
    } else {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoCertificateCheck(provider)))
            .with_no_client_auth()
    })
}

/// Builds a header map from config pairs, naming the bad one.
pub fn header_map(
    key: &str,
    pairs: impl IntoIterator<Item = (String, String)>,
) -> Result<HeaderMap, SinkError> {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        let n = HeaderName::from_bytes(name.as_bytes()).map_err(|e| SinkError::Config {
            key: format!("{key}.headers.{name}"),
            message: e.to_string(),
        })?;
        let v = HeaderValue::from_str(&value).map_err(|e| SinkError::Config {
            key: format!("{key}.headers.{name}"),
            message: e.to_string(),
        })?;
        map.insert(n, v);
    }
    Ok(map)
}

pub fn parse_uri(key: &str, url: &str) -> Result<Uri, SinkError> {
    url.parse::<Uri>().map_err(|e| SinkError::Config {
        key: key.to_string(),
        message: format!("{url:?}: {e}"),
    })
}

/// Only for `tls_verify: false`: accepts any certificate but still checks
/// the handshake signatures, so the connection is encrypted, not authenticated.
#[derive(Debug)]
struct NoCertificateCheck(Arc<CryptoProvider>);

impl ServerCertVerifier for NoCertificateCheck {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
