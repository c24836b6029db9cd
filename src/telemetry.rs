//! Logging: `tracing` to stderr, as text or JSON lines.
//!
//! `RUST_LOG`, when set, wins over `[log] level`. Nothing secret is ever
//! logged: tokens never reach a log field, and request paths are logged
//! without their query string.

use tracing_subscriber::EnvFilter;

use crate::config::{Log, LogFormat};

/// Installs the global subscriber. Later calls (tests) are no-ops.
pub fn init(log: &Log) {
    let filter = std::env::var("RUST_LOG")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .and_then(|v| EnvFilter::try_new(v).ok())
        .unwrap_or_else(|| EnvFilter::new(&log.level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match log.format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}
