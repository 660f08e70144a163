//! Who may call what: an optional bearer token on every call, and mTLS or
//! the token as the proof of identity actions require.

use super::ApiError;
use crate::config::GrpcConfig;
use subtle::ConstantTimeEq;
use tonic::{Request, Status};

#[derive(Clone)]
pub struct Auth {
    token: Option<Vec<u8>>,
    mtls: bool,
    allow_actions: bool,
}

impl Auth {
    pub fn from_config(cfg: &GrpcConfig) -> Result<Auth, ApiError> {
        let token = match &cfg.token_file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ApiError::ReadFile {
                    key: "grpc.token_file",
                    path: path.clone(),
                    source,
                })?;
                let line = text.lines().next().unwrap_or("").trim().to_string();
                if line.is_empty() {
                    return Err(ApiError::EmptyToken { path: path.clone() });
                }
                Some(line.into_bytes())
            }
            None if !cfg.token.is_empty() => Some(cfg.token.clone().into_bytes()),
            None => None,
        };
        Ok(Auth {
            token,
            mtls: cfg.tls.client_ca.is_some(),
            allow_actions: cfg.allow_actions,
        })
    }

    pub fn actions_enabled(&self) -> bool {
        self.allow_actions && (self.mtls || self.token.is_some())
    }

    /// Every call: when a token is configured, it must be presented.
    pub fn check<T>(&self, req: &Request<T>) -> Result<(), Status> {
        let Some(expected) = &self.token else {
            return Ok(());
        };
        let presented = req
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::as_bytes)
            .unwrap_or_default();
        if presented.len() == expected.len() && bool::from(presented.ct_eq(expected)) {
            Ok(())
        } else {
            Err(Status::unauthenticated(
                "missing or wrong bearer token (metadata `authorization: Bearer <token>`)",
            ))
        }
    }

    /// RunAction / PutRulesFile: allowed by config, and the client proved who
    /// it is with a client certificate (mTLS) or the token.
    pub fn check_action<T>(&self, req: &Request<T>) -> Result<(), Status> {
        self.check(req)?;
        if !self.allow_actions {
            return Err(Status::permission_denied(
                "actions are disabled on this sensor (grpc.allow_actions: false)",
            ));
        }
        let has_cert = req.peer_certs().is_some_and(|c| !c.is_empty());
        if (self.mtls && has_cert) || self.token.is_some() {
            Ok(())
        } else {
            Err(Status::permission_denied(
                "actions need an authenticated client: configure grpc.tls.client_ca (mTLS) or grpc.token",
            ))
        }
    }
}
