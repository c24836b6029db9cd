//! The demo upstream over real HTTP.

use std::time::Instant;

use super::*;

const ACCEPT_BOTH: &str = "application/json, text/event-stream";

async fn upstream(options: UpstreamOptions) -> Upstream {
    Upstream::start(options).await.unwrap()
}

fn stateless() -> UpstreamOptions {
    UpstreamOptions {
        stateless: true,
        ..UpstreamOptions::default()
    }
}

fn request(id: u64, method: &str, params: Value) -> Value {
    json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params })
}

fn call(id: u64, tool: &str, arguments: Value) -> Value {
    request(
        id,
        "tools/call",
        json!({ "name": tool, "arguments": arguments }),
    )
}

async fn post(up: &Upstream, session: Option<&str>, body: &Value) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .post(&up.url)
        .header("accept", ACCEPT_BOTH)
        .header("content-type", "application/json")
        .header("mcp-protocol-version", "2025-06-18")
        .body(body.to_string());
    if let Some(session) = session {
        request = request.header("mcp-session-id", session);
    }
    request.send().await.unwrap()
}

/// `(id, data)` of each SSE event in `text`; comments are skipped.
fn events(text: &str) -> Vec<(Option<String>, Value)> {
    text.split("\n\n")
        .filter_map(|block| {
            let mut id = None;
            let mut data = None;
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("id: ") {
                    id = Some(v.to_string());
                } else if let Some(v) = line.strip_prefix("data: ") {
                    data = Some(serde_json::from_str(v).unwrap());
                }
            }
            data.map(|d| (id, d))
        })
        .collect()
}

#[tokio::test]
async fn initialize_opens_a_session_that_gates_later_requests() {
    let up = upstream(UpstreamOptions::default()).await;
    let init = request(1, "initialize", json!({ "protocolVersion": "2025-03-26" }));
    let response = post(&up, None, &init).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    let session = response.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_string();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["result"]["protocolVersion"], "2025-03-26");
    assert_eq!(
        body["result"]["serverInfo"]["name"],
        "mcp-warden-demo-upstream"
    );
    assert_eq!(up.sessions(), [session.as_str()]);

    let list = request(2, "tools/list", json!({}));
    assert_eq!(post(&up, None, &list).await.status(), 400);
    assert_eq!(post(&up, Some("bogus"), &list).await.status(), 404);
    let tools: Value = post(&up, Some(&session), &list).await.json().await.unwrap();
    let names: Vec<&str> = tools["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["whoami", "echo", "count"]);

    let note = json!({ "jsonrpc": "2.0", "method": "notifications/initialized" });
    let accepted = post(&up, Some(&session), &note).await;
    assert_eq!(accepted.status(), 202);
    assert!(accepted.bytes().await.unwrap().is_empty());

    let http = reqwest::Client::new();
    let delete = |session: String| {
        http.delete(&up.url)
            .header("mcp-session-id", session)
            .send()
    };
    assert_eq!(delete(session.clone()).await.unwrap().status(), 200);
    assert!(up.sessions().is_empty());
    assert_eq!(post(&up, Some(&session), &list).await.status(), 404);
    assert_eq!(delete(session).await.unwrap().status(), 404);

    assert_eq!(up.request_count(), 8);
    let first = &up.requests()[0];
    assert_eq!(
        (first.method.as_str(), first.path.as_str()),
        ("POST", "/mcp")
    );
    assert_eq!(first.header("MCP-Protocol-Version"), Some("2025-06-18"));
    assert_eq!(first.json(), Some(init));
}

#[tokio::test]
async fn whoami_shows_identity_headers_but_never_the_token() {
    let up = upstream(stateless()).await;
    let response = reqwest::Client::new()
        .post(format!("{}?trace=1", up.url))
        .header("authorization", "Bearer abc.def.ghi")
        .header("x-mcp-auth-subject", "user-1")
        .header("x-mcp-auth-scopes", "all")
        .body(call(3, "whoami", json!({})).to_string())
        .send()
        .await
        .unwrap();
    assert!(response.headers().get("mcp-session-id").is_none());
    let body: Value = response.json().await.unwrap();
    let text = body["result"]["content"][0]["text"].as_str().unwrap();
    assert!(!text.contains("abc.def.ghi"));
    let shown: Value = serde_json::from_str(text).unwrap();
    assert_eq!(
        shown,
        json!({
            "x-mcp-auth-subject": "user-1",
            "x-mcp-auth-client-id": null,
            "x-mcp-auth-scopes": "all",
            "authorization": "Bearer",
        })
    );
    let recorded = &up.requests()[0];
    assert_eq!(recorded.path, "/mcp?trace=1");
    assert_eq!(recorded.header("authorization"), Some("Bearer abc.def.ghi"));

    let echo: Value = post(&up, None, &call(4, "echo", json!({ "message": "hi" })))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(echo["result"]["content"][0]["text"], "Echo: hi");
}

#[tokio::test]
async fn count_streams_progress_before_the_result() {
    let up = upstream(stateless()).await;
    let started = Instant::now();
    let mut response = post(
        &up,
        None,
        &call(5, "count", json!({ "n": 3, "interval_ms": 150 })),
    )
    .await;
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    assert_eq!(response.headers()["x-accel-buffering"], "no");
    let mut text = String::new();
    let mut first_at = None;
    while let Some(chunk) = response.chunk().await.unwrap() {
        first_at.get_or_insert_with(|| started.elapsed());
        text.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    let finished_at = started.elapsed();
    let events = events(&text);
    assert_eq!(events.len(), 4, "{text}");
    for (i, (id, data)) in events[..3].iter().enumerate() {
        assert!(id.is_some());
        assert_eq!(data["method"], "notifications/progress");
        assert_eq!(data["params"]["progress"], i as u64 + 1);
        assert_eq!(data["params"]["progressToken"], 5);
    }
    assert_eq!(events[3].1["id"], 5);
    assert_eq!(events[3].1["result"]["content"][0]["text"], "counted to 3");
    // Three intervals separate the first event from the result.
    assert!(finished_at - first_at.unwrap() >= Duration::from_millis(400));
}

#[tokio::test]
async fn sse_responses_when_configured_and_accepted() {
    let up = upstream(UpstreamOptions {
        sse_responses: true,
        ..UpstreamOptions::default()
    })
    .await;
    let response = post(&up, None, &request(1, "initialize", json!({}))).await;
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    assert!(response.headers().contains_key("mcp-session-id"));
    let events = events(&response.text().await.unwrap());
    assert_eq!(events.len(), 1);
    assert!(events[0].0.is_some());
    assert_eq!(
        events[0].1["result"]["protocolVersion"],
        DEFAULT_PROTOCOL_VERSION
    );
    // Without text/event-stream in Accept: JSON.
    let plain = reqwest::Client::new()
        .post(&up.url)
        .body(request(2, "initialize", json!({})).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(plain.headers()["content-type"], "application/json");
}

#[tokio::test]
async fn protocol_errors() {
    let up = upstream(UpstreamOptions {
        stateless: true,
        get_stream: false,
        ..UpstreamOptions::default()
    })
    .await;
    let http = reqwest::Client::new();
    let garbage = http.post(&up.url).body("{not json").send().await.unwrap();
    assert_eq!(garbage.status(), 400);
    assert_eq!(
        garbage.json::<Value>().await.unwrap()["error"]["code"],
        PARSE_ERROR
    );
    let batch = http.post(&up.url).body("[]").send().await.unwrap();
    assert_eq!(batch.status(), 400);
    let unknown: Value = post(&up, None, &request(9, "resources/list", json!({})))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(unknown["error"]["code"], METHOD_NOT_FOUND);
    assert_eq!(unknown["id"], 9);
    let bad_tool: Value = post(&up, None, &call(10, "nope", json!({})))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(bad_tool["error"]["code"], tools::INVALID_PARAMS);
    let elsewhere = http
        .post(format!("http://{}/other", up.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(elsewhere.status(), 404);
    let get = http
        .get(&up.url)
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), 405);
    assert_eq!(get.headers()["allow"], "POST");
    assert_eq!(http.delete(&up.url).send().await.unwrap().status(), 405);
    assert_eq!(up.request_count(), 7);
}

#[tokio::test]
async fn get_stream_pings_and_acknowledges_last_event_id() {
    let up = upstream(UpstreamOptions::default()).await;
    let init = post(&up, None, &request(1, "initialize", json!({}))).await;
    let session = init.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_string();
    let http = reqwest::Client::new();
    let no_accept = http
        .get(&up.url)
        .header("mcp-session-id", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(no_accept.status(), 406);
    let mut stream = http
        .get(&up.url)
        .header("accept", "text/event-stream")
        .header("mcp-session-id", &session)
        .header("last-event-id", "7")
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    let mut text = String::new();
    while !text.contains(": ping 2") {
        let chunk = stream.chunk().await.unwrap().unwrap();
        text.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    assert!(
        text.starts_with(": resumed after 7\n\n: ping 1\n\n"),
        "{text}"
    );
    assert_eq!(up.requests()[2].header("last-event-id"), Some("7"));
}

#[tokio::test]
async fn status_slow_and_huge_behaviours() {
    let up = upstream(stateless()).await;
    let list = request(7, "tools/list", json!({}));

    up.set_behaviour(UpstreamBehaviour::Status(503));
    let response = post(&up, None, &list).await;
    assert_eq!(response.status(), 503);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        (body["id"].clone(), body["error"]["code"].clone()),
        (json!(7), json!(INTERNAL_ERROR))
    );

    up.set_behaviour(UpstreamBehaviour::SlowHeaders(Duration::from_millis(300)));
    let started = Instant::now();
    assert_eq!(post(&up, None, &list).await.status(), 200);
    assert!(started.elapsed() >= Duration::from_millis(300));

    for size in [10, 200_000] {
        up.set_behaviour(UpstreamBehaviour::Huge(size));
        let response = post(&up, None, &list).await;
        assert_eq!(response.content_length(), Some(size as u64));
        let body = response.bytes().await.unwrap();
        assert_eq!(body.len(), size);
        if size > 100 {
            let json: Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(json["id"], 7);
        }
    }
}

#[tokio::test]
async fn hang_after_headers_sends_headers_then_nothing_until_dropped() {
    let up = upstream(stateless()).await;
    up.set_behaviour(UpstreamBehaviour::HangAfterHeaders);
    let mut response = post(&up, None, &request(1, "tools/list", json!({}))).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let silent = tokio::time::timeout(Duration::from_millis(300), response.chunk()).await;
    assert!(silent.is_err(), "no byte may arrive");
    drop(up);
    let ended = tokio::time::timeout(Duration::from_secs(5), response.chunk()).await;
    assert!(matches!(ended, Ok(Ok(None)) | Ok(Err(_))), "{ended:?}");
}

#[tokio::test]
async fn reset_mid_stream_delivers_one_event_then_aborts() {
    let up = upstream(stateless()).await;
    up.set_behaviour(UpstreamBehaviour::ResetMidStream);
    let mut response = post(&up, None, &request(1, "tools/list", json!({}))).await;
    assert_eq!(response.status(), 200);
    let first = response.chunk().await.unwrap().unwrap();
    let events = events(std::str::from_utf8(&first).unwrap());
    assert_eq!(events[0].1["method"], "notifications/progress");
    assert!(
        response.chunk().await.is_err(),
        "the stream must end abruptly"
    );
}
