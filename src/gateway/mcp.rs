//! The protected MCP endpoint: every request is checked here, in this order,
//! then handed to [`crate::proxy`]. Each refusal is a [`Denial`].
//!
//! 1. `Origin`, when present, must be the public URL's origin or listed in
//!    `allowed_origins`, else 403 (Streamable HTTP: servers MUST validate
//!    Origin against DNS rebinding).
//! 2. `OPTIONS` is the CORS preflight and needs no token.
//! 3. A token in the query string is refused (400 `invalid_request`; MCP:
//!    tokens MUST NOT be accepted there), as are two `Authorization` headers
//!    or a malformed `Bearer` value ([`crate::oauth::bearer`]).
//! 4. No bearer token: 401 with `resource_metadata` and the advertised
//!    `scope`, no error code.
//! 5. The token is verified ([`crate::issuer::verifier`]): 401
//!    `invalid_token`, or 503 when keys and metadata cannot be had at all.
//! 6. Scopes: `[resource.scopes] required` for every request and
//!    `[resource.tools]` for `tools/call`: 403 `insufficient_scope` naming
//!    exactly the scopes this operation needs.
//! 7. The body is limited to `max_body_bytes` (413).
//!
//! Every request, GET and DELETE included, is authenticated: sessions are
//! never used for authentication.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, StatusCode};
use warp::reply::Response;

use super::Denial;
use crate::issuer::verifier::Outcome;
use crate::metrics::Verification;
use crate::oauth::token::{Expectations, Principal};
use crate::proxy::Outbound;
use crate::server::{BodyStream, Request};
use crate::state::{App, Endpoint, MetadataState, Snapshot};

const ALLOW_METHODS: &str = "GET, POST, DELETE, OPTIONS";
const ALLOW_HEADERS: &str = "authorization, content-type, accept, mcp-session-id, mcp-protocol-version, last-event-id, mcp-method, mcp-name";
const EXPOSE_HEADERS: &str = "mcp-session-id, mcp-protocol-version, www-authenticate";

/// Answers one request to `resource`'s MCP endpoint.
pub async fn handle(app: &App, snapshot: &Snapshot, resource: &Endpoint, req: Request) -> Response {
    let Ok(origin) = check_origin(snapshot, &req.headers) else {
        return Denial::OriginNotAllowed.into_response(resource);
    };
    let mut response = if req.method == Method::OPTIONS {
        preflight()
    } else {
        match authorize_and_forward(app, snapshot, resource, req).await {
            Ok(r) => r,
            Err(denial) => denial.into_response(resource),
        }
    };
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
    resource: &Endpoint,
    req: Request,
) -> Result<Response, Denial> {
    let metadata = resource.metadata().await;
    let principal = authenticate(
        snapshot,
        resource,
        req.query.as_deref(),
        &req.headers,
        &metadata,
    )
    .await?;
    let cfg = &resource.config;
    let max = snapshot.config.public.max_body_bytes;
    if content_length(&req.headers).is_some_and(|n| n > max) {
        return Err(Denial::TooLarge);
    }
    let too_large = Arc::new(AtomicBool::new(false));
    let mut needed = cfg.scopes.required.clone();
    let mut body = limited(req.body, max, too_large.clone());
    if req.method == Method::POST && !cfg.tools.is_empty() {
        // Per-tool scopes need the JSON-RPC method and tool name: buffer the
        // (bounded) body, read it, and forward the same bytes.
        let bytes = match collect(body).await {
            Ok(b) => b,
            Err(_) if too_large.load(Ordering::Relaxed) => return Err(Denial::TooLarge),
            Err(_) => return Err(Denial::UnreadableBody),
        };
        let tools = crate::oauth::jsonrpc::called_tools(&bytes).map_err(Denial::NotJsonRpc)?;
        for tool in tools {
            needed.extend(cfg.tools.get(&tool).into_iter().flatten().cloned());
        }
        body = Box::pin(futures_util::stream::once(async move { Ok(bytes) }));
    }
    if !needed.is_empty()
        && !crate::oauth::scopes::unmet(&principal.scopes, &needed, &cfg.scopes.implies).is_empty()
    {
        return Err(Denial::InsufficientScope(needed));
    }
    let metrics = &resource.runtime.metrics;
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
    crate::proxy::forward(
        &app.upstream,
        &resource.upstream,
        &cfg.name,
        metrics,
        outbound,
        &principal,
    )
    .await
    .map_err(Denial::Upstream)
}

/// Steps 3 to 5: the request's bearer token, verified.
async fn authenticate(
    snapshot: &Snapshot,
    resource: &Endpoint,
    query: Option<&str>,
    headers: &HeaderMap,
    metadata: &MetadataState,
) -> Result<Arc<Principal>, Denial> {
    let token = match crate::oauth::bearer::bearer(query, headers) {
        Ok(Some(t)) => t,
        Ok(None) => {
            return Err(Denial::NoToken(match metadata {
                MetadataState::Ready(r) => Some(r.clone()),
                MetadataState::Unavailable(_) => None,
            }));
        }
        Err(why) => {
            return Err(Denial::InvalidRequest {
                why,
                advertised: metadata.advertised(),
            });
        }
    };
    let rendered = match metadata {
        MetadataState::Ready(r) => r,
        MetadataState::Unavailable(u) => return Err(Denial::Unavailable(u.clone())),
    };
    let cfg = &resource.config;
    let want = Expectations {
        issuer: &rendered.metadata.issuer,
        audiences: &resource.audiences,
        algorithms: &cfg.token.algorithms,
        leeway: cfg.token.leeway,
        require_typ: cfg.token.require_typ,
    };
    match resource
        .runtime
        .verifier
        .verify(&token, &want, snapshot.generation)
        .await
    {
        Outcome::Valid { principal, cached } => {
            if cached {
                resource.runtime.metrics.token_cache_hit();
            }
            Ok(principal)
        }
        Outcome::Invalid(invalid) => Err(Denial::InvalidToken {
            invalid,
            advertised: metadata.advertised(),
        }),
        Outcome::Unavailable(u) => Err(Denial::Unavailable(u)),
    }
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

fn preflight() -> Response {
    let mut r = Response::new(Bytes::new().into());
    *r.status_mut() = StatusCode::NO_CONTENT;
    let h = r.headers_mut();
    for (name, v) in [
        (header::ALLOW, ALLOW_METHODS),
        (header::ACCESS_CONTROL_ALLOW_METHODS, ALLOW_METHODS),
        (header::ACCESS_CONTROL_ALLOW_HEADERS, ALLOW_HEADERS),
        (header::ACCESS_CONTROL_MAX_AGE, "600"),
    ] {
        h.insert(name, HeaderValue::from_static(v));
    }
    r
}
