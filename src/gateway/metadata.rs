//! The metadata the public listener serves: this resource's Protected
//! Resource Metadata (RFC 9728 §3.2) and, for 2025-03-26-era clients, the
//! cached authorization server metadata. Public, read-only, CORS `*`.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Method, Response, StatusCode, header};
use warp::reply::Response as WarpResponse;

use super::Denial;
use crate::server::reply::{json, method_not_allowed, set_retry_after, value};
use crate::state::{Endpoint, MetadataState};

/// How long clients and intermediaries may cache metadata responses.
const METADATA_MAX_AGE: Duration = Duration::from_secs(60);

/// RFC 9728 §3.2: the metadata response.
pub async fn protected_resource(method: &Method, resource: &Endpoint) -> WarpResponse {
    if let Some(r) = method_check(method) {
        return r;
    }
    let rendered = match resource.metadata().await {
        MetadataState::Ready(r) => r,
        MetadataState::Unavailable(u) => return Denial::Unavailable(u).into_response(resource),
    };
    let response = match &rendered.outcome {
        Ok((_, body)) => {
            let mut r = json(StatusCode::OK, body.clone());
            let cache_control = format!("public, max-age={}", METADATA_MAX_AGE.as_secs());
            r.headers_mut().insert(
                header::CACHE_CONTROL,
                HeaderValue::from_str(&cache_control).expect("ASCII"),
            );
            r
        }
        Err(mismatch) => {
            let body = serde_json::json!({
                "error": "scope_override_mismatch",
                "error_description": "the configured scope override matches nothing the authorization server supports",
                "resource": resource.location.resource,
                "override": mismatch.override_,
            });
            let mut r = value(StatusCode::SERVICE_UNAVAILABLE, &body);
            set_retry_after(&mut r, Duration::from_secs(60));
            r
        }
    };
    finish(method, response)
}

/// The cached authorization server metadata, as fetched.
pub async fn authorization_server(method: &Method, resource: &Endpoint) -> WarpResponse {
    if let Some(r) = method_check(method) {
        return r;
    }
    match resource.metadata().await {
        MetadataState::Ready(r) => {
            let body = serde_json::to_vec(&r.metadata.document).expect("a JSON map serializes");
            finish(method, json(StatusCode::OK, body.into()))
        }
        MetadataState::Unavailable(u) => Denial::Unavailable(u).into_response(resource),
    }
}

/// Metadata is public and read-only: GET, HEAD and CORS preflight only.
fn method_check(method: &Method) -> Option<WarpResponse> {
    match *method {
        Method::GET | Method::HEAD => None,
        Method::OPTIONS => {
            let mut r = Response::new(Bytes::new().into());
            *r.status_mut() = StatusCode::NO_CONTENT;
            let h = r.headers_mut();
            for (name, v) in [
                (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
                (header::ACCESS_CONTROL_ALLOW_METHODS, "GET, HEAD, OPTIONS"),
                (
                    header::ACCESS_CONTROL_ALLOW_HEADERS,
                    "mcp-protocol-version, content-type",
                ),
                (header::ACCESS_CONTROL_MAX_AGE, "86400"),
            ] {
                h.insert(name, HeaderValue::from_static(v));
            }
            Some(r)
        }
        _ => Some(method_not_allowed(
            "GET, HEAD, OPTIONS",
            "metadata supports GET, HEAD and OPTIONS",
        )),
    }
}

/// CORS `*` (metadata is public, browser clients fetch it cross-origin) and
/// no body for HEAD.
fn finish(method: &Method, mut response: WarpResponse) -> WarpResponse {
    response.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    if *method == Method::HEAD {
        *response.body_mut() = Bytes::new().into();
    }
    response
}
