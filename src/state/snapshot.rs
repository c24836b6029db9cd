//! One immutable, config-derived view of the daemon: every resource as
//! served, built off to the side and swapped in whole ([`super::App::install`]).

use std::sync::Arc;

use arc_swap::ArcSwapOption;

use super::render::Rendered;
use super::runtime::Runtime;
use crate::config::{self, Config};
use crate::metrics::Metrics;
use crate::oauth::prm::{self, Location};
use crate::proxy::Upstream;

/// One `[[resource]]` as served in one snapshot: where it lives, which
/// audiences its tokens may carry, where requests go, and its runtime.
pub struct Endpoint {
    pub config: config::Resource,
    pub location: Location,
    /// Accepted token audiences: the resource identifier with and without a
    /// trailing slash (clients drift), plus `audiences`.
    pub audiences: Vec<String>,
    /// The upstream MCP server and what it is sent.
    pub upstream: Upstream,
    pub runtime: Arc<Runtime>,
    pub(super) rendered: ArcSwapOption<Rendered>,
}

/// Immutable config-derived state.
pub struct Snapshot {
    pub config: Arc<Config>,
    pub generation: u64,
    pub resources: Vec<Arc<Endpoint>>,
}

impl Snapshot {
    /// Builds a snapshot, reusing `previous`'s runtimes for resources whose
    /// name and authorization server are unchanged (a reused runtime keeps
    /// its settings until [`super::App::install`], so a rejected reload
    /// changes nothing). Reads no file: the configuration's secrets were read
    /// when it was loaded.
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
                        .find(|old| old.runtime.serves(r))
                        .map(|old| old.runtime.clone())
                });
                let runtime = reused.unwrap_or_else(|| Runtime::new(r, &config, client, metrics));
                let location = Location::new(&config.public.url, &r.path);
                let mut audiences = vec![location.resource.clone()];
                audiences.push(match location.resource.strip_suffix('/') {
                    Some(bare) => bare.to_owned(),
                    None => format!("{}/", location.resource),
                });
                audiences.extend(r.audiences.iter().cloned());
                Arc::new(Endpoint {
                    location,
                    audiences,
                    upstream: Upstream::new(r, &config.public.url),
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
    /// well-known URL when that is unambiguous (exactly one resource).
    pub fn resource_for_prm(&self, path: &str) -> Option<&Arc<Endpoint>> {
        let path = path.strip_suffix('/').unwrap_or(path);
        self.resources
            .iter()
            .find(|r| r.location.prm_path == path)
            .or_else(|| {
                (path == prm::WELL_KNOWN && self.resources.len() == 1).then(|| &self.resources[0])
            })
    }

    /// The resource whose MCP endpoint is `path`.
    pub fn resource_for_endpoint(&self, path: &str) -> Option<&Arc<Endpoint>> {
        self.resources.iter().find(|r| r.location.is_endpoint(path))
    }

    /// The one resource mirroring authorization server metadata, if exactly
    /// one opted in.
    pub fn legacy_metadata_resource(&self) -> Option<&Arc<Endpoint>> {
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
