//! The protected MCP endpoint: every request is checked here, in this order,
//! then handed to [`crate::proxy`].
//!
//! 1. `Origin`, when present, must be the public URL's origin or listed in
//!    `allowed_origins`, else 403 (Streamable HTTP: servers MUST validate
//!    Origin against DNS rebinding).
//! 2. `OPTIONS` is the CORS preflight and needs no token.
//! 3. A token in the query string is refused (400 `invalid_request`; MCP:
//!    tokens MUST NOT be accepted there), as are two `Authorization` headers
//!    or a malformed `Bearer` value.
//! 4. No bearer token: 401 with `resource_metadata` and the advertised
//!    `scope`, no error code.
//! 5. The token is verified ([`crate::issuer::verifier`]): 401 `invalid_token`, or
//!    503 when keys and metadata cannot be had at all.
//! 6. Scopes: `[resource.scopes] required` for every request and
//!    `[resource.tools]` for `tools/call`: 403 `insufficient_scope` naming
//!    exactly the scopes this operation needs.
//! 7. The body is limited to `max_body_bytes` (413).
//!
//! Every request, GET and DELETE included, is authenticated: sessions are
//! never used for authentication.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use warp::http::header::{self, HeaderMap, HeaderValue};
use warp::http::{Method, StatusCode};
use warp::reply::Response;

use crate::issuer::verifier::Outcome;
use crate::metrics::Verification;
use crate::oauth::challenge::ErrorCode;
use crate::oauth::token::{Expectations, Rejection};
use crate::proxy::{self, BodyStream, Outbound};
use crate::state::{App, ChallengeReply, MetadataState, NO_TOKEN, Rendered, Resource, Snapshot};

/// One request to an MCP endpoint.
pub struct Request {
    pub method: Method,
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub remote: Option<SocketAddr>,
    pub body: BodyStream,
}

const ALLOW_METHODS: &str = "GET, POST, DELETE, OPTIONS";
const ALLOW_HEADERS: &str = "authorization, content-type, accept, mcp-session-id, mcp-protocol-version, last-event-id, mcp-method, mcp-name";
const EXPOSE_HEADERS: &str = "mcp-session-id, mcp-protocol-version, www-authenticate";

pub async fn handle(app: &App, snapshot: &Snapshot, resource: &Resource, req: Request) -> Response {
    let Ok(origin) = check_origin(snapshot, &req.headers) else {
        return proxy::rpc_error(StatusCode::FORBIDDEN, "origin not allowed");
    };
    let mut response = authorize_and_forward(app, snapshot, resource, req).await;
    if let Some(origin) = origin {
        let h = response.headers_mut();
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        h.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static(EXPOSE_HEADERS),
        );
        h.append(header::VARY, HeaderValue::from_static("origin"));
    }
    response
}

/// `Ok(Some(origin))` for an allowed cross-origin request, `Ok(None)` when
/// there is no Origin, `Err` for a foreign one.
fn check_origin(snapshot: &Snapshot, headers: &HeaderMap) -> Result<Option<HeaderValue>, ()> {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Ok(None);
    };
    let public = &snapshot.config.public;
    let allowed = origin.to_str().is_ok_and(|o| {
        o == public.url.origin().ascii_serialization()
            || public.allowed_origins.iter().any(|a| a == o)
    });
    if allowed {
        Ok(Some(origin.clone()))
    } else {
        Err(())
    }
}

async fn authorize_and_forward(
    app: &App,
    snapshot: &Snapshot,
    resource: &Resource,
    req: Request,
) -> Response {
    if req.method == Method::OPTIONS {
        return preflight();
    }
    let metadata = resource.metadata().await;
    // RFC 6750 §3: challenges advertise the scopes of the current metadata.
    // Built only when a challenge is sent, never on the success path.
    let advertised = || match &metadata {
        MetadataState::Ready(r) => r
            .outcome
            .as_ref()
            .map(|(a, _)| a.scopes.clone())
            .unwrap_or_default(),
        MetadataState::Unavailable(_) => Vec::new(),
    };
    let challenge = |error: Option<ErrorCode>, description: &str, scopes: Vec<String>| {
        challenge_response(&resource.challenge(error, description, scopes))
    };
    let metrics = &resource.runtime.metrics;
    let token = match crate::oauth::bearer::bearer(req.query.as_deref(), &req.headers) {
        Ok(Some(t)) => t,
        Ok(None) => {
            metrics.verification(Verification::Missing);
            return match &metadata {
                MetadataState::Ready(r) => challenge_response(&r.no_token),
                MetadataState::Unavailable(_) => challenge(None, NO_TOKEN, Vec::new()),
            };
        }
        Err(why) => {
            metrics.verification(Verification::Rejected(Rejection::Malformed));
            return challenge(Some(ErrorCode::InvalidRequest), why, advertised());
        }
    };
    let rendered: Arc<Rendered> = match &metadata {
        MetadataState::Ready(r) => r.clone(),
        MetadataState::Unavailable(u) => return crate::gateway::unavailable(u),
    };
    let cfg = &resource.config;
    let want = Expectations {
        issuer: &rendered.metadata.issuer,
        audiences: &resource.audiences,
        algorithms: &cfg.token.algorithms,
        leeway: cfg.token.leeway,
        require_typ: cfg.token.require_typ,
    };
    let principal = match resource
        .runtime
        .verifier
        .verify(&token, &want, snapshot.generation)
        .await
    {
        Outcome::Valid { principal, cached } => {
            if cached {
                metrics.token_cache_hit();
            }
            principal
        }
        Outcome::Invalid(invalid) => {
            metrics.verification(Verification::Rejected(invalid.kind));
            tracing::debug!(resource = %cfg.name, result = invalid.kind.as_str(), "token rejected");
            return challenge(Some(ErrorCode::InvalidToken), invalid.reason, advertised());
        }
        Outcome::Unavailable(u) => return crate::gateway::unavailable(&u),
    };
    let too_large = Arc::new(AtomicBool::new(false));
    let max = snapshot.config.public.max_body_bytes;
    if content_length(&req.headers).is_some_and(|n| n > max) {
        return proxy::rpc_error(StatusCode::PAYLOAD_TOO_LARGE, "request body too large");
    }
    let mut needed = cfg.scopes.required.clone();
    let mut body = limited(req.body, max, too_large.clone());
    if req.method == Method::POST && !cfg.tools.is_empty() {
        // Per-tool scopes need the JSON-RPC method and tool name: buffer the
        // (bounded) body, read it, and forward the same bytes.
        let bytes = match collect(body).await {
            Ok(b) => b,
            Err(_) if too_large.load(Ordering::Relaxed) => {
                return proxy::rpc_error(StatusCode::PAYLOAD_TOO_LARGE, "request body too large");
            }
            Err(_) => {
                return proxy::rpc_error(
                    StatusCode::BAD_REQUEST,
                    "could not read the request body",
                );
            }
        };
        match crate::oauth::jsonrpc::called_tools(&bytes) {
            Ok(tools) => {
                for tool in tools {
                    needed.extend(cfg.tools.get(&tool).into_iter().flatten().cloned());
                }
            }
            Err(why) => return rpc_parse_error(why),
        }
        body = Box::pin(futures_util::stream::once(async move { Ok(bytes) }));
    }
    if !needed.is_empty()
        && !crate::oauth::scopes::unmet(&principal.scopes, &needed, &cfg.scopes.implies).is_empty()
    {
        metrics.verification(Verification::InsufficientScope);
        let mut seen = std::collections::HashSet::new();
        needed.retain(|s| seen.insert(s.clone()));
        return challenge(
            Some(ErrorCode::InsufficientScope),
            "the token lacks scopes this request needs",
            needed,
        );
    }
    metrics.verification(Verification::Ok);
    let outbound = Outbound {
        method: req.method,
        query: req.query.as_deref(),
        headers: &req.headers,
        remote: req.remote,
        body,
        too_large,
        streams_end: app.streams_end(),
    };
    proxy::forward(&app.upstream, resource, outbound, &principal).await
}

fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

/// Passes `body` through, failing (and setting `too_large`) past `max` bytes.
fn limited(body: BodyStream, max: u64, too_large: Arc<AtomicBool>) -> BodyStream {
    let mut seen = 0u64;
    Box::pin(body.map(move |chunk| {
        let chunk = chunk?;
        seen += chunk.len() as u64;
        if seen > max {
            too_large.store(true, Ordering::Relaxed);
            return Err(std::io::Error::other("request body exceeds max_body_bytes"));
        }
        Ok(chunk)
    }))
}

async fn collect(mut body: BodyStream) -> std::io::Result<Bytes> {
    let mut out = BytesMut::new();
    while let Some(chunk) = body.next().await {
        out.extend_from_slice(&chunk?);
    }
    Ok(out.freeze())
}

fn challenge_response(c: &ChallengeReply) -> Response {
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

fn rpc_parse_error(why: &str) -> Response {
    let body = serde_json::json!({
        "jsonrpc": "2.0",
        "id": null,
        "error": { "code": -32700, "message": why },
    });
    let mut r = proxy::rpc_error(StatusCode::BAD_REQUEST, why);
    *r.body_mut() = body.to_string().into();
    r
}

fn preflight() -> Response {
    let mut r = Response::new(Bytes::new().into());
    *r.status_mut() = StatusCode::NO_CONTENT;
    let h = r.headers_mut();
    h.insert(header::ALLOW, HeaderValue::from_static(ALLOW_METHODS));
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static(ALLOW_METHODS),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static(ALLOW_HEADERS),
    );
    h.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("600"),
    );
    r
}
