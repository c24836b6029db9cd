//! The command line: `mcp-warden [--config PATH]`, `mcp-warden check`.
//!
//! The one place that turns errors into exit codes: 0 ok, 78 (`EX_CONFIG`)
//! for any configuration error including a strict scope mismatch, 1 for
//! anything else.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::config::Config;
use crate::daemon::{self, Fatal};
use crate::state::{App, MetadataState};

/// OAuth 2.1 resource server for MCP servers.
#[derive(Debug, Parser)]
#[command(name = "mcp-warden", version, about)]
pub struct Cli {
    /// Configuration file.
    #[arg(
        long,
        global = true,
        env = "MCP_WARDEN_CONFIG",
        default_value = "/etc/mcp-warden/config.toml"
    )]
    pub config: PathBuf,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    #[cfg(feature = "demo")]
    /// Run a self-contained demo on loopback: a demo authorization server, a
    /// demo MCP server and mcp-warden in front of them, with a walkthrough.
    Demo {
        /// The gateway's public port (0: any free port).
        #[arg(long, default_value_t = 8080)]
        port: u16,
    },
    /// Validate the configuration and exit (0 valid, 78 invalid).
    Check {
        /// Also fetch each authorization server's metadata and print the
        /// scopes each resource would advertise.
        #[arg(long)]
        online: bool,
    },
}

/// Runs the parsed command line and returns the process exit code.
pub fn main(cli: Cli) -> i32 {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("mcp-warden: cannot start the async runtime: {e}");
            return 1;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            None => run(&cli.config).await,
            Some(Command::Check { online }) => check(&cli.config, online).await,
            #[cfg(feature = "demo")]
            Some(Command::Demo { port }) => crate::demo::run::run(port).await,
        }
    });
    match result {
        Ok(()) => 0,
        Err(fatal) => {
            tracing::error!("{fatal:#}");
            eprintln!("mcp-warden: {fatal:#}");
            fatal.exit_code()
        }
    }
}

async fn run(path: &std::path::Path) -> Result<(), Fatal> {
    let config = Config::load(path)?;
    crate::telemetry::init(&config.log);
    tracing::info!(config = %path.display(), version = env!("CARGO_PKG_VERSION"), "starting");
    let daemon = daemon::start(config, Some(path.to_owned())).await?;
    daemon.run().await
}

async fn check(path: &std::path::Path, online: bool) -> Result<(), Fatal> {
    let config = Config::load(path)?;
    println!(
        "{}: ok ({} resource{})",
        path.display(),
        config.resources.len(),
        if config.resources.len() == 1 { "" } else { "s" }
    );
    if !online {
        return Ok(());
    }
    let app = App::new(config, Some(path.to_owned()));
    let snapshot = app.snapshot();
    let mut mismatches = Vec::new();
    let mut failed = Vec::new();
    for r in &snapshot.resources {
        match r.metadata().await {
            MetadataState::Ready(rendered) => match &rendered.outcome {
                Ok((a, _)) => println!(
                    "{}: issuer {} · {} of {} scopes advertised ({}, {} chars{}): {}",
                    r.config.name,
                    rendered.metadata.issuer,
                    a.scopes.len(),
                    rendered
                        .metadata
                        .scopes_supported
                        .as_ref()
                        .map_or(0, Vec::len),
                    a.choice,
                    a.chars,
                    if a.over_max { ", over max_chars" } else { "" },
                    a.joined()
                ),
                Err(m) => mismatches.push((r.config.name.clone(), m.clone())),
            },
            MetadataState::Unavailable(u) => {
                let e = u.error.map(|e| e.to_string()).unwrap_or_default();
                println!(
                    "{}: authorization server metadata unavailable: {e}",
                    r.config.name
                );
                failed.push(r.config.name.clone());
            }
        }
    }
    if !mismatches.is_empty() {
        return Err(Fatal::ScopeMismatch(mismatches));
    }
    if !failed.is_empty() {
        return Err(
            anyhow::anyhow!("metadata could not be fetched for: {}", failed.join(", ")).into(),
        );
    }
    Ok(())
}
