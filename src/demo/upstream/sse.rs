//! Server-sent events for the demo upstream: a response whose events a
//! producer task sends, and the event framing (Streamable HTTP).

use std::future::Future;
use std::io;
use std::time::Duration;

use bytes::Bytes;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use warp::Reply;
use warp::http::{HeaderMap, HeaderValue, header};
use warp::reply::Response;

use super::{State, tools};

/// A `200 text/event-stream` response whose events `produce` sends. The
/// producer runs in its own task and is dropped (ending the stream) when the
/// server stops; a send fails once the client has gone. Sending an `Err`
/// makes hyper abort the connection.
pub(super) fn sse_stream<F, Fut>(state: &State, produce: F) -> Response
where
    F: FnOnce(mpsc::Sender<io::Result<Bytes>>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let (tx, mut rx) = mpsc::channel::<io::Result<Bytes>>(16);
    let producing = produce(tx);
    let mut stopped = state.stopped.clone();
    tokio::spawn(async move {
        tokio::select! {
            () = producing => {}
            _ = stopped.changed() => {}
        }
    });
    let body = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
    let mut r = warp::reply::stream(body).into_response();
    sse_headers(r.headers_mut());
    r
}

pub(super) fn sse_headers(headers: &mut HeaderMap) {
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    // Tells nginx-style proxies not to buffer (the 2026-07-28 revision asks for it).
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
}

pub(super) fn sse_event(id: u64, message: &Value) -> Bytes {
    // Compact JSON has no newline, so one `data:` line holds it.
    format!("event: message\nid: {id}\ndata: {message}\n\n").into()
}

pub(super) fn accepts_sse(headers: &HeaderMap) -> bool {
    headers.get_all(header::ACCEPT).iter().any(|v| {
        String::from_utf8_lossy(v.as_bytes())
            .to_ascii_lowercase()
            .contains("text/event-stream")
    })
}

/// `count`: progress notifications `interval` apart (the first at once),
/// then the result one more `interval` later, each an SSE event with an id.
pub(super) fn count(
    state: &State,
    id: Value,
    token: Value,
    n: u64,
    interval: Duration,
) -> Response {
    let ids: Vec<u64> = (0..=n).map(|_| state.next_event_id()).collect();
    sse_stream(state, move |tx| async move {
        for (i, event_id) in ids[..ids.len() - 1].iter().enumerate() {
            if i > 0 {
                tokio::time::sleep(interval).await;
            }
            let note = progress(&token, i as u64 + 1, n);
            if tx.send(Ok(sse_event(*event_id, &note))).await.is_err() {
                return;
            }
        }
        tokio::time::sleep(interval).await;
        let result = json!({ "jsonrpc": "2.0", "id": id, "result": tools::counted(n) });
        let _ = tx.send(Ok(sse_event(ids[ids.len() - 1], &result))).await;
    })
}

pub(super) fn progress(token: &Value, progress: u64, total: u64) -> Value {
    json!({
        "jsonrpc": "2.0",
        "method": "notifications/progress",
        "params": { "progressToken": token, "progress": progress, "total": total },
    })
}
