//! The running daemon's shared state.
//!
//! Config-derived state is an immutable [`Snapshot`] behind an `ArcSwap`; a
//! request loads it once at its start and finishes on it even if a reload
//! swaps in another. Caches are not part of the snapshot: each resource's
//! [`Runtime`] (discovery cache, verifier, refresher tasks) outlives reloads
//! that keep its name and authorization server, so a reload never drops
//! warm metadata.
//!
//! - `snapshot`: [`Snapshot`] and each resource as served ([`Endpoint`]);
//! - `runtime`: the per-resource caches;
//! - `render`: the memoized metadata document and no-token challenge.

mod render;
mod runtime;
mod snapshot;

use std::sync::Arc;

use arc_swap::ArcSwap;

pub use render::{ChallengeReply, MetadataState, NO_TOKEN, Rendered};
pub use runtime::Runtime;
pub use snapshot::{Endpoint, Snapshot};

use crate::config::Config;
use crate::metrics::Metrics;
use crate::oauth::scopes::Mismatch;

/// Everything the listeners share.
pub struct App {
    snapshot: ArcSwap<Snapshot>,
    /// For the authorization servers: short timeouts, few redirects.
    pub client: reqwest::Client,
    /// For upstream MCP servers: no redirects, no overall timeout (streams
    /// may last), pooled connections.
    pub upstream: reqwest::Client,
    pub metrics: Arc<Metrics>,
    /// The file the configuration came from (`None` in tests).
    pub config_path: Option<std::path::PathBuf>,
    /// Turns true when shutdown's grace period is over: proxied streams end.
    streams_end: tokio::sync::watch::Sender<bool>,
}

impl App {
    /// Builds the first snapshot and starts every resource's refresher. Must
    /// run inside the tokio runtime.
    pub fn new(config: Config, config_path: Option<std::path::PathBuf>) -> Arc<App> {
        let client = crate::issuer::fetch::client(config.cache.fetch_timeout);
        let upstream = crate::proxy::client();
        let metrics = Metrics::new();
        let snapshot = Snapshot::build(config, 1, None, &client, &metrics);
        metrics.config_generation.set(1);
        Arc::new(App {
            snapshot: ArcSwap::from_pointee(snapshot),
            client,
            upstream,
            metrics,
            config_path,
            streams_end: tokio::sync::watch::channel(false).0,
        })
    }

    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.load_full()
    }

    /// Ends every proxied response stream cleanly (shutdown).
    pub fn end_streams(&self) {
        self.streams_end.send_replace(true);
    }

    /// The signal [`App::end_streams`] sets (true once streams must end).
    pub fn streams_end(&self) -> &tokio::sync::watch::Sender<bool> {
        &self.streams_end
    }

    /// Swaps in a new snapshot (built by [`crate::reload`]) and applies its
    /// settings to the runtimes it shares with the old one.
    pub fn install(&self, snapshot: Snapshot) {
        for r in &snapshot.resources {
            r.runtime.update(&r.config, &snapshot.config);
        }
        self.metrics
            .config_generation
            .set(snapshot.generation as i64);
        self.snapshot.store(Arc::new(snapshot));
    }

    /// Waits until every resource's first discovery attempt has finished
    /// (joining the refreshers' fetches) and returns the strict scope
    /// mismatches found, by resource name.
    pub async fn first_discovery(&self) -> Vec<(String, Mismatch)> {
        let snapshot = self.snapshot();
        let attempts = snapshot.resources.iter().map(|r| async move {
            // Keys too: the JWKS refresher joins or follows discovery.
            let keys = r.runtime.verifier.jwks.get();
            let (metadata, keys) = futures_util::join!(r.metadata(), keys);
            if let Err(u) = keys {
                let error = u.error.map(|e| e.to_string()).unwrap_or_default();
                tracing::warn!(resource = %r.config.name, %error, "signing keys not loaded yet; tokens get 503 until they are");
            }
            match metadata {
                MetadataState::Ready(rendered) => match &rendered.outcome {
                    Err(m) => Some((r.config.name.clone(), m.clone())),
                    Ok(_) => None,
                },
                MetadataState::Unavailable(u) => {
                    let error = u.error.map(|e| e.to_string()).unwrap_or_default();
                    tracing::warn!(resource = %r.config.name, %error, "authorization server metadata not loaded yet; serving 503 until it is");
                    None
                }
            }
        });
        futures_util::future::join_all(attempts)
            .await
            .into_iter()
            .flatten()
            .collect()
    }

    /// A one-line summary (systemd's `STATUS=`): resources whose metadata
    /// is fresh, stale but servable, and the config generation.
    pub fn status_line(&self) -> String {
        let snapshot = self.snapshot();
        let (mut ready, mut stale) = (0, 0);
        for r in &snapshot.resources {
            let state = r.runtime.discovery.state();
            let policy = r.runtime.discovery.policy();
            if let Some(e) = &state.entry {
                let age = e.fetched_at.elapsed();
                if age < policy.ttl {
                    ready += 1;
                } else if age < policy.ttl + policy.max_stale {
                    stale += 1;
                }
            }
        }
        format!(
            "{ready} of {} resources ready, {stale} stale, config gen {}",
            snapshot.resources.len(),
            snapshot.generation
        )
    }
}
