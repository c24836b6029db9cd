//! Shared test support: start the real daemon on `127.0.0.1:0` in front of
//! the demo authorization server, and talk to it over real HTTP.
#![allow(dead_code)] // each test binary uses a different subset

use std::future::Future;
use std::time::Duration;

use mcp_warden::config::Config;
use mcp_warden::daemon::{self, Daemon, Fatal};
#[allow(unused_imports)]
pub use mcp_warden::demo::authz::{AuthServer, Behaviour, Options, cloud_catalog};

pub const CURATED: [&str; 6] = [
    "openid",
    "profile",
    "email",
    "all",
    "project:all",
    "organization:all",
];

/// A `[[resource]]` block for `issuer`, with optional extra lines.
pub fn resource(name: &str, path: &str, issuer: &str, extra: &str) -> String {
    resource_to(name, path, issuer, "http://127.0.0.1:9/mcp", extra)
}

/// As [`resource`], forwarding to `upstream`.
pub fn resource_to(name: &str, path: &str, issuer: &str, upstream: &str, extra: &str) -> String {
    format!(
        r#"
[[resource]]
name = "{name}"
path = "{path}"
issuer = "{issuer}"
upstream = "{upstream}"
{extra}
"#
    )
}

/// A whole config on ephemeral ports with fast retries.
pub fn config(resources: &str) -> String {
    format!(
        r#"
[public]
listen = "127.0.0.1:0"
url = "https://mcp.example.com"
shutdown_grace = "1s"

[admin]
listen = "127.0.0.1:0"

[cache]
ttl = "5m"
fetch_timeout = "1s"
retry_min = "100ms"
retry_max = "400ms"
{resources}"#
    )
}

pub fn curated_scopes() -> String {
    let list: Vec<String> = CURATED.iter().map(|s| format!("{s:?}")).collect();
    format!("[resource.scopes]\npreferred = [{}]\n", list.join(", "))
}

pub async fn start(config_text: &str) -> Result<Daemon, Fatal> {
    let config = Config::from_text(config_text, None).expect("test config is valid");
    daemon::start(config, None).await
}

pub async fn auth_server() -> AuthServer {
    AuthServer::start(Options::default())
        .await
        .expect("start demo authorization server")
}

pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

pub fn url(daemon: &Daemon, path: &str) -> String {
    format!("http://{}{path}", daemon.public_addr)
}

/// Polls `check` until it returns `Some`, failing after `within`.
pub async fn eventually<T, F, Fut>(within: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "condition not met within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Sends `signal` (`TERM`, `HUP`, `INT`, …) to process `pid`.
pub fn signal(signal: &str, pid: u32) {
    let ok = std::process::Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .status()
        .expect("run kill")
        .success();
    assert!(ok, "kill -{signal} {pid} failed");
}

/// SIGTERM to a spawned daemon; its exit code once it has exited (bounded
/// by `within`).
pub async fn terminate(child: &mut tokio::process::Child, within: Duration) -> Option<i32> {
    signal("TERM", child.id().expect("still running"));
    tokio::time::timeout(within, child.wait())
        .await
        .expect("mcp-warden exits")
        .expect("wait for mcp-warden")
        .code()
}

/// A [`config`] text with fixed public and admin ports instead of `:0`
/// (a spawned process cannot report the ports it bound).
pub fn with_ports(text: &str, public: u16, admin: u16) -> String {
    text.replacen(
        "listen = \"127.0.0.1:0\"",
        &format!("listen = \"127.0.0.1:{public}\""),
        1,
    )
    .replacen(
        "listen = \"127.0.0.1:0\"",
        &format!("listen = \"127.0.0.1:{admin}\""),
        1,
    )
}

/// A port that was free a moment ago (bound on `:0`, then released), for a
/// config file that must name its listen addresses.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind an ephemeral port")
        .port()
}

/// The demo MCP upstream in stateless JSON mode, the usual one behind a
/// test gateway.
pub async fn stateless_upstream() -> mcp_warden::demo::upstream::Upstream {
    use mcp_warden::demo::upstream::{Upstream, UpstreamOptions};
    Upstream::start(UpstreamOptions {
        stateless: true,
        ..UpstreamOptions::default()
    })
    .await
    .expect("start the demo upstream")
}
