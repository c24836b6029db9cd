//! systemd service notification (sd_notify), a leaf: `READY=1`,
//! `RELOADING=1` with `MONOTONIC_USEC`, `STOPPING=1`, `STATUS=`, and the
//! `WATCHDOG=1` pings. Every call is a no-op without `NOTIFY_SOCKET`.

use std::time::Duration;

use sd_notify::NotifyState;

/// Sends sd_notify states; without `NOTIFY_SOCKET` it does nothing.
fn notify(states: &[NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(false, states) {
        tracing::debug!(error = %e, "sd_notify failed");
    }
}

/// `READY=1` with a one-line `STATUS=`: at start and after each reload.
pub fn ready(status: &str) {
    notify(&[NotifyState::Ready, NotifyState::Status(status)]);
}

/// `RELOADING=1` with the monotonic time (systemd 253+ `Type=notify-reload`
/// semantics; older systemd ignores it). [`ready`] ends the reload.
pub fn reloading() {
    let mut states = vec![NotifyState::Reloading];
    states.extend(NotifyState::monotonic_usec_now().ok());
    notify(&states);
}

/// `STOPPING=1`: the drain has begun.
pub fn stopping() {
    notify(&[NotifyState::Stopping]);
}

/// `WATCHDOG=1` at half the interval systemd asked for, from a runtime task:
/// if the runtime stalls, the pings stop and systemd restarts the service.
pub fn spawn_watchdog() {
    let Some(usec) = watchdog_usec() else { return };
    let every = Duration::from_micros(usec / 2);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            notify(&[NotifyState::Watchdog]);
        }
    });
}

/// `WATCHDOG_USEC`, when the watchdog is meant for this process: as
/// libsystemd's `sd_watchdog_enabled`, an unset `WATCHDOG_PID` means "us"
/// (sd-notify's helper requires it to be set).
fn watchdog_usec() -> Option<u64> {
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.trim().parse().ok()?;
    match std::env::var("WATCHDOG_PID") {
        Ok(pid) if pid.trim() != std::process::id().to_string() => None,
        _ => (usec > 0).then_some(usec),
    }
}
