//! Process signals (signal-hook): SIGTERM and SIGINT request a graceful
//! shutdown.

use futures_util::StreamExt;
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook_tokio::Signals;

/// Resolves when SIGTERM or SIGINT arrives.
pub async fn shutdown_requested() -> anyhow::Result<()> {
    let mut signals = Signals::new([SIGTERM, SIGINT])
        .map_err(|e| anyhow::anyhow!("cannot install signal handlers: {e}"))?;
    if let Some(signal) = signals.next().await {
        tracing::info!(signal, "received shutdown signal");
    }
    Ok(())
}
