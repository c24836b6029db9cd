//! Every way the public listener refuses a request, in one table: each
//! [`Denial`] knows its status, the `token_verifications_total` result it
//! counts as (if any), and its answer.
//!
//! | denial | status | answer | counted as |
//! |---|---|---|---|
//! | `OriginNotAllowed` | 403 | JSON-RPC error | — |
//! | `InvalidRequest` | 400 | challenge `invalid_request` | `malformed` |
//! | `NoToken` | 401 | challenge without error code (RFC 6750 §3.1) | `missing` |
//! | `InvalidToken` | 401 | challenge `invalid_token` | the rejection |
//! | `InsufficientScope` | 403 | challenge `insufficient_scope`, the scopes needed | `insufficient_scope` |
//! | `Unavailable` | 503 + `Retry-After` | `temporarily_unavailable` | — |
//! | `TooLarge`, `Upstream(TooLarge)` | 413 | JSON-RPC error | — |
//! | `UnreadableBody` | 400 | JSON-RPC error | — |
//! | `NotJsonRpc` | 400 | JSON-RPC parse error (-32700), or invalid request (-32600) for a key another parser reads differently | — |
//! | `Upstream(Unreachable)` | 502 | JSON-RPC error | — |
//! | `Upstream(Timeout)` | 504 | JSON-RPC error | — |
//!
//! Challenges are cached-never (`Cache-Control: no-store`); JSON-RPC-shaped
//! bodies are for failures an MCP client's JSON-RPC stack must parse.

use std::sync::Arc;

use http::{HeaderValue, StatusCode, header};
use warp::reply::Response;

use crate::issuer::cache::Unavailable;
use crate::metrics::Verification;
use crate::oauth::challenge::ErrorCode;
use crate::oauth::jsonrpc::BodyError;
use crate::oauth::token::{Invalid, Rejection};
use crate::proxy::Failure;
use crate::server::reply::{RPC_SERVER_ERROR, error_json, rpc_error, set_retry_after};
use crate::state::{ChallengeReply, Endpoint, NO_TOKEN, Rendered};

/// Why a request to a resource was not forwarded, or got no upstream answer.
#[derive(Debug)]
pub enum Denial {
    /// `Origin` is neither the public URL's nor in `allowed_origins`
    /// (Streamable HTTP: servers MUST validate Origin against DNS rebinding).
    OriginNotAllowed,
    /// Two `Authorization` headers, a token in the query string, or a
    /// malformed `Bearer` value; `advertised`: the current scopes.
    InvalidRequest {
        why: &'static str,
        advertised: Vec<String>,
    },
    /// No bearer token; the memoized answer of the current metadata, if any.
    NoToken(Option<Arc<Rendered>>),
    /// The token failed verification.
    InvalidToken {
        invalid: Invalid,
        advertised: Vec<String>,
    },
    /// The token lacks scopes this request needs: exactly these.
    InsufficientScope(Vec<String>),
    /// No metadata or keys could be had at all.
    Unavailable(Unavailable),
    /// `Content-Length` or the body itself passed `max_body_bytes`.
    TooLarge,
    /// The body could not be read from the client.
    UnreadableBody,
    /// Per-tool scopes apply and the body is not a JSON-RPC message, or has
    /// a key another parser would read differently.
    NotJsonRpc(BodyError),
    /// The upstream gave no answer.
    Upstream(Failure),
}

impl Denial {
    pub fn status(&self) -> StatusCode {
        match self {
            Denial::OriginNotAllowed | Denial::InsufficientScope(_) => StatusCode::FORBIDDEN,
            Denial::InvalidRequest { .. } | Denial::UnreadableBody | Denial::NotJsonRpc(_) => {
                StatusCode::BAD_REQUEST
            }
            Denial::NoToken(_) | Denial::InvalidToken { .. } => StatusCode::UNAUTHORIZED,
            Denial::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Denial::TooLarge | Denial::Upstream(Failure::TooLarge) => StatusCode::PAYLOAD_TOO_LARGE,
            Denial::Upstream(Failure::Unreachable) => StatusCode::BAD_GATEWAY,
            Denial::Upstream(Failure::Timeout) => StatusCode::GATEWAY_TIMEOUT,
        }
    }

    /// The `token_verifications_total` result this denial counts as.
    pub fn verification(&self) -> Option<Verification> {
        match self {
            Denial::NoToken(_) => Some(Verification::Missing),
            Denial::InvalidRequest { .. } => Some(Verification::Rejected(Rejection::Malformed)),
            Denial::InvalidToken { invalid, .. } => Some(Verification::Rejected(invalid.kind)),
            Denial::InsufficientScope(_) => Some(Verification::InsufficientScope),
            _ => None,
        }
    }

    /// Counts this denial for `resource` and builds its answer.
    pub fn into_response(self, resource: &Endpoint) -> Response {
        if let Some(v) = self.verification() {
            resource.runtime.metrics.verification(v);
        }
        let status = self.status();
        match self {
            Denial::OriginNotAllowed => rpc_error(status, RPC_SERVER_ERROR, "origin not allowed"),
            Denial::InvalidRequest { why, advertised } => {
                challenge(&resource.challenge(Some(ErrorCode::InvalidRequest), why, advertised))
            }
            Denial::NoToken(Some(rendered)) => challenge(&rendered.no_token),
            Denial::NoToken(None) => challenge(&resource.challenge(None, NO_TOKEN, Vec::new())),
            Denial::InvalidToken {
                invalid,
                advertised,
            } => {
                tracing::debug!(resource = %resource.config.name, result = invalid.kind.as_str(), "token rejected");
                challenge(&resource.challenge(
                    Some(ErrorCode::InvalidToken),
                    invalid.reason,
                    advertised,
                ))
            }
            Denial::InsufficientScope(mut needed) => {
                let mut seen = std::collections::HashSet::new();
                needed.retain(|s| seen.insert(s.clone()));
                challenge(&resource.challenge(
                    Some(ErrorCode::InsufficientScope),
                    "the token lacks scopes this request needs",
                    needed,
                ))
            }
            Denial::Unavailable(u) => {
                let description = match &u.error {
                    Some(e) => format!("authorization server metadata unavailable: {e}"),
                    None => "authorization server metadata not loaded yet".to_owned(),
                };
                let mut r = error_json(status, "temporarily_unavailable", &description);
                set_retry_after(&mut r, u.retry_after);
                r
            }
            Denial::TooLarge | Denial::Upstream(Failure::TooLarge) => {
                rpc_error(status, RPC_SERVER_ERROR, "request body too large")
            }
            Denial::UnreadableBody => {
                rpc_error(status, RPC_SERVER_ERROR, "could not read the request body")
            }
            Denial::NotJsonRpc(e) => rpc_error(status, e.code(), e.message()),
            Denial::Upstream(Failure::Unreachable) => {
                rpc_error(status, RPC_SERVER_ERROR, "upstream MCP server unreachable")
            }
            Denial::Upstream(Failure::Timeout) => rpc_error(
                status,
                RPC_SERVER_ERROR,
                "upstream MCP server did not answer in time",
            ),
        }
    }
}

/// A challenge's answer (RFC 6750 §3): never cached.
fn challenge(c: &ChallengeReply) -> Response {
    let mut r = Response::new(c.body.clone().into());
    *r.status_mut() = StatusCode::from_u16(c.status).expect("400, 401 or 403");
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(header::WWW_AUTHENTICATE, c.www_authenticate.clone());
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every variant's status, and which ones count as a verification.
    #[test]
    fn the_table() {
        let unavailable = Unavailable {
            retry_after: std::time::Duration::from_secs(3),
            error: None,
        };
        let invalid = Invalid {
            kind: Rejection::Expired,
            reason: "token expired",
        };
        let cases: Vec<(Denial, u16, Option<Verification>)> = vec![
            (Denial::OriginNotAllowed, 403, None),
            (
                Denial::InvalidRequest {
                    why: "x",
                    advertised: vec![],
                },
                400,
                Some(Verification::Rejected(Rejection::Malformed)),
            ),
            (Denial::NoToken(None), 401, Some(Verification::Missing)),
            (
                Denial::InvalidToken {
                    invalid,
                    advertised: vec![],
                },
                401,
                Some(Verification::Rejected(Rejection::Expired)),
            ),
            (
                Denial::InsufficientScope(vec![]),
                403,
                Some(Verification::InsufficientScope),
            ),
            (Denial::Unavailable(unavailable), 503, None),
            (Denial::TooLarge, 413, None),
            (Denial::UnreadableBody, 400, None),
            (Denial::NotJsonRpc(BodyError::Ambiguous("x")), 400, None),
            (Denial::Upstream(Failure::TooLarge), 413, None),
            (Denial::Upstream(Failure::Unreachable), 502, None),
            (Denial::Upstream(Failure::Timeout), 504, None),
        ];
        for (denial, status, counted) in cases {
            assert_eq!(denial.status().as_u16(), status, "{denial:?}");
            assert_eq!(denial.verification(), counted, "{denial:?}");
        }
    }
}
