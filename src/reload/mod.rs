//! The one reload path, used by the file watcher, SIGHUP and `POST /reload`.
//!
//! It reads and validates the file with the same code as `mcp-warden check`,
//! builds the complete new snapshot off to the side (reusing warm caches,
//! fetching discovery for newly added resources), evaluates every scope
//! override against the live catalogs, and only then swaps it in. Anything
//! wrong rejects the reload **whole**: the previous configuration stays
//! active, the errors are logged and shown in `/status`,
//! `config_reloads_total{result="rejected"}` moves and
//! `config_last_reload_success` drops to 0. Never a partial apply, never a
//! fallback to the full catalog.
//!
//! Identical content (same hash) is `unchanged` and does not bump the
//! generation. `public.listen` and `admin.listen` cannot change without a
//! restart: such a change is reported and the rest of the reload applies.

pub mod watch;

use std::time::SystemTime;

use crate::config::Config;
use crate::state::{App, MetadataState, ReloadRecord, Snapshot};

/// Reloads the configuration file now. Concurrent calls run one at a time.
pub async fn reload(app: &App, trigger: &'static str) -> ReloadRecord {
    let _one_at_a_time = app.reload_lock.lock().await;
    // systemd: RELOADING=1 with the monotonic time, READY=1 when done.
    let mut states = vec![sd_notify::NotifyState::Reloading];
    states.extend(sd_notify::NotifyState::monotonic_usec_now().ok());
    crate::daemon::notify(&states);
    let mut restart_required = Vec::new();
    let outcome = attempt(app, &mut restart_required).await;
    let (result, errors) = match outcome {
        Ok(true) => ("success", Vec::new()),
        Ok(false) => ("unchanged", Vec::new()),
        Err(errors) => ("rejected", errors),
    };
    let m = &app.metrics;
    m.config_reloads.with_label_values(&[trigger, result]).inc();
    if result == "rejected" {
        m.config_last_reload_success.set(0);
        tracing::error!(trigger, errors = %errors.join("; "), "configuration reload rejected; the previous configuration stays active");
    } else {
        m.config_last_reload_success.set(1);
        m.config_last_reload_success_timestamp
            .set(crate::metrics::unix_seconds());
        tracing::info!(
            trigger,
            result,
            generation = app.snapshot().generation,
            "configuration reloaded"
        );
    }
    for r in &restart_required {
        tracing::warn!(trigger, "{r}");
    }
    let record = ReloadRecord {
        at: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
        trigger,
        result,
        errors,
        restart_required,
    };
    app.last_reload
        .store(Some(std::sync::Arc::new(record.clone())));
    let status = crate::daemon::status_line(app);
    crate::daemon::notify(&[
        sd_notify::NotifyState::Ready,
        sd_notify::NotifyState::Status(&status),
    ]);
    record
}

/// `Ok(true)` applied, `Ok(false)` unchanged, `Err` rejected with reasons.
async fn attempt(app: &App, restart_required: &mut Vec<String>) -> Result<bool, Vec<String>> {
    let Some(path) = &app.config_path else {
        return Err(vec![
            "mcp-warden was not started from a configuration file".into(),
        ]);
    };
    let mut config =
        Config::load(path).map_err(|e| e.0.iter().map(ToString::to_string).collect::<Vec<_>>())?;
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
