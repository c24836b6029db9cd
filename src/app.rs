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

use crate::cache::{self, Cache, Lookup, Unavailable};
use crate::config::{self, Config, ConfigError, ConfigErrors, IssuerSource, Scopes};
use crate::discovery::{DiscoveryFetcher, Metadata};
use crate::jwks::JwksFetcher;
use crate::prm::{self, Location};
use crate::scopes::{self, Advertised, Mismatch};
use crate::verifier::Verifier;

/// Long-lived per-resource machinery, shared by successive snapshots.
pub struct Runtime {
    pub name: String,
    pub source: IssuerSource,
    pub discovery: Arc<Cache<DiscoveryFetcher>>,
    pub verifier: Verifier,
    /// The scope policy of the newest snapshot, read by the fetcher.
    pub policy: Arc<ArcSwap<Scopes>>,
}

impl Runtime {
    fn new(resource: &config::Resource, config: &Config, client: &reqwest::Client) -> Arc<Self> {
        let policy = Arc::new(ArcSwap::from_pointee(resource.scopes.clone()));
        let fetcher = DiscoveryFetcher {
            name: resource.name.clone(),
            source: resource.issuer_source(),
            client: client.clone(),
            timeout: config.cache.fetch_timeout,
            policy: policy.clone(),
        };
        let policy_cache = cache::Policy::from(&config.cache);
        let discovery = Arc::new(Cache::new(fetcher, policy_cache));
        discovery.spawn_refresher();
        let jwks = Arc::new(Cache::new(
            JwksFetcher {
                name: resource.name.clone(),
                discovery: discovery.clone(),
                client: client.clone(),
                timeout: config.cache.fetch_timeout,
            },
            policy_cache,
        ));
        jwks.spawn_refresher();
        Arc::new(Runtime {
            name: resource.name.clone(),
            source: resource.issuer_source(),
            verifier: Verifier::new(jwks, discovery.clone(), config.cache.jwks_cooldown),
            discovery,
            policy,
        })
    }

    /// Applies a new snapshot's settings to a reused runtime.
    fn update(&self, resource: &config::Resource, config: &Config) {
        self.policy.store(Arc::new(resource.scopes.clone()));
        let policy = cache::Policy::from(&config.cache);
        self.discovery.set_policy(policy);
        self.verifier.jwks.set_policy(policy);
        self.verifier.set_cooldown(config.cache.jwks_cooldown);
    }
}

/// The metadata endpoint's answer for one discovery document, memoized.
pub struct Rendered {
    pub metadata: Arc<Metadata>,
    pub outcome: Result<(Advertised, Bytes), Mismatch>,
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
    pub fn render(&self, metadata: Arc<Metadata>) -> Arc<Rendered> {
        if let Some(r) = self.rendered.load_full()
            && Arc::ptr_eq(&r.metadata, &metadata)
        {
            return r;
        }
        let outcome = scopes::advertise(&self.config.scopes, metadata.scopes_supported.as_deref())
            .map(|advertised| {
                let mut doc = prm::Document::new(
                    &self.location.resource,
                    &metadata.issuer,
                    &advertised.scopes,
                );
                doc.resource_name = self.config.resource_name.as_deref();
                doc.resource_documentation = self
                    .config
                    .resource_documentation
                    .as_ref()
                    .map(|u| u.as_str());
                let body = serde_json::to_vec(&doc).expect("the PRM document always serializes");
                (advertised, Bytes::from(body))
            });
        let rendered = Arc::new(Rendered { metadata, outcome });
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
    /// name and authorization server are unchanged. Fails (changing nothing)
    /// when an `upstream_header_files` entry cannot be read.
    pub fn build(
        config: Config,
        generation: u64,
        previous: Option<&Snapshot>,
        client: &reqwest::Client,
    ) -> Result<Snapshot, ConfigErrors> {
        let mut errors = Vec::new();
        let headers: Vec<HeaderMap> = config
            .resources
            .iter()
            .enumerate()
            .map(|(i, r)| upstream_headers(r, i, &mut errors))
            .collect();
        if !errors.is_empty() {
            return Err(ConfigErrors(errors));
        }
        let resources = config
            .resources
            .iter()
            .zip(headers)
            .map(|(r, upstream_headers)| {
                let reused = previous.and_then(|p| {
                    p.resources
                        .iter()
                        .find(|old| {
                            old.runtime.name == r.name && old.runtime.source == r.issuer_source()
                        })
                        .map(|old| old.runtime.clone())
                });
                let runtime = match reused {
                    Some(rt) => {
                        rt.update(r, &config);
                        rt
                    }
                    None => Runtime::new(r, &config, client),
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
                    upstream_headers,
                    config: r.clone(),
                    runtime,
                    rendered: ArcSwapOption::empty(),
                })
            })
            .collect();
        Ok(Snapshot {
            config: Arc::new(config),
            generation,
            resources,
        })
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

/// The static upstream headers of resource `i`, reading file-backed values.
fn upstream_headers(r: &config::Resource, i: usize, errors: &mut Vec<ConfigError>) -> HeaderMap {
    let mut out = HeaderMap::new();
    let file_values = r.upstream_header_files.iter().filter_map(|(name, path)| {
        match std::fs::read_to_string(path) {
            Ok(text) => Some((
                name,
                text.trim_end_matches(['\r', '\n']).to_owned(),
                "upstream_header_files",
            )),
            Err(e) => {
                errors.push(ConfigError::new(
                    Some(format!("resource[{i}].upstream_header_files")),
                    None,
                    format!("cannot read {} for header {name:?}: {e}", path.display()),
                ));
                None
            }
        }
    });
    let values: Vec<_> = r
        .upstream_headers
        .iter()
        .map(|(n, v)| (n, v.clone(), "upstream_headers"))
        .chain(file_values)
        .collect();
    for (name, value, key) in values {
        match (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            (Ok(n), Ok(v)) => {
                out.insert(n, v);
            }
            _ => errors.push(ConfigError::new(
                Some(format!("resource[{i}].{key}")),
                None,
                format!("{name:?} does not make a valid header"),
            )),
        }
    }
    out
}

/// Everything the listeners share.
pub struct App {
    snapshot: ArcSwap<Snapshot>,
    /// For the authorization servers: short timeouts, few redirects.
    pub client: reqwest::Client,
    /// For upstream MCP servers: no redirects, no overall timeout (streams
    /// may last), pooled connections.
    pub upstream: reqwest::Client,
}

impl App {
    /// Builds the first snapshot and starts every resource's refresher. Must
    /// run inside the tokio runtime.
    pub fn new(config: Config) -> Result<Arc<App>, ConfigErrors> {
        let client = crate::fetch::client(config.cache.fetch_timeout);
        let upstream = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(std::time::Duration::from_secs(10))
            .tcp_nodelay(true)
            .build()
            .expect("the TLS backend is compiled in, so the client always builds");
        let snapshot = Snapshot::build(config, 1, None, &client)?;
        Ok(Arc::new(App {
            snapshot: ArcSwap::from_pointee(snapshot),
            client,
            upstream,
        }))
    }

    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.load_full()
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
