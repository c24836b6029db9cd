//! mcp-warden: an OAuth 2.1 resource server for MCP servers.
//!
//! It publishes Protected Resource Metadata (RFC 9728) with a curated scope
//! set intersected with the authorization server's live catalog, keeps that
//! catalog and the signing keys in refresh-ahead, stale-if-error caches,
//! verifies the bearer token of every request, and streams authenticated
//! requests to the upstream MCP server.
//!
//! # Layout
//! Layers from the bottom up; a module uses only modules listed before it
//! (`tests/layout.rs` fails on an import cycle, a file over 600 lines or a
//! file without a `//!` doc).
//!
//! **Rules** — pure, no I/O:
//! - [`oauth`]: the protocol rules as functions over values: grammars,
//!   the scope policy, RFC 9728 documents, RFC 6750 challenges and bearer
//!   extraction, JWT access-token checks, the tools a JSON-RPC body calls.
//!
//! **Configuration**:
//! - [`config`]: the TOML file's shape, parsing (every error, with lines),
//!   validation, and the secret files it names (read at load, so `check`
//!   and the daemon fail alike).
//!
//! **Authorization servers**:
//! - [`issuer`]: bounded fetches, the refresh-ahead cache, discovery,
//!   JWKS, and token verification with the verified-token cache.
//!
//! **Observation**:
//! - [`metrics`]: the registry and every metric, label values from the
//!   enums that own them;
//! - [`telemetry`]: logging to stderr, as text or JSON;
//! - [`systemd`]: sd_notify (a leaf).
//!
//! **Serving**:
//! - [`state`]: the immutable config [`state::Snapshot`] behind `ArcSwap`
//!   and the per-resource runtimes (caches) that outlive reloads;
//! - [`proxy`]: the upstream header policy and the streaming forward;
//! - [`server`]: one `serve` for both listeners, and the reply helpers;
//! - [`gateway`]: the public listener: metadata, the checks of an MCP
//!   request, and every refusal as one [`gateway::Denial`];
//! - [`reload`]: the one reload path and the file watcher;
//! - [`admin`]: the admin listener (metrics, status, refresh, reload,
//!   readiness).
//!
//! **Process**:
//! - [`daemon`]: bind, first discovery, serve, signals, graceful drain;
//! - [`cli`]: the command line and exit codes;
//! - [`demo`] (cargo feature `demo`, on by default): loopback demo peers
//!   (an authorization server and an MCP server) for `mcp-warden demo` and
//!   the test suite; never on a production request path.
#![forbid(unsafe_code)]

pub mod admin;
pub mod cli;
pub mod config;
pub mod daemon;
#[cfg(feature = "demo")]
pub mod demo;
pub mod gateway;
pub mod issuer;
pub mod metrics;
pub mod oauth;
pub mod proxy;
pub mod reload;
pub mod server;
pub mod state;
pub mod systemd;
pub mod telemetry;
