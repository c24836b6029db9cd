//! `mcp-warden demo`: the whole thing in one process, on loopback only.
//!
//! Starts the demo authorization server (127-scope cloud catalog), the demo
//! MCP upstream, and mcp-warden itself in front of it with a generated
//! configuration written to a temporary file the user can edit (hot reload
//! applies it), then prints a walkthrough of copy-pasteable commands.
//! Ctrl-C stops everything.

use std::net::SocketAddr;
use std::path::Path;

use crate::config::Config;
use crate::daemon::{self, Fatal};
use crate::demo::authz::{AuthServer, Options};
use crate::demo::upstream::{Upstream, UpstreamOptions};

/// The curated set the demo advertises.
pub const CURATED: &str =
    r#"["openid", "profile", "email", "all", "project:all", "organization:all"]"#;

/// Picks a free loopback port (for the public URL, which must be known
/// before the listener binds).
fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn demo_config(
    public: SocketAddr,
    admin: SocketAddr,
    authz: &AuthServer,
    upstream: &Upstream,
) -> String {
    format!(
        r#"# mcp-warden demo configuration. Edit and save: mcp-warden reloads it.
[public]
listen = "{public}"
url = "http://{public}"
shutdown_grace = "2s"

[admin]
listen = "{admin}"

[cache]
ttl = "1m"
retry_min = "1s"
retry_max = "10s"

[log]
level = "warn"

[[resource]]
name = "demo"
path = "/mcp"
issuer = "{issuer}"
upstream = "{upstream}"
resource_name = "mcp-warden demo"

[resource.scopes]
preferred = {CURATED}
# Try: override = ["all", "project:all"]   (applied on save)
# or:  override = ["teams.read"]           (matches nothing: rejected, see /status)
override = []
"#,
        issuer = authz.issuer,
        upstream = upstream.url,
    )
}

/// The walkthrough printed at start.
pub fn walkthrough(
    public: SocketAddr,
    admin: SocketAddr,
    authz: &AuthServer,
    upstream: &Upstream,
    config: &Path,
    catalog: usize,
) -> String {
    let mcp = format!("http://{public}/mcp");
    let id = "demo-client";
    let secret = authz.client_secret();
    let token_url = authz.token_endpoint();
    format!(
        r#"mcp-warden demo: everything on loopback. The authorization server and the MCP
server are DEMO ONLY; mcp-warden in front of them is the real thing.

  gateway (public)      {mcp}
  gateway (admin)       http://{admin}
  authorization server  {issuer}  ({catalog} scopes; client {id} / {secret})
  MCP upstream          {upstream}
  config (edit me)      {config}

1. Protected Resource Metadata: 6 curated scopes out of {catalog}:
   curl -s http://{public}/.well-known/oauth-protected-resource/mcp

2. No token: a 401 challenge pointing at that metadata:
   curl -si -X POST {mcp} -H 'content-type: application/json' -d '{{}}'

3. Get a token (client_credentials, RFC 8707 resource):
   TOKEN=$(curl -s -u {id}:{secret} -d grant_type=client_credentials -d resource={mcp} -d 'scope=all project:all' {token_url} | sed -E 's/.*"access_token":"([^"]+)".*/\1/')

4. Call a tool through the gateway; the upstream sees who you are, never your token:
   curl -s {mcp} -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' -H 'accept: application/json, text/event-stream' -d '{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"whoami","arguments":{{}}}}}}'

5. What operators see:
   curl -s http://{admin}/metrics | grep -E '^mcp_warden_(token_verifications|advertised)'
   curl -s http://{admin}/status
   curl -s -X POST http://{admin}/refresh     # after changing the authorization server

6. Hot reload: set `override = ["all", "project:all"]` in the config file, save, and fetch
   the metadata again. An override that matches nothing is rejected, never widened.

Ctrl-C stops everything.
"#,
        issuer = authz.issuer,
        upstream = upstream.url,
        config = config.display(),
    )
}

/// Runs the demo until SIGINT/SIGTERM. `port`: the gateway's public port (0: free).
pub async fn run(port: u16) -> Result<(), Fatal> {
    let authz = AuthServer::start(Options::default())
        .await
        .map_err(|e| anyhow::anyhow!("demo authorization server: {e}"))?;
    let upstream = Upstream::start(UpstreamOptions {
        stateless: true,
        ..UpstreamOptions::default()
    })
    .await
    .map_err(|e| anyhow::anyhow!("demo upstream: {e}"))?;
    let port = if port == 0 {
        free_port().map_err(anyhow::Error::from)?
    } else {
        port
    };
    let public = SocketAddr::from(([127, 0, 0, 1], port));
    let admin = SocketAddr::from(([127, 0, 0, 1], free_port().map_err(anyhow::Error::from)?));
    let dir = tempfile::Builder::new()
        .prefix("mcp-warden-demo-")
        .tempdir()
        .map_err(|e| anyhow::anyhow!("temporary directory: {e}"))?;
    let path = dir.path().join("config.toml");
    std::fs::write(&path, demo_config(public, admin, &authz, &upstream))
        .map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))?;
    let config = Config::load(&path)?;
    crate::telemetry::init(&config.log);
    let daemon = daemon::start(config, Some(path.clone())).await?;
    print!(
        "{}",
        walkthrough(
            public,
            daemon.admin_addr,
            &authz,
            &upstream,
            &path,
            crate::demo::authz::cloud_catalog().len()
        )
    );
    use std::io::Write as _;
    let _ = std::io::stdout().flush();
    let result = daemon.run().await;
    println!("demo stopped");
    drop(dir);
    result
}
