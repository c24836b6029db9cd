//! The running daemon's shared state.
//!
//! Config-derived state is an immutable [`Snapshot`] behind an `ArcSwap`; a
//! request loads it once at its start and finishes on it even if a reload
//! swaps in another. Caches are not part of the snapshot: each resource's
//! [`Runtime`] (discovery cache, refresher task) outlives reloads that keep
//! its name and authorization server, so a reload never drops warm metadata.

use std::sync::Arc;

use arc_swap::{ArcSwap, ArcSwapOption};
use bytes::Bytes;

use warp::http::{HeaderMap, HeaderName, HeaderValue};

use crate::config::{self, Config, IssuerSource, Scopes};
use crate::issuer::cache::{self, Cache, Lookup, Unavailable};
use crate::issuer::discovery::{DiscoveryFetcher, Metadata};
use crate::issuer::jwks::JwksFetcher;
use crate::issuer::verifier::Verifier;
use crate::metrics::{Metrics, ResourceMetrics};
use crate::oauth::prm::{self, Location};
use crate::oauth::scopes::{self, Advertised, Mismatch};

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
    fn new(
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

    /// Applies a snapshot's settings to this runtime.
    fn update(&self, resource: &config::Resource, config: &Config) {
        self.policy.store(Arc::new(resource.scopes.clone()));
        let policy = cache::Policy::from(&config.cache);
        self.discovery.set_policy(policy);
        self.verifier.jwks.set_policy(policy);
        self.verifier.set_cooldown(config.cache.jwks_cooldown);
    }
}

/// The `error_description` of a request without a token.
pub const NO_TOKEN: &str = "a bearer token is required";

/// The metadata endpoint's answer for one discovery document, memoized.
pub struct Rendered {
    pub metadata: Arc<Metadata>,
    pub outcome: Result<(Advertised, Bytes), Mismatch>,
    /// The answer to a request without a token (RFC 6750 §3, no error code),
    /// which depends only on this document: built once, not per request.
    pub no_token: ChallengeReply,
}

/// A 401/403 answer's parts, ready to send.
pub struct ChallengeReply {
    pub status: u16,
    pub www_authenticate: HeaderValue,
    pub body: Bytes,
}

impl ChallengeReply {
    pub fn new(c: &crate::oauth::challenge::Challenge) -> ChallengeReply {
        ChallengeReply {
            status: c.status(),
            www_authenticate: HeaderValue::from_str(&c.www_authenticate())
                .expect("challenge parts are sanitized"),
            body: Bytes::from(c.body()),
        }
    }
}

/// One resource as configured in one snapshot.
pub struct Resource {
    pub config: config::Resource,
    pub location: Location,
    /// Accepted token audiences: the resource identifier with and without a
    /// trailing slash (clients drift), plus `audiences`.
    pub audiences: Vec<String>,
    /// Static upstream headers, file-backed values already read.
    pub upstream_headers: HeaderMap,
    /// `X-Forwarded-Proto` and `X-Forwarded-Host` from the public URL.
    pub forwarded: Vec<(HeaderName, HeaderValue)>,
    pub runtime: Arc<Runtime>,
    rendered: ArcSwapOption<Rendered>,
}

/// What the metadata endpoint can say right now.
pub enum MetadataState {
    Ready(Arc<Rendered>),
    Unavailable(Unavailable),
}

impl Resource {
    /// The metadata document (or why there is none). Waits on the
    /// authorization server only when nothing is cached and no backoff is
    /// pending (see [`Cache::get`]).
    pub async fn metadata(&self) -> MetadataState {
        let metadata = match self.runtime.discovery.lookup() {
            Lookup::Fresh(m) | Lookup::Stale(m) => m,
            Lookup::Unavailable(_) => match self.runtime.discovery.get().await {
                Ok(m) => m,
                Err(u) => return MetadataState::Unavailable(u),
            },
        };
        MetadataState::Ready(self.render(metadata))
    }

    /// The memoized render for this document, recomputed when it changes.
    /// A challenge for this resource (RFC 6750 §3; RFC 9728 §5.1
    /// `resource_metadata`), ready to send.
    pub fn challenge(
        &self,
        error: Option<crate::oauth::challenge::ErrorCode>,
        description: &str,
        scopes: Vec<String>,
    ) -> ChallengeReply {
        ChallengeReply::new(&crate::oauth::challenge::Challenge {
            error,
            description: Some(description.to_owned()),
            scopes,
            resource_metadata: self.location.prm_url.clone(),
        })
    }

    pub fn render(&self, metadata: Arc<Metadata>) -> Arc<Rendered> {
        if let Some(r) = self.rendered.load_full()
            && Arc::ptr_eq(&r.metadata, &metadata)
        {
            return r;
        }
        let outcome = scopes::advertise(
            &self.config.scopes.policy(),
            metadata.scopes_supported.as_deref(),
        )
        .map(|advertised| {
            let mut doc = prm::Document::new(
                &self.location.resource,
                &metadata.issuer,
                &advertised.scopes,
            );
            doc.resource_name = self.config.resource_name.as_deref();
            doc.authorization_details_types_supported = &self.config.authorization_details_types;
            doc.resource_documentation = self
                .config
                .resource_documentation
                .as_ref()
                .map(|u| u.as_str());
            let body = serde_json::to_vec(&doc).expect("the PRM document always serializes");
            (advertised, Bytes::from(body))
        });
        let scopes = outcome.as_ref().map(|(a, _)| a.scopes.clone());
        let no_token = self.challenge(None, NO_TOKEN, scopes.unwrap_or_default());
        let rendered = Arc::new(Rendered {
            metadata,
            outcome,
            no_token,
        });
        self.rendered.store(Some(rendered.clone()));
        rendered
    }
}

/// Immutable config-derived state.
pub struct Snapshot {
    pub config: Arc<Config>,
    pub generation: u64,
    pub resources: Vec<Arc<Resource>>,
}

impl Snapshot {
    /// Builds a snapshot, reusing `previous`'s runtimes for resources whose
    /// name and authorization server are unchanged. Reads no file: the
    /// configuration's secrets were read when it was loaded.
    pub fn build(
        config: Config,
        generation: u64,
        previous: Option<&Snapshot>,
        client: &reqwest::Client,
        metrics: &Arc<Metrics>,
    ) -> Snapshot {
        let resources = config
            .resources
            .iter()
            .map(|r| {
                let reused = previous.and_then(|p| {
                    p.resources
                        .iter()
                        .find(|old| {
                            old.runtime.name == r.name && old.runtime.source == r.issuer_source()
                        })
                        .map(|old| old.runtime.clone())
                });
                // A reused runtime keeps its settings until `install`, so a
                // rejected reload changes nothing.
                let runtime = match reused {
                    Some(rt) => rt,
                    None => Runtime::new(r, &config, client, metrics),
                };
                let location = Location::new(&config.public.url, &r.path);
                let mut audiences = vec![location.resource.clone()];
                audiences.push(match location.resource.strip_suffix('/') {
                    Some(bare) => bare.to_owned(),
                    None => format!("{}/", location.resource),
                });
                audiences.extend(r.audiences.iter().cloned());
                Arc::new(Resource {
                    location,
                    audiences,
                    upstream_headers: r.headers.0.clone(),
                    forwarded: crate::proxy::forwarded(&config.public.url),
                    config: r.clone(),
                    runtime,
                    rendered: ArcSwapOption::empty(),
                })
            })
            .collect();
        Snapshot {
            config: Arc::new(config),
            generation,
            resources,
        }
    }

    /// The resource whose metadata lives at `path`, including the root
    /// well-known URL when that is unambiguous (one resource, or exactly one
    /// at the root).
    pub fn resource_for_prm(&self, path: &str) -> Option<&Arc<Resource>> {
        let path = path.strip_suffix('/').unwrap_or(path);
        self.resources
            .iter()
            .find(|r| r.location.prm_path == path)
            .or_else(|| {
                (path == prm::WELL_KNOWN && self.resources.len() == 1).then(|| &self.resources[0])
            })
    }

    /// The resource whose MCP endpoint is `path`.
    pub fn resource_for_endpoint(&self, path: &str) -> Option<&Arc<Resource>> {
        self.resources.iter().find(|r| r.location.is_endpoint(path))
    }

    /// The one resource mirroring authorization server metadata, if exactly
    /// one opted in.
    pub fn legacy_metadata_resource(&self) -> Option<&Arc<Resource>> {
        let mut opted = self
            .resources
            .iter()
            .filter(|r| r.config.legacy_as_metadata);
        match (opted.next(), opted.next()) {
            (Some(r), None) => Some(r),
            _ => None,
        }
    }
}

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
    pub last_reload: ArcSwapOption<ReloadRecord>,
    /// Reloads run one at a time.
    pub reload_lock: tokio::sync::Mutex<()>,
    /// Turns true when shutdown's grace period is over: proxied streams end.
    streams_end: tokio::sync::watch::Sender<bool>,
}

/// What the last reload did, for `/status`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ReloadRecord {
    /// RFC 3339.
    pub at: String,
    pub trigger: &'static str,
    pub result: &'static str,
    pub errors: Vec<String>,
    pub restart_required: Vec<String>,
}

impl App {
    /// Builds the first snapshot and starts every resource's refresher. Must
    /// run inside the tokio runtime.
    pub fn new(config: Config, config_path: Option<std::path::PathBuf>) -> Arc<App> {
        let client = crate::issuer::fetch::client(config.cache.fetch_timeout);
        let upstream = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(std::time::Duration::from_secs(10))
            .tcp_nodelay(true)
            .build()
            .expect("the TLS backend is compiled in, so the client always builds");
        let metrics = Metrics::new();
        let snapshot = Snapshot::build(config, 1, None, &client, &metrics);
        metrics.config_generation.set(1);
        Arc::new(App {
            snapshot: ArcSwap::from_pointee(snapshot),
            client,
            upstream,
            metrics,
            config_path,
            last_reload: ArcSwapOption::empty(),
            reload_lock: tokio::sync::Mutex::new(()),
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
}
