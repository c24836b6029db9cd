//! Protected Resource Metadata (RFC 9728): identifiers, well-known paths and
//! the document itself. Pure functions; the listener serves what they build.

use serde::Serialize;
use url::Url;

/// RFC 9728 §3: the well-known URI suffix.
pub const WELL_KNOWN: &str = "/.well-known/oauth-protected-resource";

/// Where one resource lives, derived once from `public.url` and its `path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The canonical resource identifier, `public.url + path`, advertised as
    /// PRM `resource` and expected as token audience (RFC 9728 §3.3: it must
    /// be byte-identical to the URL clients use).
    pub resource: String,
    /// The MCP endpoint's path as the listener sees it (URL prefix + path).
    pub local_path: String,
    /// The path of this resource's metadata on the listener (RFC 9728 §3.1:
    /// the well-known segment goes between host and path).
    pub prm_path: String,
    /// The absolute metadata URL, sent as `resource_metadata` in challenges.
    pub prm_url: String,
}

impl Location {
    pub fn new(public_url: &Url, path: &str) -> Location {
        let base = public_url.as_str().trim_end_matches('/');
        let prefix = public_url.path().trim_end_matches('/');
        let local_path = format!("{prefix}{path}");
        let prm_path = format!("{WELL_KNOWN}{}", local_path.trim_end_matches('/'));
        let origin = public_url.origin().ascii_serialization();
        Location {
            resource: format!("{base}{path}"),
            prm_url: format!("{origin}{prm_path}"),
            local_path,
            prm_path,
        }
    }

    /// Whether the request path addresses the MCP endpoint (a trailing slash
    /// is tolerated, as clients add or strip one).
    pub fn is_endpoint(&self, path: &str) -> bool {
        path == self.local_path
            || path.strip_suffix('/') == Some(self.local_path.as_str())
            || self.local_path.strip_suffix('/') == Some(path)
    }
}

/// The RFC 9728 §2 metadata document.
#[derive(Debug, Serialize)]
pub struct Document<'a> {
    pub resource: &'a str,
    pub authorization_servers: [&'a str; 1],
    /// RFC 9728 §3.2: zero-valued parameters are omitted.
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    pub scopes_supported: &'a [String],
    pub bearer_methods_supported: [&'static str; 1],
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_documentation: Option<&'a str>,
    /// RFC 9728 §2 / RFC 9396: the `authorization_details` types understood.
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    pub authorization_details_types_supported: &'a [String],
}

impl<'a> Document<'a> {
    pub fn new(resource: &'a str, issuer: &'a str, scopes: &'a [String]) -> Self {
        Document {
            resource,
            authorization_servers: [issuer],
            scopes_supported: scopes,
            // Tokens are accepted only in the Authorization header (MCP:
            // never from the query string; RFC 6750 §2.1).
            bearer_methods_supported: ["header"],
            resource_name: None,
            resource_documentation: None,
            authorization_details_types_supported: &[],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loc(base: &str, path: &str) -> Location {
        Location::new(&Url::parse(base).unwrap(), path)
    }

    #[test]
    fn locations() {
        // (public URL, path) → resource, local path, metadata path, metadata URL
        let cases = [
            (
                ("https://mcp.example.com", "/mcp"),
                "https://mcp.example.com/mcp",
                "/mcp",
                "/.well-known/oauth-protected-resource/mcp",
                "https://mcp.example.com/.well-known/oauth-protected-resource/mcp",
            ),
            (
                ("https://example.com/tools/", "/mcp"),
                "https://example.com/tools/mcp",
                "/tools/mcp",
                "/.well-known/oauth-protected-resource/tools/mcp",
                "https://example.com/.well-known/oauth-protected-resource/tools/mcp",
            ),
            (
                ("http://127.0.0.1:8080", "/"),
                "http://127.0.0.1:8080/",
                "/",
                WELL_KNOWN,
                "http://127.0.0.1:8080/.well-known/oauth-protected-resource",
            ),
        ];
        for ((base, path), resource, local_path, prm_path, prm_url) in cases {
            let l = loc(base, path);
            assert_eq!(
                (l.resource.as_str(), l.local_path.as_str()),
                (resource, local_path)
            );
            assert_eq!(
                (l.prm_path.as_str(), l.prm_url.as_str()),
                (prm_path, prm_url)
            );
        }
    }

    #[test]
    fn endpoint_matching_tolerates_one_trailing_slash() {
        let l = loc("https://h", "/mcp");
        assert!(l.is_endpoint("/mcp"));
        assert!(l.is_endpoint("/mcp/"));
        assert!(!l.is_endpoint("/mcp//"));
        assert!(!l.is_endpoint("/mcpx"));
        assert!(!l.is_endpoint("/mcp/x"));
    }

    #[test]
    fn document_shape() {
        let scopes = vec!["openid".to_owned(), "all".to_owned()];
        let mut d = Document::new("https://h/mcp", "https://as", &scopes);
        d.resource_name = Some("Demo");
        let types = vec!["project".to_owned()];
        d.authorization_details_types_supported = &types;
        let v = serde_json::to_value(&d).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "resource": "https://h/mcp",
                "authorization_servers": ["https://as"],
                "scopes_supported": ["openid", "all"],
                "bearer_methods_supported": ["header"],
                "resource_name": "Demo",
                "authorization_details_types_supported": ["project"]
            })
        );
    }
}
