//! A resource's long-lived machinery: its discovery cache, its verifier
//! (JWKS cache, verified-token cache) and their refresher tasks. Shared by
//! successive snapshots, so a reload that keeps a resource's name and
//! authorization server keeps its warm caches.

use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::config::{self, Config, IssuerSource, Scopes};
use crate::issuer::cache::{self, Cache};
use crate::issuer::discovery::DiscoveryFetcher;
use crate::issuer::jwks::JwksFetcher;
use crate::issuer::verifier::Verifier;
use crate::metrics::{Metrics, ResourceMetrics};

/// Long-lived per-resource machinery, shared by successive snapshots.
pub struct Runtime {
    pub name: String,
    pub source: IssuerSource,
    pub discovery: Arc<Cache<DiscoveryFetcher>>,
    pub verifier: Verifier,
    pub metrics: ResourceMetrics,
    /// The scope policy of the newest snapshot, read by the fetcher.
    pub policy: Arc<ArcSwap<Scopes>>,
}

impl Runtime {
    /// Creates the caches of `resource` and starts their refreshers. Must
    /// run inside the tokio runtime.
    pub(super) fn new(
        resource: &config::Resource,
        config: &Config,
        client: &reqwest::Client,
        metrics: &Arc<Metrics>,
    ) -> Arc<Self> {
        let policy = Arc::new(ArcSwap::from_pointee(resource.scopes.clone()));
        let fetcher = DiscoveryFetcher {
            name: resource.name.clone(),
            source: resource.issuer_source(),
            client: client.clone(),
            timeout: config.cache.fetch_timeout,
            policy: policy.clone(),
        };
        let policy_cache = cache::Policy::from(&config.cache);
        let discovery = Arc::new(Cache::with_observer(
            fetcher,
            policy_cache,
            metrics.discovery_observer(&resource.name),
        ));
        discovery.spawn_refresher();
        let jwks = Arc::new(Cache::with_observer(
            JwksFetcher {
                name: resource.name.clone(),
                discovery: discovery.clone(),
                client: client.clone(),
                timeout: config.cache.fetch_timeout,
            },
            policy_cache,
            metrics.jwks_observer(&resource.name),
        ));
        jwks.spawn_refresher();
        Arc::new(Runtime {
            name: resource.name.clone(),
            source: resource.issuer_source(),
            verifier: Verifier::new(jwks, discovery.clone(), config.cache.jwks_cooldown),
            metrics: metrics.resource(&resource.name),
            discovery,
            policy,
        })
    }

    /// Whether this runtime can serve `resource` (same name, same
    /// authorization server).
    pub(super) fn serves(&self, resource: &config::Resource) -> bool {
        self.name == resource.name && self.source == resource.issuer_source()
    }

    /// Applies a snapshot's settings to this runtime.
    pub(super) fn update(&self, resource: &config::Resource, config: &Config) {
        self.policy.store(Arc::new(resource.scopes.clone()));
        let policy = cache::Policy::from(&config.cache);
        self.discovery.set_policy(policy);
        self.verifier.jwks.set_policy(policy);
        self.verifier.set_cooldown(config.cache.jwks_cooldown);
    }
}
