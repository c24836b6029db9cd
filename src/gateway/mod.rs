//! The public listener: what MCP clients talk to.
//!
//! Routes are dispatched by hand against the current [`Snapshot`] (resources
//! change on reload, so they cannot be compiled into static warp filters):
//! - `GET|HEAD|OPTIONS /.well-known/oauth-protected-resource<path>`: RFC 9728
//!   metadata, and the root form when unambiguous;
//! - `/.well-known/oauth-authorization-server`, `/.well-known/openid-configuration`:
//!   the authorization server metadata mirror for 2025-03-26-era clients,
//!   when exactly one resource opts in (`legacy_as_metadata`);
//! - each resource's MCP endpoint: [`crate::gateway::mcp`];
//! - `GET /healthz`;
//! - everything else: 404 JSON.

pub mod mcp;

use std::sync::Arc;
use std::time::Duration;

use std::net::SocketAddr;

use bytes::Bytes;
use futures_util::StreamExt;
use warp::Buf;
use warp::Filter;
use warp::http::{HeaderMap, HeaderValue, Method, Response, StatusCode, header};
use warp::reply::Response as WarpResponse;

use crate::issuer::cache::Unavailable;
use crate::state::{App, MetadataState, Resource};

use crate::proxy::BodyStream;

/// How long clients and intermediaries may cache metadata responses.
const METADATA_MAX_AGE: Duration = Duration::from_secs(60);

/// The public listener's warp filter.
pub fn routes(
    app: Arc<App>,
) -> impl Filter<Extract = (WarpResponse,), Error = warp::Rejection> + Clone + Send + Sync + 'static
{
    let query = warp::query::raw()
        .map(Some)
        .or(warp::any().map(|| None))
        .unify();
    warp::method()
        .and(warp::path::full())
        .and(query)
        .and(warp::header::headers_cloned())
        .and(warp::addr::remote())
        .and(warp::body::stream().map(boxed_body))
        .then(
            move |method: Method,
                  path: warp::path::FullPath,
                  query: Option<String>,
                  headers: HeaderMap,
                  remote: Option<SocketAddr>,
                  body: BodyStream| {
                let app = app.clone();
                let request = mcp::Request {
                    method,
                    query,
                    headers,
                    remote,
                    body,
                };
                async move {
                    let started = std::time::Instant::now();
                    let (route, response) = handle(&app, path.as_str(), request).await;
                    app.metrics.http(
                        "public",
                        route,
                        response.status().as_u16(),
                        started.elapsed(),
                    );
                    response
                }
            },
        )
}

fn boxed_body<S, B>(body: S) -> BodyStream
where
    S: futures_util::Stream<Item = Result<B, warp::Error>> + Send + 'static,
    B: Buf,
{
    Box::pin(body.map(|chunk| {
        chunk
            .map(|mut buf| buf.copy_to_bytes(buf.remaining()))
            .map_err(std::io::Error::other)
    }))
}

/// Routes one request; returns the `route` metric label with the answer.
async fn handle(app: &App, path: &str, request: mcp::Request) -> (&'static str, WarpResponse) {
    let snapshot = app.snapshot();
    let method = &request.method;
    if let Some(resource) = snapshot.resource_for_endpoint(path) {
        let resource = resource.clone();
        return ("mcp", mcp::handle(app, &snapshot, &resource, request).await);
    }
    if path == "/healthz" {
        return (
            "healthz",
            json(StatusCode::OK, Bytes::from_static(b"{\"status\":\"ok\"}")),
        );
    }
    if path.starts_with(crate::oauth::prm::WELL_KNOWN)
        && let Some(resource) = snapshot.resource_for_prm(path)
    {
        return ("prm", metadata_response(method, resource).await);
    }
    if matches!(
        path,
        "/.well-known/oauth-authorization-server" | "/.well-known/openid-configuration"
    ) && let Some(resource) = snapshot.legacy_metadata_resource()
    {
        return (
            "as_metadata",
            legacy_metadata_response(method, resource).await,
        );
    }
    ("not_found", not_found())
}

/// RFC 9728 §3.2: the metadata response.
async fn metadata_response(method: &Method, resource: &Resource) -> WarpResponse {
    if let Some(r) = metadata_method_check(method) {
        return r;
    }
    let rendered = match resource.metadata().await {
        MetadataState::Ready(r) => r,
        MetadataState::Unavailable(u) => return unavailable(&u),
    };
    let mut response = match &rendered.outcome {
        Ok((_, body)) => json(StatusCode::OK, body.clone()),
        Err(mismatch) => {
            let body = serde_json::json!({
                "error": "scope_override_mismatch",
                "error_description": "the configured scope override matches nothing the authorization server supports",
                "resource": resource.location.resource,
                "override": mismatch.override_,
            });
            let mut r = json(StatusCode::SERVICE_UNAVAILABLE, body.to_string().into());
            set_retry_after(&mut r, Duration::from_secs(60));
            r
        }
    };
    if response.status() == StatusCode::OK {
        let cache_control = format!("public, max-age={}", METADATA_MAX_AGE.as_secs());
        response.headers_mut().insert(
            header::CACHE_CONTROL,
            HeaderValue::from_str(&cache_control).expect("ASCII"),
        );
    }
    finish_metadata(method, response)
}

/// The cached authorization server metadata, as fetched.
async fn legacy_metadata_response(method: &Method, resource: &Resource) -> WarpResponse {
    if let Some(r) = metadata_method_check(method) {
        return r;
    }
    match resource.metadata().await {
        MetadataState::Ready(r) => {
            let body = serde_json::to_vec(&r.metadata.document).expect("a JSON map serializes");
            finish_metadata(method, json(StatusCode::OK, body.into()))
        }
        MetadataState::Unavailable(u) => unavailable(&u),
    }
}

/// Metadata is public and read-only: GET, HEAD and CORS preflight only.
fn metadata_method_check(method: &Method) -> Option<WarpResponse> {
    match *method {
        Method::GET | Method::HEAD => None,
        Method::OPTIONS => {
            let mut r = Response::new(Bytes::new().into());
            *r.status_mut() = StatusCode::NO_CONTENT;
            let h = r.headers_mut();
            h.insert(
                header::ACCESS_CONTROL_ALLOW_ORIGIN,
                HeaderValue::from_static("*"),
            );
            h.insert(
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static("GET, HEAD, OPTIONS"),
            );
            h.insert(
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static("mcp-protocol-version, content-type"),
            );
            h.insert(
                header::ACCESS_CONTROL_MAX_AGE,
                HeaderValue::from_static("86400"),
            );
            Some(r)
        }
        _ => {
            let mut r = error_json(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "metadata supports GET, HEAD and OPTIONS",
            );
            r.headers_mut().insert(
                header::ALLOW,
                HeaderValue::from_static("GET, HEAD, OPTIONS"),
            );
            Some(r)
        }
    }
}

/// CORS `*` (metadata is public, browser clients fetch it cross-origin) and
/// no body for HEAD.
fn finish_metadata(method: &Method, mut response: WarpResponse) -> WarpResponse {
    response.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    if *method == Method::HEAD {
        *response.body_mut() = Bytes::new().into();
    }
    response
}

/// 503 with `Retry-After`: no metadata yet, or too stale to serve.
pub fn unavailable(u: &Unavailable) -> WarpResponse {
    let description = match &u.error {
        Some(e) => format!("authorization server metadata unavailable: {e}"),
        None => "authorization server metadata not loaded yet".to_owned(),
    };
    let mut r = error_json(
        StatusCode::SERVICE_UNAVAILABLE,
        "temporarily_unavailable",
        &description,
    );
    set_retry_after(&mut r, u.retry_after);
    r
}

fn set_retry_after(r: &mut WarpResponse, after: Duration) {
    let secs = after.as_secs().max(1).to_string();
    r.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from_str(&secs).expect("digits"),
    );
}

pub fn not_found() -> WarpResponse {
    error_json(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
}

/// `{"error": …, "error_description": …}` with the given status.
pub fn error_json(status: StatusCode, error: &str, description: &str) -> WarpResponse {
    let body = serde_json::json!({ "error": error, "error_description": description });
    json(status, body.to_string().into())
}

pub fn json(status: StatusCode, body: Bytes) -> WarpResponse {
    let mut r = Response::new(body.into());
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}
