//! The one reload path, used by the file watcher ([`watch`]), SIGHUP and
//! `POST /reload`: [`Reloader::reload`].
//!
//! It reads and validates the file with the same code as `mcp-warden check`
//! (secret files included), builds the complete new snapshot off to the side
//! (reusing warm caches, fetching discovery for newly added resources),
//! evaluates every scope override against the live catalogs, and only then
//! swaps it in. Anything wrong rejects the reload **whole**: the previous
//! configuration stays active, the errors are logged and shown in
//! `/status`, `config_reloads_total{result="rejected"}` moves and
//! `config_last_reload_success` drops to 0. Never a partial apply, never a
//! fallback to the full catalog.
//!
//! Identical content (same hash) is [`Outcome::Unchanged`] and does not bump
//! the generation. `public.listen` and `admin.listen` cannot change without
//! a restart: such a change is reported and the rest of the reload applies.
//!
//! The reload metrics are declared here ([`ReloadMetrics`]), beside the
//! [`Trigger`] and [`Outcome`] enums their labels come from.

pub mod watch;

use std::sync::Arc;
use std::time::SystemTime;

use arc_swap::ArcSwapOption;
use prometheus::{Gauge, IntGauge};
use serde::Serialize;

use crate::config::Config;
use crate::metrics::family;
use crate::state::{App, MetadataState, Snapshot};

/// What asked for a reload (the `trigger` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// The configuration file changed.
    Watch,
    /// SIGHUP (`systemctl reload`).
    Signal,
    /// `POST /reload`.
    Admin,
}

impl family::Label for Trigger {
    const ALL: &'static [Self] = &[Trigger::Watch, Trigger::Signal, Trigger::Admin];
    fn label(self) -> &'static str {
        match self {
            Trigger::Watch => "watch",
            Trigger::Signal => "signal",
            Trigger::Admin => "admin",
        }
    }
}

/// What a reload did (the `result` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The new configuration is active.
    Success,
    /// Something was wrong; the previous configuration stays.
    Rejected,
    /// The file's content (and `MCP_OAUTH_SCOPES`) did not change.
    Unchanged,
}

impl family::Label for Outcome {
    const ALL: &'static [Self] = &[Outcome::Success, Outcome::Rejected, Outcome::Unchanged];
    fn label(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Rejected => "rejected",
            Outcome::Unchanged => "unchanged",
        }
    }
}

/// What the last reload did, for `/status` and `POST /reload`.
#[derive(Debug, Clone, Serialize)]
pub struct Record {
    /// RFC 3339.
    pub at: String,
    pub trigger: Trigger,
    pub result: Outcome,
    pub errors: Vec<String>,
    pub restart_required: Vec<String>,
}

/// The reload metrics.
pub struct ReloadMetrics {
    reloads: family::Counter2<Trigger, Outcome>,
    last_success: IntGauge,
    last_success_timestamp: Gauge,
}

impl ReloadMetrics {
    /// Registers them in `registry`, every series at its start value.
    pub fn register(registry: &prometheus::Registry) -> ReloadMetrics {
        let m = ReloadMetrics {
            reloads: family::Counter2::register(
                registry,
                "config_reloads_total",
                "Configuration reloads.",
                ["trigger", "result"],
            ),
            last_success: family::int_gauge(
                registry,
                "config_last_reload_success",
                "1 when the last reload applied (or changed nothing).",
            ),
            last_success_timestamp: family::gauge(
                registry,
                "config_last_reload_success_timestamp_seconds",
                "When the configuration last loaded successfully.",
            ),
        };
        m.last_success.set(1);
        m.last_success_timestamp.set(family::unix_seconds());
        m
    }

    fn record(&self, trigger: Trigger, outcome: Outcome) {
        self.reloads.inc(trigger, outcome);
        if outcome == Outcome::Rejected {
            self.last_success.set(0);
        } else {
            self.last_success.set(1);
            self.last_success_timestamp.set(family::unix_seconds());
        }
    }
}

/// Runs reloads one at a time and remembers the last one.
pub struct Reloader {
    app: Arc<App>,
    lock: tokio::sync::Mutex<()>,
    last: ArcSwapOption<Record>,
    metrics: ReloadMetrics,
}

impl Reloader {
    pub fn new(app: Arc<App>) -> Arc<Reloader> {
        let metrics = ReloadMetrics::register(&app.metrics.registry);
        Arc::new(Reloader {
            app,
            lock: tokio::sync::Mutex::new(()),
            last: ArcSwapOption::empty(),
            metrics,
        })
    }

    /// The last reload, if any ran.
    pub fn last(&self) -> Option<Record> {
        self.last.load_full().map(|r| (*r).clone())
    }

    /// Reloads the configuration file now. Concurrent calls run one at a time.
    pub async fn reload(&self, trigger: Trigger) -> Record {
        let _one_at_a_time = self.lock.lock().await;
        crate::systemd::reloading();
        let mut restart_required = Vec::new();
        let (result, errors) = match self.attempt(&mut restart_required).await {
            Ok(true) => (Outcome::Success, Vec::new()),
            Ok(false) => (Outcome::Unchanged, Vec::new()),
            Err(errors) => (Outcome::Rejected, errors),
        };
        self.metrics.record(trigger, result);
        let trigger_label = family::Label::label(trigger);
        if result == Outcome::Rejected {
            tracing::error!(trigger = trigger_label, errors = %errors.join("; "), "configuration reload rejected; the previous configuration stays active");
        } else {
            tracing::info!(
                trigger = trigger_label,
                result = family::Label::label(result),
                generation = self.app.snapshot().generation,
                "configuration reloaded"
            );
        }
        for r in &restart_required {
            tracing::warn!(trigger = trigger_label, "{r}");
        }
        let record = Record {
            at: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
            trigger,
            result,
            errors,
            restart_required,
        };
        self.last.store(Some(Arc::new(record.clone())));
        crate::systemd::ready(&self.app.status_line());
        record
    }

    /// `Ok(true)` applied, `Ok(false)` unchanged, `Err` rejected with reasons.
    async fn attempt(&self, restart_required: &mut Vec<String>) -> Result<bool, Vec<String>> {
        let app = &self.app;
        let Some(path) = &app.config_path else {
            return Err(vec![
                "mcp-warden was not started from a configuration file".into(),
            ]);
        };
        let mut config = Config::load(path)
            .map_err(|e| e.0.iter().map(ToString::to_string).collect::<Vec<_>>())?;
        let current = app.snapshot();
        if config.hash == current.config.hash {
            return Ok(false);
        }
        // Listeners are bound once: keep the running addresses, report the change.
        for (key, new, old) in [
            (
                "public.listen",
                &mut config.public.listen,
                current.config.public.listen,
            ),
            (
                "admin.listen",
                &mut config.admin.listen,
                current.config.admin.listen,
            ),
        ] {
            if *new != old {
                restart_required.push(format!(
                    "{key} changed from {old} to {new}: this requires a restart; the rest of the reload applies"
                ));
                *new = old;
            }
        }
        let next = Snapshot::build(
            config,
            current.generation + 1,
            Some(&current),
            &app.client,
            &app.metrics,
        );
        check_scopes(&next).await?;
        app.install(next);
        Ok(true)
    }
}

/// Strict overrides: every resource's new policy against its live catalog.
/// A resource whose authorization server cannot be reached is not judged
/// (as at startup); its metadata answers 503 until it can be.
async fn check_scopes(next: &Snapshot) -> Result<(), Vec<String>> {
    let mut errors = Vec::new();
    for r in &next.resources {
        if let MetadataState::Ready(rendered) = r.metadata().await
            && let Err(m) = &rendered.outcome
        {
            errors.push(format!("resource {:?}: {m}", r.config.name));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reload_series_exist_from_the_start() {
        let registry = prometheus::Registry::new();
        let _m = ReloadMetrics::register(&registry);
        let text = crate::metrics::encode(&registry);
        for needle in [
            "mcp_warden_config_reloads_total{result=\"rejected\",trigger=\"watch\"} 0",
            "mcp_warden_config_reloads_total{result=\"unchanged\",trigger=\"admin\"} 0",
            "mcp_warden_config_last_reload_success 1",
        ] {
            assert!(text.contains(needle), "missing {needle}");
        }
    }
}
