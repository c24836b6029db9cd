//! Forwarding an authenticated request to the upstream MCP server, streaming
//! both bodies.
//!
//! What crosses, and what does not (MCP 2025-11-25 "Token Passthrough" and
//! Streamable HTTP):
//! - the client's `Authorization` is **never** forwarded unless the operator
//!   set `forward_token = true`;
//! - hop-by-hop headers (RFC 9110 §7.6.1), `Host`, `Origin` (validated here;
//!   the upstream would see a foreign origin on its own host), and any
//!   client-sent `X-Mcp-Auth-*`, `X-Forwarded-*` or `Forwarded` are dropped;
//! - mcp-warden adds `X-Mcp-Auth-Subject`, `X-Mcp-Auth-Client-Id`,
//!   `X-Mcp-Auth-Scopes` (unless `identity_headers = false`),
//!   `X-Mcp-Auth-Authorization-Details` (RFC 9396 grants, JSON) when the token
//!   has them, `X-Forwarded-For/Proto/Host`, and the configured static headers;
//! - everything else passes unchanged both ways, including `Mcp-Session-Id`,
//!   `MCP-Protocol-Version`, `Last-Event-ID`, `Accept`, `Content-Type`,
//!   `Mcp-Method`, `Mcp-Name`, `Mcp-Param-*`, and every upstream status.
//!
//! Bodies stream in both directions; SSE events reach the client as the
//! upstream produces them. Dropping the response (client gone) drops the
//! upstream request.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use sync_wrapper::SyncStream;
use warp::Reply;
use warp::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use warp::http::{Method, StatusCode};
use warp::reply::Response;

use crate::oauth::token::Principal;
use crate::state::Resource;

/// Request headers that never cross the proxy.
const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

pub const SUBJECT: &str = "x-mcp-auth-subject";
pub const CLIENT_ID: &str = "x-mcp-auth-client-id";
pub const SCOPES: &str = "x-mcp-auth-scopes";
pub const AUTHORIZATION_DETAILS: &str = "x-mcp-auth-authorization-details";

/// A request body on its way upstream.
pub type BodyStream = std::pin::Pin<Box<dyn Stream<Item = Result<Bytes, std::io::Error>> + Send>>;

/// The parts of the client request the proxy needs.
pub struct Outbound<'a> {
    pub method: Method,
    pub query: Option<&'a str>,
    pub headers: &'a HeaderMap,
    pub remote: Option<SocketAddr>,
    pub body: BodyStream,
    /// Set by the body stream when it stopped at `max_body_bytes`.
    pub too_large: Arc<AtomicBool>,
    /// Turns true at shutdown's grace deadline: SSE response streams then
    /// end cleanly ([`crate::state::App::streams_end`]).
    pub streams_end: &'a tokio::sync::watch::Sender<bool>,
}

fn is_dropped(name: &HeaderName, connection_listed: &[String], forward_token: bool) -> bool {
    let n = name.as_str();
    HOP_BY_HOP.contains(&n)
        || connection_listed.iter().any(|c| c == n)
        || n == "host"
        || n == "origin"
        || n == "forwarded"
        || n.starts_with("x-forwarded-")
        || n.starts_with("x-mcp-auth-")
        || (n == "authorization" && !forward_token)
        // CGI/WSGI-style upstreams read `X_Mcp_Auth_Subject` as the same
        // variable as `X-Mcp-Auth-Subject`: underscores would let a client
        // spoof identity or forwarding headers (nginx drops them too).
        || n.contains('_')
}

/// The headers sent upstream.
pub fn upstream_headers(
    resource: &Resource,
    incoming: &HeaderMap,
    principal: &Principal,
    remote: Option<SocketAddr>,
) -> HeaderMap {
    let connection_listed: Vec<String> = incoming
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|s| s.trim().to_ascii_lowercase())
        .collect();
    let mut out = HeaderMap::with_capacity(incoming.len() + 8);
    for (name, value) in incoming {
        if !is_dropped(name, &connection_listed, resource.config.forward_token) {
            out.append(name.clone(), value.clone());
        }
    }
    if resource.config.identity_headers {
        for (name, value) in identity(principal) {
            out.insert(name.clone(), value.clone());
        }
    }
    // Rendered from a socket address: always a valid header value.
    if let Some(remote) = remote
        && let Ok(v) = HeaderValue::from_str(&remote.ip().to_string())
    {
        out.insert(HeaderName::from_static("x-forwarded-for"), v);
    }
    for (name, value) in &resource.forwarded {
        out.insert(name.clone(), value.clone());
    }
    for (name, value) in &resource.upstream_headers {
        out.insert(name.clone(), value.clone());
    }
    out
}

/// `X-Mcp-Auth-*` for a verified token, built once per cached verdict.
/// Claims are untrusted text: a value that is not a valid header is left
/// out rather than mangled.
fn identity(principal: &Principal) -> &[(HeaderName, HeaderValue)] {
    principal.identity_headers.get_or_init(|| {
        let details = principal
            .authorization_details
            .as_ref()
            .map(|d| d.to_string());
        let scopes = principal.scopes.join(" ");
        [
            (SUBJECT, principal.sub.as_deref()),
            (CLIENT_ID, principal.client_id.as_deref()),
            (SCOPES, Some(scopes.as_str())),
            (AUTHORIZATION_DETAILS, details.as_deref()),
        ]
        .into_iter()
        .filter_map(|(name, value)| {
            let value = HeaderValue::from_str(value?).ok()?;
            Some((HeaderName::from_static(name), value))
        })
        .collect()
    })
}

/// `X-Forwarded-Proto` and `X-Forwarded-Host` for a public URL; computed
/// once per configuration.
pub fn forwarded(public_url: &url::Url) -> Vec<(HeaderName, HeaderValue)> {
    let mut out = Vec::new();
    if let Ok(proto) = HeaderValue::from_str(public_url.scheme()) {
        out.push((HeaderName::from_static("x-forwarded-proto"), proto));
    }
    if let Some(host) = public_url.host_str() {
        let host = match public_url.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.to_owned(),
        };
        if let Ok(v) = HeaderValue::from_str(&host) {
            out.push((HeaderName::from_static("x-forwarded-host"), v));
        }
    }
    out
}

/// Sends the request upstream and streams the answer back.
pub async fn forward(
    client: &reqwest::Client,
    resource: &Resource,
    request: Outbound<'_>,
    principal: &Principal,
) -> Response {
    let mut url = resource.config.upstream.clone();
    if let Some(q) = request.query.filter(|q| !q.is_empty()) {
        url.set_query(Some(q));
    }
    let headers = upstream_headers(resource, request.headers, principal, request.remote);
    // A `reqwest::Request` takes the map as is (`RequestBuilder::headers`
    // would copy it entry by entry).
    let mut outgoing = reqwest::Request::new(request.method, url);
    *outgoing.headers_mut() = headers;
    *outgoing.body_mut() = Some(reqwest::Body::wrap_stream(request.body));
    let send = client.execute(outgoing);
    let started = std::time::Instant::now();
    let answer = tokio::time::timeout(resource.config.upstream_timeout, send).await;
    let metrics = &resource.runtime.metrics;
    match &answer {
        Ok(Ok(r)) => metrics.upstream(Some(r.status().as_u16()), false, started.elapsed()),
        Ok(Err(_)) => metrics.upstream(None, false, started.elapsed()),
        Err(_) => metrics.upstream(None, true, started.elapsed()),
    }
    let upstream = match answer {
        Ok(Ok(r)) => r,
        Ok(Err(_)) if request.too_large.load(Ordering::Relaxed) => {
            return rpc_error(StatusCode::PAYLOAD_TOO_LARGE, "request body too large");
        }
        Ok(Err(e)) => {
            tracing::warn!(resource = %resource.config.name, error = %crate::issuer::fetch::error_chain(&e), "upstream request failed");
            return rpc_error(StatusCode::BAD_GATEWAY, "upstream MCP server unreachable");
        }
        Err(_) => {
            tracing::warn!(resource = %resource.config.name, timeout = ?resource.config.upstream_timeout, "upstream did not answer in time");
            return rpc_error(
                StatusCode::GATEWAY_TIMEOUT,
                "upstream MCP server did not answer in time",
            );
        }
    };
    let status = upstream.status();
    let mut response_headers = HeaderMap::with_capacity(upstream.headers().len());
    for (name, value) in upstream.headers() {
        if !HOP_BY_HOP.contains(&name.as_str()) {
            response_headers.append(name.clone(), value.clone());
        }
    }
    let name = resource.config.name.clone();
    let is_sse = response_headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().starts_with("text/event-stream"));
    // Only an event stream is ended at the grace deadline (its clients
    // reconnect); any other body still open then is cut off with its
    // connection, so a truncated JSON answer never looks complete. Other
    // bodies also skip subscribing to the signal.
    let mut end_signal = is_sse.then(|| request.streams_end.subscribe());
    let end = async move {
        match &mut end_signal {
            Some(rx) => {
                let _ = rx.wait_for(|ended| *ended).await;
            }
            None => std::future::pending().await,
        }
    };
    let stream_errors = metrics.stream_errors();
    let body = upstream
        .bytes_stream()
        .take_until(end)
        .map(move |chunk| {
            chunk.map_err(|e| {
                tracing::info!(resource = %name, error = %crate::issuer::fetch::error_chain(&e), "upstream stream ended abruptly");
                stream_errors.inc();
                std::io::Error::other(e)
            })
        })
        // An SSE stream that breaks upstream ends cleanly for the client: SSE
        // parsers drop a partial event, and the client reconnects with
        // Last-Event-ID. Other bodies abort, so a truncated JSON answer is
        // never passed off as complete.
        .take_while(move |chunk| std::future::ready(!(is_sse && chunk.is_err())));
    let mut response = warp::reply::stream(SyncStream::new(body)).into_response();
    *response.status_mut() = status;
    *response.headers_mut() = response_headers;
    response
}

/// A JSON-RPC-shaped error for failures the client's MCP stack must parse.
pub fn rpc_error(status: StatusCode, message: &str) -> Response {
    let body = serde_json::json!({
        "jsonrpc": "2.0",
        "id": null,
        "error": { "code": -32000, "message": message },
    });
    let mut r = Response::new(body.to_string().into());
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}
