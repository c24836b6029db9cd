//! Starting, running and stopping the daemon.
//!
//! [`start`] is what `main` and the integration tests both call, so tests run
//! the real daemon on `127.0.0.1:0`: bind both listeners (a bind failure names
//! the address), wait for every resource's first discovery and JWKS attempt,
//! refuse a strict scope mismatch, serve, watch the config file, and tell
//! systemd `READY=1`. [`Daemon::run`] then handles signals: SIGHUP reloads;
//! SIGTERM/SIGINT drain (stop accepting, let requests finish, end SSE
//! streams cleanly at `shutdown_grace`) and exit 0; a second SIGINT exits at
//! once.
//!
//! systemd (sd_notify; a no-op without `NOTIFY_SOCKET`): `READY=1` once both
//! listeners are bound and the first attempts finished, `RELOADING=1` with
//! `MONOTONIC_USEC` then `READY=1` around each reload, `STOPPING=1` on
//! shutdown, `WATCHDOG=1` every half `WATCHDOG_USEC` from a runtime task, and
//! a one-line `STATUS=`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::admin::Admin;
use crate::config::{Config, ConfigErrors};
use crate::gateway::Public;
use crate::oauth::scopes::Mismatch;
use crate::reload::{Reloader, Trigger};
use crate::server::serve;
use crate::state::App;
use crate::systemd;

/// Why the daemon could not start or run; [`Fatal::exit_code`] maps it.
#[derive(Debug, thiserror::Error)]
pub enum Fatal {
    #[error("{0}")]
    Config(#[from] ConfigErrors),
    #[error("{}", mismatch_message(.0))]
    ScopeMismatch(Vec<(String, Mismatch)>),
    #[error("cannot listen on {addr} ({listener} listener): {source}")]
    Bind {
        listener: &'static str,
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

fn mismatch_message(list: &[(String, Mismatch)]) -> String {
    list.iter()
        .map(|(name, m)| format!("resource {name:?}: {m}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `EX_CONFIG` from sysexits.h: systemd units use it in
/// `RestartPreventExitStatus=` so a bad config is not restarted in a loop.
pub const EX_CONFIG: i32 = 78;

impl Fatal {
    pub fn exit_code(&self) -> i32 {
        match self {
            Fatal::Config(_) | Fatal::ScopeMismatch(_) => EX_CONFIG,
            Fatal::Bind { .. } | Fatal::Other(_) => 1,
        }
    }
}

/// Binds a listener, reporting the address on failure (never panics, unlike
/// `warp::Server::bind`).
pub async fn bind(listener: &'static str, addr: SocketAddr) -> Result<TcpListener, Fatal> {
    TcpListener::bind(addr).await.map_err(|source| Fatal::Bind {
        listener,
        addr,
        source,
    })
}

/// A running daemon.
pub struct Daemon {
    pub app: Arc<App>,
    pub reloader: Arc<Reloader>,
    pub public_addr: SocketAddr,
    pub admin_addr: SocketAddr,
    grace: Duration,
    stop_accepting: watch::Sender<bool>,
    servers: Vec<JoinHandle<()>>,
    signals: Option<signal_hook_tokio::Signals>,
    _watcher: Option<crate::reload::watch::Watcher>,
}

/// Binds, loads, serves. See the module docs.
pub async fn start(
    config: Config,
    config_path: Option<std::path::PathBuf>,
) -> Result<Daemon, Fatal> {
    let public = bind("public", config.public.listen).await?;
    let admin = bind("admin", config.admin.listen).await?;
    let public_addr = public.local_addr().map_err(anyhow::Error::from)?;
    let admin_addr = admin.local_addr().map_err(anyhow::Error::from)?;
    let grace = config.public.shutdown_grace;
    let app = App::new(config, config_path.clone());
    let reloader = Reloader::new(app.clone());
    let mismatches = app.first_discovery().await;
    if !mismatches.is_empty() {
        return Err(Fatal::ScopeMismatch(mismatches));
    }
    let (stop_accepting, stop) = watch::channel(false);
    let public_router = Arc::new(Public { app: app.clone() });
    let admin_router = Arc::new(Admin {
        app: app.clone(),
        reloader: reloader.clone(),
    });
    let servers = vec![
        serve(public, public_router, app.metrics.clone(), stop.clone()),
        serve(admin, admin_router, app.metrics.clone(), stop),
    ];
    let watcher = match &config_path {
        Some(path) => match crate::reload::watch::spawn(reloader.clone(), path.clone()) {
            Ok(w) => Some(w),
            Err(e) => {
                tracing::warn!(error = %e, "cannot watch the configuration file; reload with SIGHUP or POST /reload");
                None
            }
        },
        None => None,
    };
    // Installed before READY=1: a SIGHUP or SIGTERM right after must not
    // meet the default action.
    let signals = signal_hook_tokio::Signals::new([SIGHUP, SIGTERM, SIGINT])
        .map_err(|e| anyhow::anyhow!("cannot install signal handlers: {e}"))?;
    systemd::spawn_watchdog();
    tracing::info!(%public_addr, %admin_addr, resources = app.snapshot().resources.len(), "mcp-warden listening");
    systemd::ready(&app.status_line());
    Ok(Daemon {
        app,
        reloader,
        public_addr,
        admin_addr,
        grace,
        stop_accepting,
        servers,
        signals: Some(signals),
        _watcher: watcher,
    })
}

impl Daemon {
    /// Serves until SIGTERM or SIGINT, reloading on SIGHUP, then drains.
    pub async fn run(mut self) -> Result<(), Fatal> {
        let mut signals = self
            .signals
            .take()
            .expect("run is the only taker, and it consumes the daemon");
        while let Some(signal) = signals.next().await {
            if signal == SIGHUP {
                let reloader = self.reloader.clone();
                tokio::spawn(async move { reloader.reload(Trigger::Signal).await });
                continue;
            }
            tracing::info!(signal, "shutting down");
            break;
        }
        let drain = self.shutdown();
        tokio::pin!(drain);
        loop {
            tokio::select! {
                _ = &mut drain => return Ok(()),
                Some(signal) = signals.next() => {
                    if signal == SIGINT {
                        tracing::warn!("second SIGINT: exiting without draining");
                        std::process::exit(130);
                    }
                }
            }
        }
    }

    /// Stops accepting, lets in-flight requests finish, ends open streams
    /// cleanly at the grace period, and returns shortly after.
    pub async fn shutdown(self) {
        systemd::stopping();
        let _ = self.stop_accepting.send(true);
        let mut servers = self.servers;
        let mut all = futures_util::future::join_all(servers.iter_mut());
        if tokio::time::timeout(self.grace, &mut all).await.is_err() {
            // Streams still open: end them cleanly (the proxy's bodies
            // finish), then give the connections a moment to flush.
            self.app.end_streams();
            if tokio::time::timeout(Duration::from_millis(500), &mut all)
                .await
                .is_err()
            {
                tracing::warn!(grace = %humantime::format_duration(self.grace), "connections still open after the shutdown grace period; closing them");
            }
        }
        drop(all);
        for server in &servers {
            server.abort();
        }
    }
}
