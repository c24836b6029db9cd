//! mcp-warden: an OAuth 2.1 resource server for MCP servers.
//!
//! It publishes Protected Resource Metadata (RFC 9728) with a curated scope
//! set intersected with the authorization server's live catalog, and keeps
//! that catalog in a refresh-ahead, stale-if-error cache.
//!
//! # Layout
//! - [`cli`]: command line and exit codes; `main.rs` only calls it.
//! - [`config`]: the TOML file, its defaults and validation (all errors, with lines).
//! - [`lifecycle`]: bind, first discovery, serve, signals, systemd notify, graceful drain.
//! - [`watch`]: the config file watcher.
//! - [`app`]: the shared state: an immutable config [`app::Snapshot`] behind
//!   `ArcSwap`, and per-resource runtimes (caches) that outlive reloads.
//! - [`cache`]: the refresh-ahead, single-flight, stale-if-error cache.
//! - [`fetch`]: bounded HTTP fetches from the authorization server.
//! - [`discovery`]: RFC 8414 / OIDC discovery URLs and document validation.
//! - [`scopes`]: the scope policy (curated ∩ live, strict override).
//! - [`prm`]: resource identifiers and the RFC 9728 document.
//! - [`public`]: the public listener's routes; [`gateway`] checks each MCP
//!   request, [`proxy`] forwards it; [`challenge`] builds RFC 6750 answers.
//! - [`jwks`], [`token`], [`verifier`]: signing keys, token rules, verification.
//! - [`jsonrpc`]: the tool names a JSON-RPC body calls.
//! - [`admin`]: the admin listener (metrics, status, refresh, reload, readiness).
//! - [`reload`]: the one reload path (watcher, SIGHUP, `POST /reload`).
//! - [`metrics`]: the Prometheus registry and every metric mcp-warden exports.
//! - [`telemetry`]: logging setup.
//! - [`demo`]: loopback-only demo peers (authorization server), used by tests.
#![forbid(unsafe_code)]

pub mod admin;
pub mod app;
pub mod cache;
pub mod challenge;
pub mod cli;
pub mod config;
pub mod demo;
pub mod discovery;
pub mod fetch;
pub mod gateway;
pub mod jsonrpc;
pub mod jwks;
pub mod lifecycle;
pub mod metrics;
pub mod prm;
pub mod proxy;
pub mod public;
pub mod reload;
pub mod scopes;
pub mod telemetry;
pub mod token;
pub mod verifier;
pub mod watch;
