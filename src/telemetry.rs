//! Logging: `tracing` to stderr, as text or JSON lines.
//!
//! `RUST_LOG`, when set, wins over `[log] level`. Nothing secret is ever
//! logged: tokens never reach a log field, and request paths are logged
//! without their query string.
//!
//! Unless the level mentions `warp` or is `debug`/`trace`, `warp::server` is
//! silenced: its only `ERROR` lines are per-connection client faults (a
//! client hanging up mid-request, malformed HTTP), which any client can
//! produce at will and no operator can act on. The one operator-relevant
//! case it would log, accept failing on `EMFILE`, shows as
//! `process_open_fds` reaching `process_max_fds` (dashboard, Process row).
//! `level = "info,warp::server=debug"` shows them again.

use tracing_subscriber::EnvFilter;

use crate::config::{Log, LogFormat};

/// Installs the global subscriber. Later calls (tests) are no-ops.
pub fn init(log: &Log) {
    let filter = std::env::var("RUST_LOG")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .and_then(|v| EnvFilter::try_new(v).ok())
        .unwrap_or_else(|| EnvFilter::new(directives(&log.level)));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match log.format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

/// The filter directives for `[log] level`: see the module docs.
fn directives(level: &str) -> String {
    let verbose = matches!(level.trim(), "debug" | "trace");
    if verbose || level.contains("warp") {
        level.to_owned()
    } else {
        format!("{level},warp::server=off")
    }
}

#[cfg(test)]
mod tests {
    use super::directives;

    #[test]
    fn client_connection_errors_are_not_logged_by_default() {
        assert_eq!(directives("info"), "info,warp::server=off");
        assert_eq!(
            directives("warn,mcp_warden=debug"),
            "warn,mcp_warden=debug,warp::server=off"
        );
        assert_eq!(directives("debug"), "debug");
        assert_eq!(
            directives("info,warp::server=debug"),
            "info,warp::server=debug"
        );
    }
}
