//! The files a configuration names for secrets: `admin.token_file` and
//! `upstream_header_files`. They are read when the configuration is loaded
//! ([`super::Config::load`], [`super::Config::from_text`]), so
//! `mcp-warden check`, startup and every reload fail on the same missing or
//! unreadable file, each error naming the key, its line and the path.
//!
//! Values read here never reach `Debug` output or logs: [`AdminToken`]
//! prints as `AdminToken(…)`, and header values from files are marked
//! sensitive (printed as `Sensitive`, never indexed by HTTP/2 header
//! compression).

use http::{HeaderMap, HeaderName, HeaderValue};

use super::Config;
use super::parse::{ConfigErrors, Errors};

/// The admin bearer token, read from `admin.token_file`. Never printed.
#[derive(Clone)]
pub struct AdminToken(Vec<u8>);

impl AdminToken {
    /// Constant-time comparison with a presented token.
    pub fn matches(&self, presented: &[u8]) -> bool {
        aws_lc_rs::constant_time::verify_slices_are_equal(&self.0, presented).is_ok()
    }
}

impl PartialEq for AdminToken {
    fn eq(&self, other: &Self) -> bool {
        self.matches(&other.0)
    }
}

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminToken(…)")
    }
}

/// A resource's static upstream headers, `upstream_headers` and the values
/// of `upstream_header_files`, ready to send.
#[derive(Clone, Default, PartialEq)]
pub struct UpstreamHeaders(pub HeaderMap);

impl std::fmt::Debug for UpstreamHeaders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.0.keys()).finish()
    }
}

/// Reads every secret file `config` names into it. `text` is the
/// configuration text, for the lines of the errors.
pub(super) fn read(config: &mut Config, text: &str) -> Result<(), ConfigErrors> {
    let mut errors = Errors::new(text);
    config.admin.token = admin_token(config, &mut errors);
    for (i, r) in config.resources.iter_mut().enumerate() {
        r.headers = upstream_headers(r, i, &mut errors);
    }
    errors.finish()
}

/// Reads `admin.token_file` (trailing newline trimmed; must not be empty).
fn admin_token(config: &Config, errors: &mut Errors<'_>) -> Option<AdminToken> {
    let path = config.admin.token_file.as_ref()?;
    let key = "admin.token_file";
    match std::fs::read(path) {
        Ok(mut bytes) => {
            while bytes.last().is_some_and(|b| matches!(b, b'\n' | b'\r')) {
                bytes.pop();
            }
            if bytes.is_empty() {
                errors.push(key, format!("{} is empty", path.display()));
                return None;
            }
            Some(AdminToken(bytes))
        }
        Err(e) => {
            errors.push(key, format!("cannot read {}: {e}", path.display()));
            None
        }
    }
}

/// The static upstream headers of resource `i`, reading file-backed values.
fn upstream_headers(r: &super::Resource, i: usize, errors: &mut Errors<'_>) -> UpstreamHeaders {
    let mut out = HeaderMap::new();
    let values = r
        .upstream_headers
        .iter()
        .map(|(name, value)| (name, Some(value.clone()), "upstream_headers"));
    let files = r.upstream_header_files.iter().map(|(name, path)| {
        let key = format!("resource[{i}].upstream_header_files.{name}");
        let value = match std::fs::read_to_string(path) {
            Ok(text) => Some(text.trim_end_matches(['\r', '\n']).to_owned()),
            Err(e) => {
                errors.push(
                    &key,
                    format!("cannot read {} for header {name:?}: {e}", path.display()),
                );
                None
            }
        };
        (name, value, "upstream_header_files")
    });
    let all: Vec<_> = values.chain(files).collect();
    for (name, value, key) in all {
        let Some(value) = value else { continue };
        match (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            (Ok(n), Ok(mut v)) => {
                v.set_sensitive(key == "upstream_header_files");
                out.insert(n, v);
            }
            _ => errors.push(
                &format!("resource[{i}].{key}"),
                format!("{name:?} does not make a valid header"),
            ),
        }
    }
    UpstreamHeaders(out)
}
