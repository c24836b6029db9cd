//! The scope policy: which scopes the Protected Resource Metadata advertises.
//!
//! MCP clients request *every* scope in `scopes_supported` (the TypeScript SDK
//! joins the whole list), so this list is what every login asks for. It must
//! never name a scope the authorization server no longer has (every login
//! fails with `invalid_scope`) and must stay short (authorize endpoints cap
//! the `scope` parameter). RFC 9728 §7.2: `scopes_supported` is not meant to
//! be requested wholesale.
//!
//! The rule, as one pure function ([`advertise`]):
//! - the operator's `override` when non-empty, else the curated `preferred`
//!   list, intersected with the live catalog, in the configured order;
//! - an override that intersects nothing is an error ([`Mismatch`]), never a
//!   fallback to the catalog;
//! - no override and an empty intersection: mirror the live catalog (custom
//!   catalogs), flagged when longer than `max_chars`;
//! - `offline_access` is never advertised (MCP 2026-07-28: never in a
//!   challenge; refresh is the client's business) and catalog entries outside
//!   the RFC 6749 §3.3 scope-token grammar are dropped, so a hostile catalog
//!   can never break a header or a JSON consumer.

use std::collections::HashSet;
use std::fmt;

use serde::Serialize;

use crate::oauth::grammar::is_scope_token;

/// Never advertised, whatever the catalog or configuration says.
pub const OFFLINE_ACCESS: &str = "offline_access";

/// How the advertised set was chosen (shown in `/status` and logs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Choice {
    /// `preferred` ∩ catalog.
    Curated,
    /// `override` ∩ catalog.
    Override,
    /// The whole (filtered) catalog: nothing preferred is in it.
    Mirror,
    /// The authorization server publishes no `scopes_supported`, so the
    /// configured list is advertised as is (grammar-filtered).
    Unverified,
}

impl fmt::Display for Choice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Choice::Curated => "curated",
            Choice::Override => "override",
            Choice::Mirror => "mirror",
            Choice::Unverified => "unverified",
        })
    }
}

/// The outcome of the policy for one catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Advertised {
    pub scopes: Vec<String>,
    pub choice: Choice,
    /// Length of the scopes joined by single spaces (the `scope` parameter).
    pub chars: usize,
    /// `chars` exceeds the configured `max_chars`.
    pub over_max: bool,
    /// Configured scopes absent from the catalog (renamed or removed).
    pub missing: Vec<String>,
}

impl Advertised {
    /// The space-separated form used in challenges.
    pub fn joined(&self) -> String {
        self.scopes.join(" ")
    }
}

/// An operator override that matches nothing in the live catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mismatch {
    #[serde(rename = "override")]
    pub override_: Vec<String>,
    pub catalog_size: usize,
    /// The first few catalog entries, to help the operator fix the override.
    pub catalog_sample: Vec<String>,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "scope override [{}] matches none of the authorization server's {} scopes (e.g. {}); \
             refusing to fall back to the full catalog",
            self.override_.join(" "),
            self.catalog_size,
            self.catalog_sample.join(" ")
        )
    }
}

impl std::error::Error for Mismatch {}

const SAMPLE: usize = 10;

/// What [`advertise`] needs of a resource's `[resource.scopes]`.
#[derive(Debug, Clone, Copy)]
pub struct Policy<'a> {
    /// The curated set.
    pub preferred: &'a [String],
    /// The strict operator override; non-empty replaces `preferred`.
    pub override_: &'a [String],
    /// Longest advertised set (joined by spaces) before it is flagged.
    pub max_chars: usize,
}

/// Applies the scope policy to a live catalog (`None`: the authorization
/// server publishes no `scopes_supported`).
pub fn advertise(policy: &Policy<'_>, catalog: Option<&[String]>) -> Result<Advertised, Mismatch> {
    let usable = |s: &&String| is_scope_token(s) && s.as_str() != OFFLINE_ACCESS;
    let (wanted, is_override) = if policy.override_.is_empty() {
        (policy.preferred, false)
    } else {
        (policy.override_, true)
    };

    let Some(catalog) = catalog else {
        let scopes = dedup(wanted.iter().filter(usable));
        let choice = Choice::Unverified;
        return Ok(finish(policy, scopes, choice, Vec::new()));
    };

    let live: HashSet<&str> = catalog.iter().filter(usable).map(String::as_str).collect();
    let chosen = dedup(wanted.iter().filter(|s| live.contains(s.as_str())));
    let missing: Vec<String> = wanted
        .iter()
        .filter(|s| !live.contains(s.as_str()) && s.as_str() != OFFLINE_ACCESS)
        .cloned()
        .collect();

    if !chosen.is_empty() {
        let choice = if is_override {
            Choice::Override
        } else {
            Choice::Curated
        };
        return Ok(finish(policy, chosen, choice, missing));
    }
    if is_override {
        return Err(Mismatch {
            override_: policy.override_.to_vec(),
            catalog_size: catalog.len(),
            catalog_sample: catalog
                .iter()
                .filter(usable)
                .take(SAMPLE)
                .cloned()
                .collect(),
        });
    }
    let mirrored = dedup(catalog.iter().filter(usable));
    Ok(finish(policy, mirrored, Choice::Mirror, missing))
}

fn dedup<'a>(items: impl Iterator<Item = &'a String>) -> Vec<String> {
    let mut seen = HashSet::new();
    items.filter(|s| seen.insert(s.as_str())).cloned().collect()
}

fn finish(
    policy: &Policy<'_>,
    scopes: Vec<String>,
    choice: Choice,
    missing: Vec<String>,
) -> Advertised {
    let chars = scopes.iter().map(String::len).sum::<usize>() + scopes.len().saturating_sub(1);
    Advertised {
        over_max: chars > policy.max_chars,
        scopes,
        choice,
        chars,
        missing,
    }
}

/// The needed scopes that `granted` does not satisfy, following the
/// `implies` hierarchy transitively (a broader scope satisfies the narrower
/// ones it implies). Order of `needed` is kept.
pub fn unmet<'a>(
    granted: &[String],
    needed: &'a [String],
    implies: &std::collections::BTreeMap<String, Vec<String>>,
) -> Vec<&'a String> {
    let mut have: HashSet<&str> = granted.iter().map(String::as_str).collect();
    if !implies.is_empty() {
        let mut queue: Vec<&str> = have.iter().copied().collect();
        while let Some(s) = queue.pop() {
            for narrower in implies.get(s).into_iter().flatten() {
                if have.insert(narrower) {
                    queue.push(narrower);
                }
            }
        }
    }
    needed
        .iter()
        .filter(|n| !have.contains(n.as_str()))
        .collect()
}

#[cfg(test)]
mod tests;
