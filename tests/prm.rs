//! Protected Resource Metadata served by the real daemon in front of the
//! demo authorization server, over real HTTP.

mod support;

use std::time::Duration;

use mcp_warden::issuer::cache::Trigger;
use serde_json::{Value, json};
use support::*;

async fn get(client: &reqwest::Client, url: &str) -> (u16, reqwest::header::HeaderMap, Value) {
    let r = client.get(url).send().await.unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let body = r.json().await.unwrap_or(Value::Null);
    (status, headers, body)
}

#[tokio::test]
async fn prm_advertises_the_curated_set_for_one_resource() {
    let authz = auth_server().await;
    let cfg = config(&resource(
        "appwrite",
        "/mcp",
        &authz.issuer,
        &format!("resource_name = \"Appwrite MCP\"\n{}", curated_scopes()),
    ));
    let daemon = start(&cfg).await.unwrap();
    let c = http();
    let (status, headers, body) = get(
        &c,
        &url(&daemon, "/.well-known/oauth-protected-resource/mcp"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({
            "resource": "https://mcp.example.com/mcp",
            "authorization_servers": [authz.issuer],
            "scopes_supported": CURATED,
            "bearer_methods_supported": ["header"],
            "resource_name": "Appwrite MCP",
        })
    );
    assert_eq!(headers["access-control-allow-origin"], "*");
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(headers["cache-control"], "public, max-age=60");
    // 127 scopes in the catalog, six advertised.
    assert_eq!(cloud_catalog().len(), 127);

    // Root well-known: unambiguous with one resource.
    let (status, _, root) = get(&c, &url(&daemon, "/.well-known/oauth-protected-resource")).await;
    assert_eq!(status, 200);
    assert_eq!(root, body);
    daemon.shutdown().await;
}

#[tokio::test]
async fn two_resources_each_with_their_own_authorization_server() {
    let a = auth_server().await;
    let b = AuthServer::start(Options {
        issuer_path: "/v1/oauth2/console".into(),
        catalog: vec!["read".into(), "write".into(), "offline_access".into()],
        oauth_metadata: false,
        ..Options::default()
    })
    .await
    .unwrap();
    let cfg = config(&format!(
        "{}{}",
        resource("a", "/a/mcp", &a.issuer, &curated_scopes()),
        resource("b", "/b/mcp", &b.issuer, &curated_scopes()),
    ));
    let daemon = start(&cfg).await.unwrap();
    let c = http();
    let (_, _, doc_a) = get(
        &c,
        &url(&daemon, "/.well-known/oauth-protected-resource/a/mcp"),
    )
    .await;
    assert_eq!(doc_a["resource"], "https://mcp.example.com/a/mcp");
    assert_eq!(doc_a["authorization_servers"], json!([a.issuer]));
    assert_eq!(doc_a["scopes_supported"], json!(CURATED));
    let (_, _, doc_b) = get(
        &c,
        &url(&daemon, "/.well-known/oauth-protected-resource/b/mcp"),
    )
    .await;
    assert_eq!(doc_b["resource"], "https://mcp.example.com/b/mcp");
    assert_eq!(doc_b["authorization_servers"], json!([b.issuer]));
    // A custom catalog with none of the preferred scopes is mirrored, minus offline_access.
    assert_eq!(doc_b["scopes_supported"], json!(["read", "write"]));
    // The path-aware issuer was found through the OIDC fallback locations.
    assert!(b.discovery_requests() >= 1);

    // Root well-known is ambiguous with two resources.
    let (status, _, body) = get(&c, &url(&daemon, "/.well-known/oauth-protected-resource")).await;
    assert_eq!(status, 404);
    assert_eq!(body["error"], "not_found");
    daemon.shutdown().await;
}

#[tokio::test]
async fn head_options_and_other_methods() {
    let authz = auth_server().await;
    let daemon = start(&config(&resource("r", "/mcp", &authz.issuer, "")))
        .await
        .unwrap();
    let c = http();
    let prm = url(&daemon, "/.well-known/oauth-protected-resource/mcp");
    let head = c.head(&prm).send().await.unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(head.headers()["access-control-allow-origin"], "*");
    assert!(head.bytes().await.unwrap().is_empty());

    let options = c
        .request(reqwest::Method::OPTIONS, &prm)
        .send()
        .await
        .unwrap();
    assert_eq!(options.status(), 204);
    assert_eq!(
        options.headers()["access-control-allow-methods"],
        "GET, HEAD, OPTIONS"
    );

    let post = c.post(&prm).send().await.unwrap();
    assert_eq!(post.status(), 405);
    assert_eq!(post.headers()["allow"], "GET, HEAD, OPTIONS");

    let (status, _, body) = get(&c, &url(&daemon, "/nope")).await;
    assert_eq!((status, body["error"].as_str()), (404, Some("not_found")));
    let (status, _, _) = get(&c, &url(&daemon, "/healthz")).await;
    assert_eq!(status, 200);
    daemon.shutdown().await;
}

#[tokio::test]
async fn prm_is_503_until_the_authorization_server_answers() {
    let authz = auth_server().await;
    authz.set_behaviour(Behaviour::Status(500));
    let daemon = start(&config(&resource("r", "/mcp", &authz.issuer, "")))
        .await
        .unwrap();
    let c = http();
    let prm = url(&daemon, "/.well-known/oauth-protected-resource/mcp");
    let (status, headers, body) = get(&c, &prm).await;
    assert_eq!(status, 503);
    assert!(
        headers["retry-after"]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            >= 1
    );
    assert_eq!(body["error"], "temporarily_unavailable");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("HTTP 500"),
        "{body}"
    );

    authz.set_behaviour(Behaviour::Normal);
    let doc = eventually(Duration::from_secs(5), || async {
        let (status, _, body) = get(&c, &prm).await;
        (status == 200).then_some(body)
    })
    .await;
    assert_eq!(doc["authorization_servers"], json!([authz.issuer]));
    daemon.shutdown().await;
}

/// Every way an authorization server can answer badly gives a 503 naming
/// the cause, and the daemon keeps serving.
#[tokio::test]
async fn bad_authorization_server_answers() {
    let cases = [
        (Behaviour::Hang, "did not answer within 1s"),
        (Behaviour::Status(404), "HTTP 404"),
        (Behaviour::RedirectLoop, "too many redirects"),
        (Behaviour::Garbage, "invalid JSON"),
        (Behaviour::WrongShape, "not a JSON object"),
        (Behaviour::Huge, "larger than 1048576 bytes"),
        (Behaviour::WrongIssuer, "issuer mismatch"),
        (Behaviour::NoJwksUri, "no `jwks_uri`"),
    ];
    for (behaviour, want) in cases {
        let authz = auth_server().await;
        authz.set_behaviour(behaviour.clone());
        let daemon = start(&config(&resource("r", "/mcp", &authz.issuer, "")))
            .await
            .unwrap();
        let c = http();
        let (status, headers, body) = get(
            &c,
            &url(&daemon, "/.well-known/oauth-protected-resource/mcp"),
        )
        .await;
        assert_eq!(status, 503, "{behaviour:?}");
        assert!(headers.contains_key("retry-after"), "{behaviour:?}");
        let description = body["error_description"].as_str().unwrap();
        assert!(description.contains(want), "{behaviour:?}: {description}");
        let (status, _, _) = get(&c, &url(&daemon, "/healthz")).await;
        assert_eq!(status, 200, "{behaviour:?}: still serving");
        daemon.shutdown().await;
    }
}

#[tokio::test]
async fn unreachable_authorization_server_does_not_stop_startup() {
    // Bind and drop: nothing listens on this port any more.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let issuer = format!("http://127.0.0.1:{port}");
    let daemon = start(&config(&resource("r", "/mcp", &issuer, "")))
        .await
        .unwrap();
    let (status, _, body) = get(
        &http(),
        &url(&daemon, "/.well-known/oauth-protected-resource/mcp"),
    )
    .await;
    assert_eq!(status, 503);
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("cannot connect"),
        "{body}"
    );
    daemon.shutdown().await;
}

#[tokio::test]
async fn strict_override_mismatch_at_startup_is_fatal() {
    let authz = auth_server().await;
    let extra = "[resource.scopes]\noverride = [\"account.admin\", \"teams.read\"]\n";
    let err = match start(&config(&resource("appwrite", "/mcp", &authz.issuer, extra))).await {
        Ok(_) => panic!("a non-matching override must not start"),
        Err(e) => e,
    };
    assert_eq!(err.exit_code(), 78);
    let text = err.to_string();
    assert!(text.contains("\"appwrite\""), "{text}");
    assert!(text.contains("account.admin teams.read"), "{text}");
    assert!(text.contains("127 scopes"), "{text}");
}

#[tokio::test]
async fn catalog_change_breaking_the_override_gives_503_never_the_catalog() {
    let authz = auth_server().await;
    let extra = "[resource.scopes]\noverride = [\"all\", \"project:all\"]\n";
    let daemon = start(&config(&resource("r", "/mcp", &authz.issuer, extra)))
        .await
        .unwrap();
    let c = http();
    let prm = url(&daemon, "/.well-known/oauth-protected-resource/mcp");
    let (_, _, body) = get(&c, &prm).await;
    assert_eq!(body["scopes_supported"], json!(["all", "project:all"]));

    // The authorization server reworks its scope model again.
    authz.set_catalog(vec!["openid".into(), "console:all".into()]);
    let snapshot = daemon.app.snapshot();
    snapshot.resources[0]
        .runtime
        .discovery
        .refresh(Trigger::Forced)
        .await
        .unwrap();
    let (status, headers, body) = get(&c, &prm).await;
    assert_eq!(status, 503);
    assert!(headers.contains_key("retry-after"));
    assert_eq!(body["error"], "scope_override_mismatch");
    assert_eq!(body["override"], json!(["all", "project:all"]));
    assert!(body.get("scopes_supported").is_none());
    daemon.shutdown().await;
}

#[tokio::test]
async fn removed_scopes_disappear_after_a_refresh() {
    let authz = auth_server().await;
    let daemon = start(&config(&resource(
        "r",
        "/mcp",
        &authz.issuer,
        &curated_scopes(),
    )))
    .await
    .unwrap();
    let c = http();
    let prm = url(&daemon, "/.well-known/oauth-protected-resource/mcp");
    authz.set_catalog(vec!["openid".into(), "email".into(), "all".into()]);
    daemon.app.snapshot().resources[0]
        .runtime
        .discovery
        .refresh(Trigger::Forced)
        .await
        .unwrap();
    let (_, _, body) = get(&c, &prm).await;
    assert_eq!(body["scopes_supported"], json!(["openid", "email", "all"]));
    daemon.shutdown().await;
}

#[tokio::test]
async fn stale_metadata_is_served_through_an_outage_without_a_retry_storm() {
    let authz = auth_server().await;
    let text = config(&resource("r", "/mcp", &authz.issuer, &curated_scopes()))
        .replace("ttl = \"5m\"", "ttl = \"300ms\"");
    let daemon = start(&text).await.unwrap();
    let c = http();
    let prm = url(&daemon, "/.well-known/oauth-protected-resource/mcp");
    authz.set_behaviour(Behaviour::Status(503));
    let before = authz.discovery_requests();
    let runtime = daemon.app.snapshot().resources[0].runtime.clone();
    // Hammer the metadata endpoint through the outage until it is served stale.
    let mut requests = 0;
    let started = std::time::Instant::now();
    while runtime
        .discovery
        .stats
        .stale_serves
        .load(std::sync::atomic::Ordering::Relaxed)
        < 50
    {
        let (status, _, body) = get(&c, &prm).await;
        assert_eq!(status, 200, "stale metadata keeps being served");
        assert_eq!(body["scopes_supported"], json!(CURATED));
        requests += 1;
        assert!(started.elapsed() < Duration::from_secs(10));
    }
    let fetches = authz.discovery_requests() - before;
    let elapsed = started.elapsed().as_secs_f64();
    // Retries follow the 100-400 ms backoff, not the request rate.
    assert!(
        (fetches as f64) <= elapsed / 0.1 + 2.0,
        "{fetches} fetches for {requests} requests in {elapsed:.2}s"
    );
    assert!(
        requests > fetches * 5,
        "{fetches} fetches for {requests} requests"
    );
    daemon.shutdown().await;
}

#[tokio::test]
async fn legacy_authorization_server_metadata_mirror() {
    let authz = auth_server().await;
    let daemon = start(&config(&resource(
        "r",
        "/mcp",
        &authz.issuer,
        "legacy_as_metadata = true",
    )))
    .await
    .unwrap();
    let c = http();
    for path in [
        "/.well-known/oauth-authorization-server",
        "/.well-known/openid-configuration",
    ] {
        let (status, headers, body) = get(&c, &url(&daemon, path)).await;
        assert_eq!(status, 200, "{path}");
        assert_eq!(headers["access-control-allow-origin"], "*");
        assert_eq!(body["issuer"], authz.issuer);
        assert_eq!(body["token_endpoint"], format!("{}/token", authz.issuer));
    }
    daemon.shutdown().await;

    // Without the opt-in, nothing is mirrored.
    let daemon = start(&config(&resource("r", "/mcp", &authz.issuer, "")))
        .await
        .unwrap();
    let (status, _, _) = get(&c, &url(&daemon, "/.well-known/oauth-authorization-server")).await;
    assert_eq!(status, 404);
    daemon.shutdown().await;
}
