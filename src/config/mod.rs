//! The TOML configuration: its shape, its defaults, and its validation.
//!
//! [`Config::parse_str`] is pure (text in, config or *all* errors out) so that
//! the daemon, `mcp-warden check` and hot reload share exactly one validation
//! path. [`Config::load`] adds the file read. Every error names the key it is
//! about and, where the key appears in the file, its line.

mod parse;
mod secrets;
mod validate;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use url::Url;

use crate::oauth::token::JwsAlgorithm;

pub use parse::{ConfigError, ConfigErrors};
pub use secrets::{AdminToken, UpstreamHeaders};

/// Environment variable that, when set and non-empty, replaces
/// `[resource.scopes] override` for every resource (space-separated): the
/// variable hosted MCP servers commonly read for their scope override.
pub const SCOPES_ENV: &str = "MCP_OAUTH_SCOPES";

/// The whole configuration file.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub public: Public,
    pub admin: Admin,
    pub cache: CacheSettings,
    pub log: Log,
    pub resources: Vec<Resource>,
    /// SHA-256 (hex) of the text and any `MCP_OAUTH_SCOPES` value it was
    /// parsed with: identical content, identical hash.
    pub hash: String,
}

/// `[public]`: the listener MCP clients talk to.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Public {
    #[serde(default = "defaults::public_listen")]
    pub listen: SocketAddr,
    /// External base URL (scheme, host, optional path prefix). Resource
    /// identifiers and metadata URLs are built from it, never from `Host`.
    pub url: Url,
    #[serde(default = "defaults::max_body_bytes")]
    pub max_body_bytes: u64,
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    #[serde(default = "defaults::shutdown_grace", with = "humantime_serde")]
    pub shutdown_grace: Duration,
}

/// `[admin]`: the operator's listener (metrics, refresh, status).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Admin {
    #[serde(default = "defaults::admin_listen")]
    pub listen: SocketAddr,
    /// File holding the bearer token for the admin POST endpoints and
    /// `/status`. Empty or absent: no token (loopback listeners only).
    #[serde(default, deserialize_with = "parse::empty_path_is_none")]
    pub token_file: Option<PathBuf>,
    /// The token `token_file` held when the configuration was loaded.
    #[serde(skip)]
    pub token: Option<AdminToken>,
}

impl Default for Admin {
    fn default() -> Self {
        Admin {
            listen: defaults::admin_listen(),
            token_file: None,
            token: None,
        }
    }
}

/// `[cache]`: freshness rules shared by every discovery and JWKS cache.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CacheSettings {
    /// How long a fetched document is fresh. Refreshed ahead of expiry.
    #[serde(with = "humantime_serde")]
    pub ttl: Duration,
    /// How long past `ttl` a document may still be served while refreshes fail.
    #[serde(with = "humantime_serde")]
    pub max_stale: Duration,
    /// Time limit for one HTTP fetch from the authorization server.
    #[serde(with = "humantime_serde")]
    pub fetch_timeout: Duration,
    /// First retry delay after a failed refresh; doubles up to `retry_max`.
    #[serde(with = "humantime_serde")]
    pub retry_min: Duration,
    #[serde(with = "humantime_serde")]
    pub retry_max: Duration,
    /// Minimum interval between JWKS refetches caused by an unknown `kid`.
    #[serde(with = "humantime_serde")]
    pub jwks_cooldown: Duration,
}

impl Default for CacheSettings {
    fn default() -> Self {
        CacheSettings {
            ttl: Duration::from_secs(300),
            max_stale: Duration::from_secs(24 * 3600),
            fetch_timeout: Duration::from_secs(10),
            retry_min: Duration::from_secs(2),
            retry_max: Duration::from_secs(300),
            jwks_cooldown: Duration::from_secs(30),
        }
    }
}

/// `[log]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Log {
    pub format: LogFormat,
    /// A `tracing` filter directive; `RUST_LOG` wins when set.
    pub level: String,
}

impl Default for Log {
    fn default() -> Self {
        Log {
            format: LogFormat::Text,
            level: "info".into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// One `[[resource]]`: a protected MCP endpoint with its own authorization
/// server, caches and scope policy.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resource {
    pub name: String,
    /// Path of the MCP endpoint below `public.url`.
    pub path: String,
    /// The authorization server's issuer identifier; discovery URLs are
    /// derived from it (RFC 8414 §3.1) and the document must echo it exactly.
    /// Kept as written: RFC 8414 §3.3 compares issuers as exact strings.
    #[serde(default)]
    pub issuer: Option<String>,
    /// An explicit discovery document URL; its `issuer` is then trusted.
    #[serde(default)]
    pub discovery_url: Option<Url>,
    pub upstream: Url,
    #[serde(default)]
    pub resource_name: Option<String>,
    #[serde(default)]
    pub resource_documentation: Option<Url>,
    /// Extra accepted token audiences besides the canonical resource URL.
    #[serde(default)]
    pub audiences: Vec<String>,
    /// Mirror the authorization server metadata at the root well-known URLs
    /// for 2025-03-26-era clients (only when exactly one resource opts in).
    #[serde(default)]
    pub legacy_as_metadata: bool,
    #[serde(default)]
    pub scopes: Scopes,
    #[serde(default)]
    pub token: Token,
    /// RFC 9396 `authorization_details` types this resource understands,
    /// advertised as PRM `authorization_details_types_supported` (RFC 9728 §2).
    #[serde(default)]
    pub authorization_details_types: Vec<String>,
    /// Tool name to the scopes a `tools/call` of it needs (step-up, 403).
    #[serde(default)]
    pub tools: BTreeMap<String, Vec<String>>,
    /// Forward the client's `Authorization` header upstream. MCP forbids
    /// token passthrough; only for an upstream in the authorization server's
    /// own trust domain that validates the token itself.
    #[serde(default)]
    pub forward_token: bool,
    /// Send `X-Mcp-Auth-Subject`, `-Client-Id` and `-Scopes` upstream.
    #[serde(default = "defaults::yes")]
    pub identity_headers: bool,
    /// Static headers added to every upstream request (e.g. the upstream's
    /// own credential).
    #[serde(default)]
    pub upstream_headers: BTreeMap<String, String>,
    /// Like `upstream_headers`, with each value read from a file at load
    /// (trailing newline trimmed), so secrets stay out of the config.
    #[serde(default)]
    pub upstream_header_files: BTreeMap<String, PathBuf>,
    /// `upstream_headers` and the values of `upstream_header_files`, as
    /// read when the configuration was loaded.
    #[serde(skip)]
    pub headers: UpstreamHeaders,
    /// How long the upstream may take to send response headers (then 504).
    #[serde(default = "defaults::upstream_timeout", with = "humantime_serde")]
    pub upstream_timeout: Duration,
}

/// `[resource.scopes]`: what to advertise in `scopes_supported`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Scopes {
    /// The curated set, intersected with the live catalog.
    pub preferred: Vec<String>,
    /// Operator override: replaces `preferred` and is strict (an override
    /// that matches nothing in the live catalog is an error, never a fallback).
    #[serde(rename = "override")]
    pub override_: Vec<String>,
    /// Scopes every request must carry.
    pub required: Vec<String>,
    /// Warn when the advertised set joined by spaces is longer than this.
    pub max_chars: usize,
    /// Scope hierarchy: a granted scope (key) also satisfies the listed
    /// narrower scopes, transitively (MCP 2026-07-28 step-up: servers account
    /// for scope hierarchies). E.g. `{ "project:all" = ["project:functions.write"] }`.
    pub implies: BTreeMap<String, Vec<String>>,
}

impl Scopes {
    /// The part of this section the advertising rule reads.
    pub fn policy(&self) -> crate::oauth::scopes::Policy<'_> {
        crate::oauth::scopes::Policy {
            preferred: &self.preferred,
            override_: &self.override_,
            max_chars: self.max_chars,
        }
    }
}

impl Default for Scopes {
    fn default() -> Self {
        Scopes {
            preferred: Vec::new(),
            override_: Vec::new(),
            required: Vec::new(),
            max_chars: 1024,
            implies: BTreeMap::new(),
        }
    }
}

/// `[resource.token]`: access-token validation settings.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Token {
    pub algorithms: Vec<JwsAlgorithm>,
    #[serde(with = "humantime_serde")]
    pub leeway: Duration,
    /// Require the RFC 9068 `typ` header `at+jwt`.
    pub require_typ: bool,
}

impl Default for Token {
    fn default() -> Self {
        Token {
            algorithms: JwsAlgorithm::ALL.to_vec(),
            leeway: Duration::from_secs(30),
            require_typ: false,
        }
    }
}

/// Where a resource finds its authorization server's metadata.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum IssuerSource {
    /// Derive discovery URLs from the issuer and require an exact echo.
    Issuer(String),
    /// Fetch this document and trust the issuer it names.
    DiscoveryUrl(Url),
}

impl Resource {
    /// The issuer or discovery URL (validation guarantees exactly one).
    pub fn issuer_source(&self) -> IssuerSource {
        match (&self.issuer, &self.discovery_url) {
            (_, Some(url)) => IssuerSource::DiscoveryUrl(url.clone()),
            (Some(issuer), None) => IssuerSource::Issuer(issuer.clone()),
            (None, None) => unreachable!("validation requires issuer or discovery_url"),
        }
    }
}

impl Config {
    /// Reads and validates the configuration file at `path`, with
    /// `MCP_OAUTH_SCOPES` and every secret file it names: what the daemon,
    /// each reload and `mcp-warden check` run.
    ///
    /// Returns every problem found, each naming its key and line; a file that
    /// cannot be read is reported as one error naming the path.
    pub fn load(path: &std::path::Path) -> Result<Config, ConfigErrors> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigErrors::single(ConfigError::new(
                None,
                None,
                format!("cannot read {}: {e}", path.display()),
            ))
        })?;
        Config::parse_str(&text)
    }

    /// As [`Config::load`], from text: reads `MCP_OAUTH_SCOPES` and the
    /// secret files (relative paths from the working directory).
    pub fn parse_str(text: &str) -> Result<Config, ConfigErrors> {
        let env_override = std::env::var(SCOPES_ENV).ok();
        Config::from_text(text, env_override.as_deref())
    }

    /// As [`Config::parse_str`], with the `MCP_OAUTH_SCOPES` value passed in.
    pub fn from_text(text: &str, scopes_env: Option<&str>) -> Result<Config, ConfigErrors> {
        let mut config = Config::parse_with_env(text, scopes_env)?;
        secrets::read(&mut config, text)?;
        Ok(config)
    }

    /// Parses and validates configuration text without any I/O: the secret
    /// files are not read (`admin.token` and each resource's `headers` stay
    /// empty). For fuzzing and for checking documentation examples; a daemon
    /// needs [`Config::from_text`] or [`Config::load`].
    pub fn parse_with_env(text: &str, scopes_env: Option<&str>) -> Result<Config, ConfigErrors> {
        let mut config = parse::parse(text)?;
        if let Some(env) = scopes_env {
            let scopes: Vec<String> = env.split_whitespace().map(str::to_owned).collect();
            if !scopes.is_empty() {
                for resource in &mut config.resources {
                    resource.scopes.override_ = scopes.clone();
                }
            }
        }
        validate::validate(&config, text)?;
        let mut hashed = text.as_bytes().to_vec();
        hashed.push(0);
        hashed.extend_from_slice(scopes_env.unwrap_or_default().as_bytes());
        config.hash = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &hashed)
            .as_ref()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Ok(config)
    }
}

mod defaults {
    use std::net::SocketAddr;
    use std::time::Duration;

    pub fn public_listen() -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], 8080))
    }
    pub fn admin_listen() -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], 9090))
    }
    pub fn max_body_bytes() -> u64 {
        4 * 1024 * 1024
    }
    pub fn shutdown_grace() -> Duration {
        Duration::from_secs(10)
    }
    pub fn upstream_timeout() -> Duration {
        Duration::from_secs(120)
    }
    pub fn yes() -> bool {
        true
    }
}

#[cfg(test)]
mod tests;
