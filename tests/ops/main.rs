//! The operations kit, checked with the real tools: the systemd unit
//! (`systemd-analyze verify` and `security`), the alert rules (`promtool check
//! rules` and `promtool test rules`), and a static check of the Grafana
//! dashboard and every PromQL expression against the metric names the daemon
//! exports.
//!
//! A missing `systemd-analyze` or `promtool` fails the test with the command
//! that installs it; nothing is skipped.
//!
//! Layout: `systemd` (the unit), `rules` (alert rules), `dashboard` (the
//! dashboard and every expression in it and in the rules), `promql` (the
//! exported metric names and a small PromQL reader that finds the metric
//! names an expression selects).

mod dashboard;
mod live;
mod promql;
mod rules;
#[path = "../support/mod.rs"]
mod support;
mod systemd;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

pub fn path(rel: &str) -> PathBuf {
    Path::new(ROOT).join(rel)
}

pub fn read(rel: &str) -> String {
    std::fs::read_to_string(path(rel)).unwrap_or_else(|e| panic!("cannot read {rel}: {e}"))
}

/// Runs a tool, failing loudly (with how to install it) when it is missing.
pub fn run(tool: &str, args: &[&str], cwd: &Path) -> Output {
    let install = match tool {
        "promtool" => "apt-get install -y prometheus (./scripts/test does this when run as root)",
        "systemd-analyze" => "apt-get install -y systemd",
        _ => "install it",
    };
    Command::new(tool)
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap_or_else(|e| panic!("cannot run `{tool}` ({e}); this test needs it: {install}"))
}

pub fn text(o: &Output) -> String {
    format!(
        "status: {}\n--- stdout\n{}--- stderr\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}
