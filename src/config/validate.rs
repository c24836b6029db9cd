//! Semantic checks that serde cannot express. Collects every error.

use std::collections::HashSet;

use url::{Host, Url};

use super::parse::{ConfigErrors, Errors};
use super::{Config, Resource};
use crate::oauth::grammar::is_scope_token;

pub(super) fn validate(config: &Config, text: &str) -> Result<(), ConfigErrors> {
    let mut errors = Errors::new(text);
    check_public(config, &mut errors);
    check_admin(config, &mut errors);
    check_cache(config, &mut errors);
    if let Err(e) = tracing_subscriber::EnvFilter::try_new(&config.log.level) {
        errors.push("log.level", format!("not a valid log filter: {e}"));
    }
    check_resources(config, &mut errors);
    errors.finish()
}

fn check_public(config: &Config, errors: &mut Errors<'_>) {
    let public = &config.public;
    check_http_url(&public.url, "public.url", errors);
    if public.url.query().is_some() || public.url.fragment().is_some() {
        errors.push("public.url", "must not have a query or fragment");
    }
    if public.max_body_bytes == 0 {
        errors.push("public.max_body_bytes", "must be greater than 0");
    }
    for (i, origin) in public.allowed_origins.iter().enumerate() {
        let ok = Url::parse(origin).is_ok_and(|u| {
            matches!(u.scheme(), "http" | "https")
                && u.host().is_some()
                && u.path() == "/"
                && !origin.ends_with('/')
        });
        if !ok {
            errors.push(
                &format!("public.allowed_origins[{i}]"),
                format!("{origin:?} is not an origin like \"https://app.example.com\""),
            );
        }
    }
}

fn check_admin(config: &Config, errors: &mut Errors<'_>) {
    let admin = &config.admin;
    if !admin.listen.ip().is_loopback() && admin.token_file.is_none() {
        errors.push(
            "admin.listen",
            format!(
                "{} is not a loopback address: set admin.token_file so the admin API is not open to the network",
                admin.listen
            ),
        );
    }
    if admin.listen.port() != 0 && admin.listen == config.public.listen {
        errors.push("admin.listen", "must differ from public.listen");
    }
}

fn check_cache(config: &Config, errors: &mut Errors<'_>) {
    let cache = &config.cache;
    for (key, value) in [
        ("cache.ttl", cache.ttl),
        ("cache.fetch_timeout", cache.fetch_timeout),
        ("cache.retry_min", cache.retry_min),
        ("cache.retry_max", cache.retry_max),
    ] {
        if value.is_zero() {
            errors.push(key, "must be greater than 0");
        }
    }
    if cache.retry_min > cache.retry_max {
        errors.push(
            "cache.retry_min",
            format!(
                "must not exceed cache.retry_max ({})",
                humantime::format_duration(cache.retry_max)
            ),
        );
    }
}

fn check_resources(config: &Config, errors: &mut Errors<'_>) {
    let mut names = HashSet::new();
    let mut paths = HashSet::new();
    for (i, r) in config.resources.iter().enumerate() {
        let at = |k: &str| format!("resource[{i}].{k}");
        if r.name.is_empty()
            || !r
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            errors.push(
                &at("name"),
                format!(
                    "{:?} must be non-empty and use only A-Z a-z 0-9 - _ .",
                    r.name
                ),
            );
        } else if !names.insert(r.name.as_str()) {
            errors.push(&at("name"), format!("duplicate resource name {:?}", r.name));
        }
        if let Some(problem) = path_problem(&r.path) {
            errors.push(&at("path"), format!("{:?} {problem}", r.path));
        } else if !paths.insert(r.path.trim_end_matches('/')) {
            errors.push(&at("path"), format!("duplicate resource path {:?}", r.path));
        }
        check_issuer(r, i, errors);
        check_url(&r.upstream, &at("upstream"), true, errors);
        for (key, list) in [
            ("scopes.preferred", &r.scopes.preferred),
            ("scopes.override", &r.scopes.override_),
            ("scopes.required", &r.scopes.required),
        ] {
            for s in list.iter().filter(|s| !is_scope_token(s)) {
                errors.push(
                    &at(key),
                    format!("{s:?} is not a valid scope token (RFC 6749 §3.3: printable ASCII except space, \" and \\)"),
                );
            }
        }
        for (broad, narrower) in &r.scopes.implies {
            for s in std::iter::once(broad)
                .chain(narrower)
                .filter(|s| !is_scope_token(s))
            {
                errors.push(
                    &at("scopes.implies"),
                    format!("{s:?} is not a valid scope token"),
                );
            }
        }
        for (tool, scopes) in &r.tools {
            for s in scopes.iter().filter(|s| !is_scope_token(s)) {
                errors.push(
                    &format!("resource[{i}].tools.{tool}"),
                    format!("{s:?} is not a valid scope token"),
                );
            }
        }
        for name in r
            .upstream_headers
            .keys()
            .chain(r.upstream_header_files.keys())
        {
            let lower = name.to_ascii_lowercase();
            if warp::http::HeaderName::from_bytes(name.as_bytes()).is_err() {
                errors.push(
                    &at("upstream_headers"),
                    format!("{name:?} is not a valid header name"),
                );
            } else if lower == "host"
                || lower.starts_with("x-mcp-auth-")
                || lower == "content-length"
            {
                errors.push(
                    &at("upstream_headers"),
                    format!("{name:?} is set by mcp-warden itself"),
                );
            }
        }
        for (name, value) in &r.upstream_headers {
            if warp::http::HeaderValue::from_str(value).is_err() {
                errors.push(
                    &at("upstream_headers"),
                    format!("the value of {name:?} is not a valid header value"),
                );
            }
        }
        if r.upstream_timeout.is_zero() {
            errors.push(&at("upstream_timeout"), "must be greater than 0");
        }
        if r.scopes.max_chars == 0 {
            errors.push(&at("scopes.max_chars"), "must be greater than 0");
        }
        if r.token.algorithms.is_empty() {
            errors.push(&at("token.algorithms"), "must list at least one algorithm");
        }
        for (j, aud) in r.audiences.iter().enumerate() {
            if aud.trim().is_empty() {
                errors.push(
                    &format!("resource[{i}].audiences[{j}]"),
                    "must not be empty",
                );
            }
        }
    }
}

fn check_issuer(r: &Resource, i: usize, errors: &mut Errors<'_>) {
    match (&r.issuer, &r.discovery_url) {
        (None, None) => errors.push(
            &format!("resource[{i}].issuer"),
            "set `issuer` (or `discovery_url`) to name the authorization server",
        ),
        (Some(_), Some(_)) => errors.push(
            &format!("resource[{i}].discovery_url"),
            "set either `issuer` or `discovery_url`, not both",
        ),
        (Some(issuer), None) => {
            let key = format!("resource[{i}].issuer");
            match Url::parse(issuer) {
                Ok(url) => {
                    check_http_url(&url, &key, errors);
                    // RFC 8414 §2: the issuer has no query or fragment.
                    if url.query().is_some() || url.fragment().is_some() {
                        errors.push(&key, "an issuer has no query or fragment (RFC 8414 §2)");
                    }
                }
                Err(e) => errors.push(&key, format!("{issuer:?} is not a URL: {e}")),
            }
        }
        (None, Some(url)) => check_http_url(url, &format!("resource[{i}].discovery_url"), errors),
    }
}

/// `http(s)` with a host; plain `http` only towards loopback, because an
/// attacker on the path could otherwise swap keys or metadata.
fn check_http_url(url: &Url, key: &str, errors: &mut Errors<'_>) {
    check_url(url, key, false, errors)
}

/// As [`check_http_url`]; `plain_http_ok` for upstreams, which commonly sit
/// on a private network next to mcp-warden.
fn check_url(url: &Url, key: &str, plain_http_ok: bool, errors: &mut Errors<'_>) {
    match url.scheme() {
        "https" => {}
        "http" if plain_http_ok || is_loopback(url) => {}
        "http" => errors.push(
            key,
            format!("{url} must use https (plain http is accepted for loopback hosts only)"),
        ),
        other => errors.push(key, format!("{url}: unsupported scheme {other:?}")),
    }
    if url.host().is_none() {
        errors.push(key, format!("{url} has no host"));
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(d)) => d == "localhost" || d.ends_with(".localhost"),
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// Why `path` cannot be a resource path, if it cannot.
fn path_problem(path: &str) -> Option<&'static str> {
    if !path.starts_with('/') {
        Some("must start with /")
    } else if path.contains("//") || path.split('/').any(|s| s == ".." || s == ".") {
        Some("must not contain empty, . or .. segments")
    } else if path.contains(['?', '#', '%', ' ']) {
        Some("must be a plain path (no ?, #, % or spaces)")
    } else if path.starts_with("/.well-known") {
        Some("must not be under /.well-known (reserved for metadata)")
    } else {
        None
    }
}
