//! The practical limit of any proxy built from mcp-warden's stack: a bare
//! warp 0.4 + reqwest 0.13 reverse proxy, streaming both bodies, dropping
//! hop-by-hop headers and nothing else. No auth, no metrics, no logging.
//! Loopback only. Prints `{"port":N}` once listening.
//!
//!     bare-proxy --upstream http://127.0.0.1:P/mcp [--port N]

use std::net::SocketAddr;

use bytes::Bytes;
use futures_util::StreamExt;
use sync_wrapper::SyncStream;
use warp::Filter;
use warp::Reply;
use warp::http::{HeaderMap, Method};

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

type BodyStream = std::pin::Pin<Box<dyn futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Send>>;

/// The same body adapter as mcp-warden's `public::boxed_body`.
fn boxed_body<S, B>(body: S) -> BodyStream
where
    S: futures_util::Stream<Item = Result<B, warp::Error>> + Send + 'static,
    B: warp::Buf,
{
    Box::pin(body.map(|chunk| {
        chunk
            .map(|mut buf| buf.copy_to_bytes(buf.remaining()))
            .map_err(std::io::Error::other)
    }))
}

#[tokio::main]
async fn main() {
    let upstream: reqwest::Url = warden_bench_helpers::arg("--upstream")
        .expect("--upstream URL")
        .parse()
        .expect("upstream URL");
    let port: u16 = warden_bench_helpers::arg("--port").map_or(0, |p| p.parse().expect("port"));
    // Experiment switches (all off for the reference figures): add one of
    // mcp-warden's per-request costs at a time, to find what its latency is made of.
    let features = warden_bench_helpers::arg("--with").unwrap_or_default();
    let with_timeout = features.contains("timeout");
    let with_headers = features.contains("headers");
    let with_take_until = features.contains("take-until");
    let (_end_tx, end_rx) = tokio::sync::watch::channel(false);
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .tcp_nodelay(true)
        .build()
        .expect("client");
    let query = warp::query::raw()
        .map(Some)
        .or(warp::any().map(|| None))
        .unify();
    let routes = warp::method()
        .and(query)
        .and(warp::header::headers_cloned())
        .and(warp::body::stream().map(boxed_body))
        .then(
            move |method: Method, query: Option<String>, headers: HeaderMap, body: BodyStream| {
                let client = client.clone();
                let mut url = upstream.clone();
                let mut end_rx = end_rx.clone();
                async move {
                    if let Some(q) = query.filter(|q| !q.is_empty()) {
                        url.set_query(Some(&q));
                    }
                    let mut out = HeaderMap::with_capacity(headers.len());
                    for (name, value) in &headers {
                        if !HOP_BY_HOP.contains(&name.as_str()) && name != "host" {
                            out.append(name.clone(), value.clone());
                        }
                    }
                    if with_headers {
                        for (name, value) in [
                            ("x-mcp-auth-subject", "demo-client"),
                            ("x-mcp-auth-client-id", "demo-client"),
                            ("x-mcp-auth-scopes", "all project:all"),
                            ("x-forwarded-for", "127.0.0.1"),
                            ("x-forwarded-proto", "http"),
                            ("x-forwarded-host", "127.0.0.1:8080"),
                        ] {
                            out.insert(
                                warp::http::HeaderName::from_static(name),
                                warp::http::HeaderValue::from_str(value).expect("valid"),
                            );
                        }
                    }
                    let send = client
                        .request(method, url)
                        .headers(out)
                        .body(reqwest::Body::wrap_stream(body))
                        .send();
                    let sent = if with_timeout {
                        match tokio::time::timeout(std::time::Duration::from_secs(120), send).await {
                            Ok(r) => r,
                            Err(_) => {
                                return warp::reply::with_status("timeout", warp::http::StatusCode::GATEWAY_TIMEOUT)
                                    .into_response();
                            }
                        }
                    } else {
                        send.await
                    };
                    match sent {
                        Ok(r) => {
                            let status = r.status();
                            let mut headers = HeaderMap::with_capacity(r.headers().len());
                            for (name, value) in r.headers() {
                                if !HOP_BY_HOP.contains(&name.as_str()) {
                                    headers.append(name.clone(), value.clone());
                                }
                            }
                            let stream = r.bytes_stream().map(|c| c.map_err(std::io::Error::other));
                            let mut response = if with_take_until {
                                let end = Box::pin(async move {
                                    let _ = end_rx.wait_for(|e| *e).await;
                                });
                                warp::reply::stream(SyncStream::new(stream.take_until(end))).into_response()
                            } else {
                                warp::reply::stream(SyncStream::new(stream)).into_response()
                            };
                            *response.status_mut() = status;
                            *response.headers_mut() = headers;
                            response
                        }
                        Err(_) => warp::reply::with_status("bad gateway", warp::http::StatusCode::BAD_GATEWAY)
                            .into_response(),
                    }
                }
            },
        );
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port)))
        .await
        .expect("bind");
    println!("{{\"port\":{}}}", listener.local_addr().expect("addr").port());
    warp::serve(routes).incoming(listener).run().await;
}
