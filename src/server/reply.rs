//! Building answers: JSON bodies, the `{"error", "error_description"}`
//! shape of OAuth errors (RFC 6749 §5.2, RFC 6750 §3), and JSON-RPC error
//! objects for failures an MCP client's JSON-RPC stack must parse.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, StatusCode, header};
use warp::reply::Response;

/// JSON-RPC 2.0 §5.1: implementation-defined server error.
pub const RPC_SERVER_ERROR: i64 = -32000;

/// `body` as `application/json` with `status`.
pub fn json(status: StatusCode, body: Bytes) -> Response {
    let mut r = Response::new(body.into());
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// A JSON value as the body.
pub fn value(status: StatusCode, v: &serde_json::Value) -> Response {
    json(status, v.to_string().into())
}

/// `{"error": …, "error_description": …}` with the given status.
pub fn error_json(status: StatusCode, error: &str, description: &str) -> Response {
    value(
        status,
        &serde_json::json!({ "error": error, "error_description": description }),
    )
}

pub fn not_found() -> Response {
    error_json(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
}

/// A JSON-RPC error response (`"id": null`: the request's id is unknown or
/// unread).
pub fn rpc_error(status: StatusCode, code: i64, message: &str) -> Response {
    value(
        status,
        &serde_json::json!({
            "jsonrpc": "2.0",
            "id": null,
            "error": { "code": code, "message": message },
        }),
    )
}

/// `Retry-After` in whole seconds, at least one.
pub fn set_retry_after(r: &mut Response, after: Duration) {
    let secs = after.as_secs().max(1).to_string();
    r.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from_str(&secs).expect("digits"),
    );
}

/// `error` with `Allow: allowed`.
pub fn method_not_allowed(allowed: &'static str, description: &str) -> Response {
    let mut r = error_json(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        description,
    );
    r.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allowed));
    r
}
