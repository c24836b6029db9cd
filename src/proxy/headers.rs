//! Which request headers cross to the upstream, and what mcp-warden adds.
//! Pure functions over header maps, built once per configuration or per
//! verified token where they can be.

use std::net::SocketAddr;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};

use super::Upstream;
use crate::oauth::token::Principal;

/// Headers that never cross the proxy in either direction (RFC 9110 §7.6.1
/// and the de-facto `keep-alive`, `proxy-connection`).
pub const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

pub const SUBJECT: &str = "x-mcp-auth-subject";
pub const CLIENT_ID: &str = "x-mcp-auth-client-id";
pub const SCOPES: &str = "x-mcp-auth-scopes";
pub const AUTHORIZATION_DETAILS: &str = "x-mcp-auth-authorization-details";

fn is_dropped(name: &HeaderName, connection_listed: &[String], forward_token: bool) -> bool {
    let n = name.as_str();
    HOP_BY_HOP.contains(&n)
        || connection_listed.iter().any(|c| c == n)
        || n == "host"
        || n == "origin"
        || n == "forwarded"
        || n.starts_with("x-forwarded-")
        || n.starts_with("x-mcp-auth-")
        || (n == "authorization" && !forward_token)
        // CGI/WSGI-style upstreams read `X_Mcp_Auth_Subject` as the same
        // variable as `X-Mcp-Auth-Subject`: underscores would let a client
        // spoof identity or forwarding headers (nginx drops them too).
        || n.contains('_')
}

/// The headers sent upstream for a request with `incoming` headers from
/// `remote`, authenticated as `principal`.
pub fn upstream_headers(
    upstream: &Upstream,
    incoming: &HeaderMap,
    principal: &Principal,
    remote: Option<SocketAddr>,
) -> HeaderMap {
    let connection_listed: Vec<String> = incoming
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|s| s.trim().to_ascii_lowercase())
        .collect();
    let mut out = HeaderMap::with_capacity(incoming.len() + 8);
    for (name, value) in incoming {
        if !is_dropped(name, &connection_listed, upstream.forward_token) {
            out.append(name.clone(), value.clone());
        }
    }
    if upstream.identity_headers {
        for (name, value) in identity(principal) {
            out.insert(name.clone(), value.clone());
        }
    }
    // Rendered from a socket address: always a valid header value.
    if let Some(remote) = remote
        && let Ok(v) = HeaderValue::from_str(&remote.ip().to_string())
    {
        out.insert(HeaderName::from_static("x-forwarded-for"), v);
    }
    for (name, value) in &upstream.forwarded {
        out.insert(name.clone(), value.clone());
    }
    for (name, value) in &upstream.headers {
        out.insert(name.clone(), value.clone());
    }
    out
}

/// `X-Mcp-Auth-*` for a verified token, built once per cached verdict.
/// Claims are untrusted text: a value that is not a valid header is left
/// out rather than mangled.
fn identity(principal: &Principal) -> &[(HeaderName, HeaderValue)] {
    principal.identity_headers.get_or_init(|| {
        let details = principal
            .authorization_details
            .as_ref()
            .map(|d| d.to_string());
        let scopes = principal.scopes.join(" ");
        [
            (SUBJECT, principal.sub.as_deref()),
            (CLIENT_ID, principal.client_id.as_deref()),
            (SCOPES, Some(scopes.as_str())),
            (AUTHORIZATION_DETAILS, details.as_deref()),
        ]
        .into_iter()
        .filter_map(|(name, value)| {
            let value = HeaderValue::from_str(value?).ok()?;
            Some((HeaderName::from_static(name), value))
        })
        .collect()
    })
}

/// `X-Forwarded-Proto` and `X-Forwarded-Host` for a public URL; computed
/// once per configuration.
pub fn forwarded(public_url: &url::Url) -> Vec<(HeaderName, HeaderValue)> {
    let mut out = Vec::new();
    if let Ok(proto) = HeaderValue::from_str(public_url.scheme()) {
        out.push((HeaderName::from_static("x-forwarded-proto"), proto));
    }
    if let Some(host) = public_url.host_str() {
        let host = match public_url.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.to_owned(),
        };
        if let Ok(v) = HeaderValue::from_str(&host) {
            out.push((HeaderName::from_static("x-forwarded-host"), v));
        }
    }
    out
}

/// Response headers passed back to the client: all but hop-by-hop.
pub fn response_headers(upstream: &HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::with_capacity(upstream.len());
    for (name, value) in upstream {
        if !HOP_BY_HOP.contains(&name.as_str()) {
            out.append(name.clone(), value.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn upstream(forward_token: bool, identity_headers: bool) -> Upstream {
        let mut headers = HeaderMap::new();
        headers.insert("x-api-key", HeaderValue::from_static("k3y"));
        Upstream {
            url: "http://127.0.0.1:9/mcp".parse().unwrap(),
            timeout: Duration::from_secs(1),
            forward_token,
            identity_headers,
            forwarded: forwarded(&"https://mcp.example.com:8443/base".parse().unwrap()),
            headers,
        }
    }

    fn principal() -> Principal {
        Principal {
            sub: Some("user-1".into()),
            client_id: Some("client-1".into()),
            scopes: vec!["a".into(), "b".into()],
            exp: 0,
            authorization_details: Some(serde_json::json!([{"type": "project"}])),
            identity_headers: Default::default(),
        }
    }

    fn incoming(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (n, v) in pairs {
            h.append(
                HeaderName::from_bytes(n.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn drops_what_must_not_cross_and_adds_identity() {
        let h = incoming(&[
            ("authorization", "Bearer secret"),
            ("host", "mcp.example.com"),
            ("origin", "https://mcp.example.com"),
            ("connection", "keep-alive, x-hop"),
            ("x-hop", "1"),
            ("te", "trailers"),
            ("forwarded", "for=1.2.3.4"),
            ("x-forwarded-for", "1.2.3.4"),
            ("x-mcp-auth-subject", "admin"),
            ("x_mcp_auth_subject", "admin"),
            ("mcp-session-id", "s1"),
            ("accept", "application/json, text/event-stream"),
            ("x-api-key", "client-sent"),
        ]);
        let remote = "10.0.0.7:5000".parse().ok();
        let out = upstream_headers(&upstream(false, true), &h, &principal(), remote);
        for gone in [
            "authorization",
            "host",
            "origin",
            "x-hop",
            "te",
            "forwarded",
        ] {
            assert!(!out.contains_key(gone), "{gone} must not cross");
        }
        assert!(!out.contains_key("x_mcp_auth_subject"));
        let get = |n: &str| out.get(n).map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(get("mcp-session-id").as_deref(), Some("s1"));
        assert_eq!(get(SUBJECT).as_deref(), Some("user-1"));
        assert_eq!(get(CLIENT_ID).as_deref(), Some("client-1"));
        assert_eq!(get(SCOPES).as_deref(), Some("a b"));
        assert_eq!(
            get(AUTHORIZATION_DETAILS).as_deref(),
            Some(r#"[{"type":"project"}]"#)
        );
        assert_eq!(get("x-forwarded-for").as_deref(), Some("10.0.0.7"));
        assert_eq!(get("x-forwarded-proto").as_deref(), Some("https"));
        assert_eq!(
            get("x-forwarded-host").as_deref(),
            Some("mcp.example.com:8443")
        );
        assert_eq!(get("x-api-key").as_deref(), Some("k3y"), "configured wins");
        assert_eq!(out.get_all("x-api-key").iter().count(), 1);
    }

    #[test]
    fn forward_token_and_identity_headers_are_opt_in_and_out() {
        let h = incoming(&[("authorization", "Bearer secret")]);
        let out = upstream_headers(&upstream(true, false), &h, &principal(), None);
        assert_eq!(out.get("authorization").unwrap(), "Bearer secret");
        assert!(!out.contains_key(SUBJECT));
        assert!(!out.contains_key("x-forwarded-for"));
    }

    #[test]
    fn claims_that_are_not_header_values_are_left_out() {
        let mut p = principal();
        p.sub = Some("line\r\nbreak".into());
        let out = upstream_headers(&upstream(false, true), &HeaderMap::new(), &p, None);
        assert!(!out.contains_key(SUBJECT));
        assert!(out.contains_key(CLIENT_ID));
    }

    #[test]
    fn responses_lose_only_hop_by_hop_headers() {
        let out = response_headers(&incoming(&[
            ("connection", "close"),
            ("transfer-encoding", "chunked"),
            ("mcp-session-id", "s1"),
            ("content-type", "text/event-stream"),
        ]));
        assert_eq!(out.len(), 2);
        assert!(out.contains_key("mcp-session-id"));
    }
}
