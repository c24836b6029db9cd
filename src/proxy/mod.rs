//! Forwarding an authenticated request to the upstream MCP server, streaming
//! both bodies.
//!
//! What crosses, and what does not (MCP 2025-11-25 "Token Passthrough" and
//! Streamable HTTP), is decided in [`headers`]:
//! - the client's `Authorization` is **never** forwarded unless the operator
//!   set `forward_token = true`;
//! - hop-by-hop headers (RFC 9110 §7.6.1), `Host`, `Origin` (validated by
//!   the gateway; the upstream would see a foreign origin on its own host),
//!   and any client-sent `X-Mcp-Auth-*`, `X-Forwarded-*` or `Forwarded` are
//!   dropped;
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
//! upstream request. A request that gets no upstream answer ends in a
//! [`Failure`], which the gateway turns into the client's answer.

pub mod headers;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use http::Method;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use sync_wrapper::SyncStream;
use url::Url;
use warp::Reply;
use warp::reply::Response;

use crate::config;
use crate::issuer::fetch::error_chain;
use crate::metrics::ResourceMetrics;
use crate::oauth::token::Principal;
use crate::server::BodyStream;

/// The client for upstream MCP servers: no redirects, no overall timeout
/// (streams may last), pooled connections.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(10))
        .tcp_nodelay(true)
        .build()
        .expect("the TLS backend is compiled in, so the client always builds")
}

/// One resource's upstream and what every request to it carries, built
/// once per configuration.
pub struct Upstream {
    pub url: Url,
    /// Time for the upstream to send response headers.
    pub timeout: Duration,
    pub forward_token: bool,
    pub identity_headers: bool,
    /// `X-Forwarded-Proto` and `X-Forwarded-Host` from the public URL.
    pub forwarded: Vec<(HeaderName, HeaderValue)>,
    /// `upstream_headers` and the values of `upstream_header_files`.
    pub headers: HeaderMap,
}

impl Upstream {
    pub fn new(resource: &config::Resource, public_url: &Url) -> Upstream {
        Upstream {
            url: resource.upstream.clone(),
            timeout: resource.upstream_timeout,
            forward_token: resource.forward_token,
            identity_headers: resource.identity_headers,
            forwarded: headers::forwarded(public_url),
            headers: resource.headers.0.clone(),
        }
    }
}

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

/// Why a request got no upstream answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The request body passed `max_body_bytes` while it was being sent.
    TooLarge,
    /// No connection, or it broke before response headers.
    Unreachable,
    /// No response headers within `upstream_timeout`.
    Timeout,
}

/// Sends the request upstream and streams the answer back. `name` and
/// `metrics` are the resource's, for logs and the upstream metrics.
pub async fn forward(
    client: &reqwest::Client,
    upstream: &Upstream,
    name: &str,
    metrics: &ResourceMetrics,
    request: Outbound<'_>,
    principal: &Principal,
) -> Result<Response, Failure> {
    let mut url = upstream.url.clone();
    if let Some(q) = request.query.filter(|q| !q.is_empty()) {
        url.set_query(Some(q));
    }
    let headers = headers::upstream_headers(upstream, request.headers, principal, request.remote);
    // A `reqwest::Request` takes the map as is (`RequestBuilder::headers`
    // would copy it entry by entry).
    let mut outgoing = reqwest::Request::new(request.method, url);
    *outgoing.headers_mut() = headers;
    *outgoing.body_mut() = Some(reqwest::Body::wrap_stream(request.body));
    let send = client.execute(outgoing);
    let started = std::time::Instant::now();
    let answer = tokio::time::timeout(upstream.timeout, send).await;
    match &answer {
        Ok(Ok(r)) => metrics.upstream(Some(r.status().as_u16()), false, started.elapsed()),
        Ok(Err(_)) => metrics.upstream(None, false, started.elapsed()),
        Err(_) => metrics.upstream(None, true, started.elapsed()),
    }
    let answer = match answer {
        Ok(Ok(r)) => r,
        Ok(Err(_)) if request.too_large.load(Ordering::Relaxed) => {
            return Err(Failure::TooLarge);
        }
        Ok(Err(e)) => {
            tracing::warn!(resource = %name, error = %error_chain(&e), "upstream request failed");
            return Err(Failure::Unreachable);
        }
        Err(_) => {
            tracing::warn!(resource = %name, timeout = ?upstream.timeout, "upstream did not answer in time");
            return Err(Failure::Timeout);
        }
    };
    let status = answer.status();
    let response_headers = headers::response_headers(answer.headers());
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
    let name = name.to_owned();
    let body = answer
        .bytes_stream()
        .take_until(end)
        .map(move |chunk| {
            chunk.map_err(|e| {
                tracing::info!(resource = %name, error = %error_chain(&e), "upstream stream ended abruptly");
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
    Ok(response)
}
