//! TOML text to [`Config`], collecting every error.
//!
//! serde stops at the first error, so each section (and each `[[resource]]`)
//! is deserialized on its own from the spanned document: a file with a bad
//! `[cache]` and a bad second resource reports both, each with its line.

use std::fmt;
use std::ops::Range;
use std::path::PathBuf;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use toml::Spanned;
use toml::de::{DeTable, DeValue, ValueDeserializer};

use super::{Admin, CacheSettings, Config, Log, Public};

/// One configuration problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// Dotted key path, e.g. `resource[1].scopes.override`.
    pub key: Option<String>,
    /// 1-based line in the file, where known.
    pub line: Option<usize>,
    pub message: String,
}

impl ConfigError {
    pub fn new(key: Option<String>, line: Option<usize>, message: impl Into<String>) -> Self {
        ConfigError {
            key,
            line,
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.key, self.line) {
            (Some(key), Some(line)) => write!(f, "line {line}: `{key}`: {}", self.message),
            (Some(key), None) => write!(f, "`{key}`: {}", self.message),
            (None, Some(line)) => write!(f, "line {line}: {}", self.message),
            (None, None) => f.write_str(&self.message),
        }
    }
}

/// Every problem found in one configuration text (never empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl ConfigErrors {
    pub fn single(error: ConfigError) -> Self {
        ConfigErrors(vec![error])
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.len();
        write!(
            f,
            "{n} configuration error{}",
            if n == 1 { "" } else { "s" }
        )?;
        for e in &self.0 {
            write!(f, "\n  - {e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// Errors about keys of one configuration text, each located at the
/// deepest line of its key that the text has.
pub(super) struct Errors<'a> {
    text: &'a str,
    list: Vec<ConfigError>,
}

impl<'a> Errors<'a> {
    pub(super) fn new(text: &'a str) -> Self {
        Errors {
            text,
            list: Vec::new(),
        }
    }

    /// `Err` with every error recorded, if any.
    pub(super) fn finish(self) -> Result<(), ConfigErrors> {
        if self.list.is_empty() {
            Ok(())
        } else {
            Err(ConfigErrors(self.list))
        }
    }

    /// Records an error for the dotted key `key` (array indices as `[i]`).
    pub(super) fn push(&mut self, key: &str, message: impl Into<String>) {
        let path: Vec<&str> = key
            .split(['.', '[', ']'])
            .filter(|s| !s.is_empty())
            .collect();
        // Point at the deepest key that exists in the file.
        let line = (1..=path.len())
            .rev()
            .find_map(|n| locate(self.text, &path[..n]));
        self.list
            .push(ConfigError::new(Some(key.to_owned()), line, message));
    }
}

/// 1-based line of byte offset `at` in `text`.
pub(crate) fn line_of(text: &str, at: usize) -> usize {
    let at = at.min(text.len());
    text.as_bytes()[..at]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// Finds the line of a key path (`["resource", "1", "scopes", "override"]`)
/// in `text`; numeric segments index arrays of tables.
pub(crate) fn locate(text: &str, path: &[&str]) -> Option<usize> {
    let table = DeTable::parse(text).ok()?;
    let root = DeValue::Table(table.into_inner());
    let mut current = &root;
    let mut span: Option<Range<usize>> = None;
    for seg in path {
        let next = match current {
            DeValue::Table(t) => t
                .iter()
                .find(|(k, _)| k.get_ref().as_ref() == *seg)
                .map(|(k, v)| (k.span(), v)),
            DeValue::Array(a) => {
                let i: usize = seg.parse().ok()?;
                a.get(i).map(|v| (v.span(), v))
            }
            _ => None,
        };
        let (s, v) = next?;
        span = Some(s);
        current = v.get_ref();
    }
    span.map(|s| line_of(text, s.start))
}

pub(super) fn parse(text: &str) -> Result<Config, ConfigErrors> {
    let doc = DeTable::parse(text).map_err(|e| ConfigErrors::single(from_toml(text, None, &e)))?;
    let mut errors = Vec::new();
    let mut public = None;
    let mut admin = Admin::default();
    let mut cache = CacheSettings::default();
    let mut log = Log::default();
    let mut resources = Vec::new();
    let mut saw_resource = false;

    for (key, value) in doc.get_ref().iter() {
        let name = key.get_ref().as_ref();
        match name {
            "public" => public = section::<Public>(text, name, value, &mut errors),
            "admin" => admin = section(text, name, value, &mut errors).unwrap_or_default(),
            "cache" => cache = section(text, name, value, &mut errors).unwrap_or_default(),
            "log" => log = section(text, name, value, &mut errors).unwrap_or_default(),
            "resource" => {
                saw_resource = true;
                match value.get_ref() {
                    DeValue::Array(items) => {
                        for (i, item) in items.iter().enumerate() {
                            let key = format!("resource[{i}]");
                            if let Some(r) = section(text, &key, item, &mut errors) {
                                resources.push(r);
                            }
                        }
                    }
                    _ => errors.push(ConfigError::new(
                        Some("resource".into()),
                        Some(line_of(text, key.span().start)),
                        "must be an array of tables: write [[resource]]",
                    )),
                }
            }
            other => errors.push(ConfigError::new(
                Some(other.to_owned()),
                Some(line_of(text, key.span().start)),
                "unknown section; expected one of public, admin, cache, log, resource",
            )),
        }
    }
    if public.is_none() && !errors.iter().any(|e| e.key.as_deref() == Some("public")) {
        errors.push(ConfigError::new(
            Some("public".into()),
            None,
            "missing section [public] (it needs at least `url`)",
        ));
    }
    if !saw_resource {
        errors.push(ConfigError::new(
            Some("resource".into()),
            None,
            "no [[resource]] configured: nothing to protect",
        ));
    }
    match (errors.is_empty(), public) {
        (true, Some(public)) => Ok(Config {
            public,
            admin,
            cache,
            log,
            resources,
            hash: String::new(),
        }),
        _ => Err(ConfigErrors(errors)),
    }
}

/// Deserializes one section, recording its error (with line) on failure.
fn section<T: DeserializeOwned>(
    text: &str,
    key: &str,
    value: &Spanned<DeValue<'_>>,
    errors: &mut Vec<ConfigError>,
) -> Option<T> {
    match T::deserialize(ValueDeserializer::from(value.clone())) {
        Ok(v) => Some(v),
        Err(e) => {
            let mut err = from_toml(text, Some(key), &e);
            if err.line.is_none() {
                err.line = Some(line_of(text, value.span().start));
            }
            errors.push(err);
            None
        }
    }
}

fn from_toml(text: &str, key: Option<&str>, e: &toml::de::Error) -> ConfigError {
    ConfigError::new(
        key.map(str::to_owned),
        e.span().map(|s| line_of(text, s.start)),
        e.message().trim().to_owned(),
    )
}

/// `token_file = ""` means "no token file".
pub(super) fn empty_path_is_none<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<PathBuf>, D::Error> {
    let s = Option::<String>::deserialize(d)?;
    Ok(s.filter(|s| !s.trim().is_empty()).map(PathBuf::from))
}
