//! mcp-warden with the software its users run: the real `oidc-provider`
//! authorization server, the real `@modelcontextprotocol/server-everything`
//! and the real MCP TypeScript SDK client (scripts in `tests/peers/`,
//! installed by `./scripts/test`).

mod support;

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use support::*;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const PEERS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peers");

/// A node peer process and its one-line JSON answer.
struct Peer {
    _child: Child,
    ready: Value,
}

async fn node(script: &str, args: &[&str]) -> (Child, Value) {
    assert!(
        std::path::Path::new(PEERS).join("node_modules").exists(),
        "tests/peers/node_modules is missing: run ./scripts/test (or npm ci --prefix tests/peers)"
    );
    let mut child = Command::new("node")
        .arg(format!("{PEERS}/{script}"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("node is installed");
    let stdout = child.stdout.take().unwrap();
    let line = tokio::time::timeout(Duration::from_secs(30), async {
        BufReader::new(stdout).lines().next_line().await
    })
    .await
    .expect("peer answered within 30 s")
    .unwrap()
    .unwrap_or_default();
    let value =
        serde_json::from_str(&line).unwrap_or_else(|_| panic!("{script}: not JSON: {line}"));
    (child, value)
}

async fn peer(script: &str, args: &[&str]) -> Peer {
    let (child, ready) = node(script, args).await;
    assert_eq!(ready["ready"], true, "{script}: {ready}");
    Peer {
        _child: child,
        ready,
    }
}

/// Runs the SDK client to completion and returns its result line.
async fn client(args: &[&str]) -> Value {
    let (mut child, result) = node("client.mjs", args).await;
    let _ = tokio::time::timeout(Duration::from_secs(30), child.wait()).await;
    result
}

struct World {
    authz: Peer,
    _everything: Peer,
    daemon: mcp_warden::daemon::Daemon,
    gateway: String,
}

/// oidc-provider + server-everything + mcp-warden whose public URL is its
/// own loopback address (the SDK checks that the PRM's resource matches the
/// URL it connects to).
async fn world(extra: &str) -> World {
    let (authz, everything) = tokio::join!(
        peer("authz.mjs", &["--resource", "*"]),
        peer("everything.mjs", &[]),
    );
    let port = free_port();
    let gateway = format!("http://127.0.0.1:{port}");
    let text = config(&resource_to(
        "everything",
        "/mcp",
        authz.ready["issuer"].as_str().unwrap(),
        everything.ready["url"].as_str().unwrap(),
        &format!("{extra}\n{}", curated_scopes()),
    ))
    .replacen(
        "listen = \"127.0.0.1:0\"",
        &format!("listen = \"127.0.0.1:{port}\""),
        1,
    )
    .replace(
        "url = \"https://mcp.example.com\"",
        &format!("url = \"{gateway}\""),
    );
    let daemon = start(&text).await.unwrap();
    World {
        authz,
        _everything: everything,
        daemon,
        gateway,
    }
}

#[tokio::test]
async fn sdk_client_with_an_oidc_provider_token_reaches_server_everything() {
    let w = world("").await;
    let mcp = format!("{}/mcp", w.gateway);
    let token_url = w.authz.ready["token_endpoint"].as_str().unwrap();
    let out = client(&[
        "--url",
        &mcp,
        "--token-url",
        token_url,
        "--resource",
        &mcp,
        "--scope",
        "all project:databases.read",
    ])
    .await;
    assert_eq!(out["ok"], true, "{out}");
    assert_eq!(out["echo"], "Echo: hi");
    let tools: Vec<&str> = out["tools"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        tools.contains(&"echo") && tools.contains(&"get-env"),
        "{tools:?}"
    );
    assert_eq!(out["token_claims"]["aud"], mcp.as_str());
    assert_eq!(out["token_header"]["typ"], "at+jwt");
    assert_eq!(out["session_terminated"], true, "DELETE went through");

    // Without a token: the SDK sees our challenge.
    let out = client(&["--url", &mcp, "--no-token"]).await;
    assert_eq!(out["ok"], false);
    assert_eq!(out["status"], 401);
    let challenge = out["www_authenticate"].as_str().unwrap();
    assert_eq!(
        challenge,
        format!(
            "Bearer resource_metadata=\"{}/.well-known/oauth-protected-resource/mcp\", scope=\"openid profile email all project:all organization:all\"",
            w.gateway
        )
    );
    w.daemon.shutdown().await;
}

/// MCP's full discovery from nothing: the SDK is given only the gateway URL.
#[tokio::test]
async fn sdk_oauth_discovery_requests_exactly_the_curated_scopes() {
    let w = world("").await;
    let mcp = format!("{}/mcp", w.gateway);
    let out = client(&["--url", &mcp, "--oauth"]).await;
    assert_eq!(out["ok"], true, "{out}");
    assert_eq!(out["echo"], "Echo: hi");
    // The 401's scope (= the curated set) drove the authorize request: 6
    // scopes, not the 127-scope catalog.
    assert_eq!(
        out["scope"],
        "openid profile email all project:all organization:all"
    );
    assert_eq!(out["authorize_resources"][0], mcp.as_str());
    w.daemon.shutdown().await;
}
