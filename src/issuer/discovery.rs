//! Authorization server metadata discovery (RFC 8414, OpenID Connect
//! Discovery 1.0): where to look, what a valid document is, and the
//! [`Fetch`](crate::issuer::cache::Fetch) implementation the discovery cache runs.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use serde_json::{Map, Value};
use url::Url;

use crate::config::{IssuerSource, Scopes};
use crate::issuer::cache::Fetch;
use crate::issuer::fetch::{self, FetchError};
use crate::oauth::scopes;

/// A validated authorization server metadata document.
#[derive(Debug, Clone, PartialEq)]
pub struct Metadata {
    /// The issuer exactly as the document states it.
    pub issuer: String,
    pub jwks_uri: Url,
    /// `None` when the document has no `scopes_supported`.
    pub scopes_supported: Option<Vec<String>>,
    /// The URL the document was fetched from.
    pub source: Url,
    /// The whole document, for the legacy metadata mirror.
    pub document: Map<String, Value>,
}

/// The discovery URLs to try for `issuer`, in order.
///
/// RFC 8414 §3.1 inserts the well-known segment between host and path; OIDC
/// Discovery §4 appends it. MCP 2025-11-25 (authorization, "Authorization
/// Server Metadata Discovery") fixes the order:
/// - no path: `/.well-known/oauth-authorization-server`, then
///   `/.well-known/openid-configuration`;
/// - path `/t1`: `/.well-known/oauth-authorization-server/t1`,
///   `/.well-known/openid-configuration/t1`, `/t1/.well-known/openid-configuration`.
pub fn discovery_urls(issuer: &str) -> Result<Vec<Url>, url::ParseError> {
    let url = Url::parse(issuer)?;
    let path = url.path().trim_end_matches('/').to_owned();
    let at = |p: String| {
        let mut u = url.clone();
        u.set_path(&p);
        u.set_query(None);
        u.set_fragment(None);
        u
    };
    Ok(if path.is_empty() {
        vec![
            at("/.well-known/oauth-authorization-server".into()),
            at("/.well-known/openid-configuration".into()),
        ]
    } else {
        vec![
            at(format!("/.well-known/oauth-authorization-server{path}")),
            at(format!("/.well-known/openid-configuration{path}")),
            at(format!("{path}/.well-known/openid-configuration")),
        ]
    })
}

/// Checks a fetched document. `expected_issuer`: the configured issuer the
/// document must echo exactly (RFC 8414 §3.3), or `None` for an explicitly
/// configured discovery URL, whose document names the issuer.
pub fn validate(
    document: Value,
    source: &Url,
    expected_issuer: Option<&str>,
) -> Result<Metadata, FetchError> {
    let invalid = |detail: String| FetchError::validation(source, detail);
    let Value::Object(document) = document else {
        return Err(invalid("metadata is not a JSON object".into()));
    };
    let issuer = match document.get("issuer") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(_) => return Err(invalid("`issuer` is not a non-empty string".into())),
        None => return Err(invalid("metadata has no `issuer`".into())),
    };
    if let Some(expected) = expected_issuer
        && issuer != expected
    {
        return Err(invalid(format!(
            "issuer mismatch: document says {issuer:?}, configured issuer is {expected:?} \
             (RFC 8414 §3.3 requires an exact match)"
        )));
    }
    let jwks_uri = match document.get("jwks_uri") {
        Some(Value::String(s)) => Url::parse(s)
            .ok()
            .filter(|u| matches!(u.scheme(), "https" | "http"))
            .ok_or_else(|| invalid(format!("`jwks_uri` {s:?} is not an http(s) URL")))?,
        Some(_) => return Err(invalid("`jwks_uri` is not a string".into())),
        None => return Err(invalid("metadata has no `jwks_uri`".into())),
    };
    let scopes_supported = match document.get("scopes_supported") {
        None | Some(Value::Null) => None,
        Some(Value::Array(items)) => Some(
            items
                .iter()
                .map(|v| v.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| invalid("`scopes_supported` has a non-string entry".into()))?,
        ),
        Some(_) => return Err(invalid("`scopes_supported` is not an array".into())),
    };
    Ok(Metadata {
        issuer,
        jwks_uri,
        scopes_supported,
        source: source.clone(),
        document,
    })
}

/// Fetches and validates one resource's discovery document.
pub struct DiscoveryFetcher {
    pub name: String,
    pub source: IssuerSource,
    pub client: reqwest::Client,
    pub timeout: Duration,
    /// The resource's live scope policy, evaluated after every fetch so a
    /// catalog change that breaks the override is logged on each refresh.
    pub policy: Arc<ArcSwap<Scopes>>,
}

impl DiscoveryFetcher {
    async fn fetch_document(&self) -> Result<Metadata, FetchError> {
        match &self.source {
            IssuerSource::DiscoveryUrl(url) => {
                let doc = fetch::get_json(&self.client, url, self.timeout).await?;
                validate(doc, url, None)
            }
            IssuerSource::Issuer(issuer) => {
                let urls = discovery_urls(issuer).map_err(|e| FetchError::Validation {
                    url: issuer.clone(),
                    detail: format!("issuer is not a URL: {e}"),
                })?;
                let mut last = None;
                for url in &urls {
                    match fetch::get_json(&self.client, url, self.timeout).await {
                        Ok(doc) => return validate(doc, url, Some(issuer)),
                        // Not served here: try the next well-known location.
                        Err(
                            e @ FetchError::Status {
                                status: 400..=499, ..
                            },
                        ) => last = Some(e),
                        Err(e) => return Err(e),
                    }
                }
                Err(last.expect("discovery_urls always yields at least two URLs"))
            }
        }
    }
}

impl Fetch for DiscoveryFetcher {
    type Value = Metadata;

    async fn fetch(&self) -> Result<Metadata, FetchError> {
        let metadata = self.fetch_document().await?;
        if matches!(self.source, IssuerSource::DiscoveryUrl(_)) {
            tracing::debug!(resource = %self.name, issuer = %metadata.issuer, "trusting issuer named by the configured discovery document");
        }
        let policy = self.policy.load();
        match scopes::advertise(&policy.policy(), metadata.scopes_supported.as_deref()) {
            Ok(a) if a.over_max => tracing::warn!(
                resource = %self.name, chars = a.chars, max_chars = policy.max_chars, choice = %a.choice,
                "advertised scope set is longer than max_chars; clients may hit the authorize endpoint's scope length cap"
            ),
            Ok(_) => {}
            Err(mismatch) => tracing::error!(
                resource = %self.name, "{mismatch}; the metadata endpoint answers 503 until the override or the catalog is fixed"
            ),
        }
        Ok(metadata)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn urls(issuer: &str) -> Vec<String> {
        discovery_urls(issuer)
            .unwrap()
            .into_iter()
            .map(String::from)
            .collect()
    }

    #[test]
    fn urls_for_issuer_without_path() {
        for issuer in ["https://auth.example.com", "https://auth.example.com/"] {
            assert_eq!(
                urls(issuer),
                [
                    "https://auth.example.com/.well-known/oauth-authorization-server",
                    "https://auth.example.com/.well-known/openid-configuration",
                ]
            );
        }
    }

    #[test]
    fn urls_for_issuer_with_path() {
        for issuer in [
            "https://auth.example.com/v1/oauth2/console",
            "https://auth.example.com/v1/oauth2/console/",
        ] {
            assert_eq!(
                urls(issuer),
                [
                    "https://auth.example.com/.well-known/oauth-authorization-server/v1/oauth2/console",
                    "https://auth.example.com/.well-known/openid-configuration/v1/oauth2/console",
                    "https://auth.example.com/v1/oauth2/console/.well-known/openid-configuration",
                ]
            );
        }
        assert_eq!(
            urls("http://127.0.0.1:8000/t1")[0],
            "http://127.0.0.1:8000/.well-known/oauth-authorization-server/t1"
        );
    }

    fn source() -> Url {
        Url::parse("https://as.example/.well-known/openid-configuration").unwrap()
    }

    fn good() -> Value {
        json!({
            "issuer": "https://as.example",
            "jwks_uri": "https://as.example/jwks",
            "scopes_supported": ["openid", "all"],
            "token_endpoint": "https://as.example/token"
        })
    }

    #[test]
    fn validates_a_good_document() {
        let m = validate(good(), &source(), Some("https://as.example")).unwrap();
        assert_eq!(m.issuer, "https://as.example");
        assert_eq!(m.jwks_uri.as_str(), "https://as.example/jwks");
        assert_eq!(m.scopes_supported.unwrap(), ["openid", "all"]);
        assert!(m.document.contains_key("token_endpoint"));
    }

    #[test]
    fn rejects_bad_documents_with_a_reason() {
        let with = |key: &str, value: Value| {
            let mut d = good();
            d[key] = value;
            d
        };
        let without = |key: &str| {
            let mut d = good();
            d.as_object_mut().unwrap().remove(key);
            d
        };
        let cases = [
            (json!([1, 2]), "not a JSON object"),
            (without("issuer"), "no `issuer`"),
            (with("issuer", json!(7)), "`issuer` is not"),
            (
                with("issuer", json!("https://as.example/")),
                "issuer mismatch",
            ),
            (without("jwks_uri"), "no `jwks_uri`"),
            (
                with("jwks_uri", json!("ftp://x/jwks")),
                "not an http(s) URL",
            ),
            (with("jwks_uri", json!(["x"])), "`jwks_uri` is not a string"),
            (
                with("scopes_supported", json!("openid all")),
                "not an array",
            ),
            (
                with("scopes_supported", json!(["ok", 3])),
                "non-string entry",
            ),
        ];
        for (doc, want) in cases {
            let err = validate(doc, &source(), Some("https://as.example")).unwrap_err();
            assert_eq!(err.reason(), "validation");
            assert!(
                err.to_string().contains(want),
                "{err} should mention {want}"
            );
        }
    }

    #[test]
    fn explicit_discovery_url_trusts_the_documents_issuer() {
        let mut d = good();
        d["issuer"] = json!("https://fra.as.example");
        let m = validate(d, &source(), None).unwrap();
        assert_eq!(m.issuer, "https://fra.as.example");
    }

    #[test]
    fn missing_scopes_supported_is_not_an_error() {
        let mut d = good();
        d.as_object_mut().unwrap().remove("scopes_supported");
        assert_eq!(validate(d, &source(), None).unwrap().scopes_supported, None);
    }
}
