//! mcp-warden: an OAuth 2.1 resource server for MCP servers.
#![forbid(unsafe_code)]

pub mod admin;
pub mod cli;
pub mod config;
pub mod daemon;
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
