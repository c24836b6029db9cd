//! What the metadata endpoint and the no-token challenge answer for one
//! discovery document, built once per document and reused until the
//! document changes (every request of a resource shares it).

use std::sync::Arc;

use bytes::Bytes;
use http::HeaderValue;

use super::Endpoint;
use crate::issuer::cache::{Lookup, Unavailable};
use crate::issuer::discovery::Metadata;
use crate::oauth::challenge::{Challenge, ErrorCode};
use crate::oauth::prm;
use crate::oauth::scopes::{self, Advertised, Mismatch};

/// The `error_description` of a request without a token.
pub const NO_TOKEN: &str = "a bearer token is required";

/// The metadata endpoint's answer for one discovery document, memoized.
#[derive(Debug)]
pub struct Rendered {
    pub metadata: Arc<Metadata>,
    pub outcome: Result<(Advertised, Bytes), Mismatch>,
    /// The answer to a request without a token (RFC 6750 §3, no error code),
    /// which depends only on this document: built once, not per request.
    pub no_token: ChallengeReply,
}

impl Rendered {
    /// The advertised scopes (empty when the override matches nothing).
    pub fn advertised(&self) -> &[String] {
        self.outcome
            .as_ref()
            .map_or(&[], |(a, _)| a.scopes.as_slice())
    }
}

/// A 401/403 answer's parts, ready to send.
#[derive(Debug)]
pub struct ChallengeReply {
    pub status: u16,
    pub www_authenticate: HeaderValue,
    pub body: Bytes,
}

impl ChallengeReply {
    pub fn new(c: &Challenge) -> ChallengeReply {
        ChallengeReply {
            status: c.status(),
            www_authenticate: HeaderValue::from_str(&c.www_authenticate())
                .expect("challenge parts are sanitized"),
            body: Bytes::from(c.body()),
        }
    }
}

/// What the metadata endpoint can say right now.
pub enum MetadataState {
    Ready(Arc<Rendered>),
    Unavailable(Unavailable),
}

impl MetadataState {
    /// The advertised scopes, for a challenge (RFC 6750 §3: challenges
    /// advertise the scopes of the current metadata).
    pub fn advertised(&self) -> Vec<String> {
        match self {
            MetadataState::Ready(r) => r.advertised().to_vec(),
            MetadataState::Unavailable(_) => Vec::new(),
        }
    }
}

impl Endpoint {
    /// The metadata document (or why there is none). Waits on the
    /// authorization server only when nothing is cached and no backoff is
    /// pending (see [`crate::issuer::cache::Cache::get`]).
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

    /// A challenge for this resource (RFC 6750 §3; RFC 9728 §5.1
    /// `resource_metadata`), ready to send.
    pub fn challenge(
        &self,
        error: Option<ErrorCode>,
        description: &str,
        scopes: Vec<String>,
    ) -> ChallengeReply {
        ChallengeReply::new(&Challenge {
            error,
            description: Some(description.to_owned()),
            scopes,
            resource_metadata: self.location.prm_url.clone(),
        })
    }

    /// The memoized render for this document, recomputed when it changes.
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
