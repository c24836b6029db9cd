//! `mcp-warden demo` as a newcomer runs it: start the process, follow its
//! printed walkthrough programmatically, stop it with Ctrl-C (SIGINT).

use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

const BIN: &str = env!("CARGO_BIN_EXE_mcp-warden");

/// The value after `label` on its walkthrough line.
fn field<'a>(out: &'a str, label: &str) -> &'a str {
    out.lines()
        .find_map(|l| l.trim_start().strip_prefix(label))
        .unwrap_or_else(|| panic!("no {label:?} in:\n{out}"))
        .split_whitespace()
        .next()
        .unwrap()
}

#[tokio::test]
async fn the_demo_walkthrough_works_and_ctrl_c_stops_it() {
    let mut child = tokio::process::Command::new(BIN)
        .args(["demo", "--port", "0"])
        .env_remove("MCP_OAUTH_SCOPES")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut out = String::new();
    tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            out.push_str(&line);
            out.push('\n');
            if line.starts_with("Ctrl-C") {
                break;
            }
        }
    })
    .await
    .expect("the walkthrough is printed within 30 s");

    let mcp = field(&out, "gateway (public)").to_owned();
    let admin = field(&out, "gateway (admin)").to_owned();
    let config = field(&out, "config (edit me)").to_owned();
    assert!(mcp.starts_with("http://127.0.0.1:"), "{mcp}");
    assert!(out.contains("6 curated scopes out of 127"), "{out}");
    assert!(std::path::Path::new(&config).exists());

    let c = reqwest::Client::new();
    // 1. The PRM advertises the curated set.
    let prm_url = mcp.replace("/mcp", "/.well-known/oauth-protected-resource/mcp");
    let prm: Value = c.get(&prm_url).send().await.unwrap().json().await.unwrap();
    assert_eq!(
        prm["scopes_supported"],
        json!([
            "openid",
            "profile",
            "email",
            "all",
            "project:all",
            "organization:all"
        ])
    );
    assert_eq!(prm["resource"], mcp.as_str());

    // 2. No token: 401 with the challenge.
    let r = c.post(&mcp).json(&json!({})).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains(&prm_url)
    );

    // 3. A token from the demo authorization server, as the printed curl gets it.
    let creds = out
        .lines()
        .find_map(|l| l.split("curl -s -u ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .expect("the token command")
        .to_owned();
    let (id, secret) = creds.split_once(':').unwrap();
    let token_url = out
        .lines()
        .find(|l| l.contains("TOKEN=$("))
        .and_then(|l| l.split_whitespace().find(|w| w.ends_with("/token")))
        .unwrap()
        .to_owned();
    let token: Value = c
        .post(&token_url)
        .basic_auth(id, Some(secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(
            url::form_urlencoded::Serializer::new(String::new())
                .append_pair("grant_type", "client_credentials")
                .append_pair("resource", &mcp)
                .append_pair("scope", "all project:all")
                .finish(),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["access_token"].as_str().expect("a token").to_owned();

    // 4. whoami through the gateway: identity headers, no Authorization.
    let call = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "whoami", "arguments": {}}});
    let r: Value = c
        .post(&mcp)
        .bearer_auth(&token)
        .header("accept", "application/json, text/event-stream")
        .json(&call)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let seen = &r["result"]["structuredContent"];
    assert_eq!(seen["x-mcp-auth-client-id"], "demo-client");
    assert_eq!(seen["x-mcp-auth-scopes"], "all project:all");
    assert_eq!(seen["authorization"], Value::Null);

    // 5. The admin side answers.
    let status: Value = c
        .get(format!("{admin}/status"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["resources"][0]["advertised"]["choice"], "curated");

    // Ctrl-C: a clean stop, exit 0.
    let pid = child.id().unwrap().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("stops within 10 s")
        .unwrap();
    assert_eq!(status.code(), Some(0));
}
