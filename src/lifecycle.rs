//! Starting and stopping the daemon: bind, first discovery, serve, drain.
//!
//! [`start`] is what `main` and the integration tests both call, so tests run
//! the real daemon on `127.0.0.1:0`. Shutdown is one decision
//! ([`Daemon::shutdown`]) followed by a drain bounded by `shutdown_grace`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::app::App;
use crate::config::{Config, ConfigErrors};
use crate::scopes::Mismatch;

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
    pub public_addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    public: JoinHandle<()>,
}

/// Binds the listeners, waits for every resource's first discovery attempt
/// and starts serving. A strict scope-override mismatch against a reachable
/// authorization server is fatal ([`Fatal::ScopeMismatch`]); an unreachable
/// one is not (metadata answers 503 until it is reachable).
pub async fn start(config: Config) -> Result<Daemon, Fatal> {
    let public = bind("public", config.public.listen).await?;
    let public_addr = public.local_addr().map_err(anyhow::Error::from)?;
    let grace = config.public.shutdown_grace;
    let app = App::new(config)?;
    let mismatches = app.first_discovery().await;
    if !mismatches.is_empty() {
        return Err(Fatal::ScopeMismatch(mismatches));
    }
    let (shutdown, signal) = watch::channel(false);
    let routes = crate::public::routes(app.clone());
    let public = tokio::spawn(serve("public", public, routes, signal, grace));
    tracing::info!(%public_addr, resources = app.snapshot().resources.len(), "mcp-warden listening");
    Ok(Daemon {
        app,
        public_addr,
        shutdown,
        public,
    })
}

impl Daemon {
    /// Stops accepting, lets in-flight requests finish within the grace
    /// period, then returns.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let _ = self.public.await;
    }
}

/// Serves `routes` on `listener` until `signal` turns true, then drains for at
/// most `grace`.
async fn serve<F>(
    name: &'static str,
    listener: TcpListener,
    routes: F,
    mut signal: watch::Receiver<bool>,
    grace: Duration,
) where
    F: warp::Filter<Extract = (warp::reply::Response,), Error = warp::Rejection>
        + Clone
        + Send
        + Sync
        + 'static,
{
    let mut stop = signal.clone();
    let server = warp::serve(routes)
        .incoming(listener)
        .graceful(async move {
            let _ = stop.wait_for(|s| *s).await;
        })
        .run();
    tokio::pin!(server);
    tokio::select! {
        _ = &mut server => {}
        _ = async {
            let _ = signal.wait_for(|s| *s).await;
            tokio::time::sleep(grace).await;
        } => {
            tracing::warn!(listener = name, grace = %humantime::format_duration(grace), "connections still open after the shutdown grace period; closing them");
        }
    }
}
