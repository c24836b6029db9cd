//! The systemd unit: its lifecycle settings, `systemd-analyze verify` with the
//! built binary, and the `systemd-analyze security` exposure.

use std::path::Path;
use std::time::Duration;

use crate::{ROOT, path, read, run, text};

const BIN: &str = env!("CARGO_BIN_EXE_mcp-warden");
/// The unit's installed paths, which the verify test points elsewhere.
const UNIT_BIN: &str = "/usr/bin/mcp-warden";
const UNIT_CONFIG: &str = "/etc/mcp-warden/config.toml";
/// The ceiling issue 7 sets for `systemd-analyze security`.
const MAX_EXPOSURE: f64 = 1.5;

/// `Key=value` settings of the unit (all sections; repeated keys kept).
fn unit_settings(unit: &str) -> Vec<(&str, &str)> {
    unit.lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#') && !l.starts_with('['))
        .filter_map(|l| l.split_once('='))
        .collect()
}

fn setting<'a>(unit: &'a str, key: &str) -> Vec<&'a str> {
    unit_settings(unit)
        .into_iter()
        .filter(|(k, _)| *k == key)
        .map(|(_, v)| v)
        .collect()
}

#[test]
fn unit_has_the_lifecycle_settings() {
    let unit = read("systemd/mcp-warden.service");
    let one = |key: &str| -> String {
        match setting(&unit, key).as_slice() {
            [v] => v.to_string(),
            other => panic!("{key}= should be set once, found {other:?}"),
        }
    };
    assert_eq!(one("Type"), "notify");
    assert_eq!(one("NotifyAccess"), "main");
    assert_eq!(
        one("ExecStartPre"),
        format!("{UNIT_BIN} check --config {UNIT_CONFIG}")
    );
    assert_eq!(
        one("ExecStart"),
        format!("{UNIT_BIN} --config {UNIT_CONFIG}")
    );
    assert_eq!(one("ExecReload"), "/bin/kill -HUP $MAINPID");
    assert_eq!(one("Restart"), "on-failure");
    assert_eq!(one("RestartPreventExitStatus"), "78");
    assert_eq!(one("DynamicUser"), "yes");
    assert_eq!(one("ConfigurationDirectory"), "mcp-warden");
    assert!(humantime::parse_duration(&one("WatchdogSec")).is_ok());

    // The stop timeout must leave room for the configured drain.
    let example = mcp_warden::config::Config::parse_str(&read("config.toml.example"))
        .expect("config.toml.example is valid");
    let stop = humantime::parse_duration(&one("TimeoutStopSec")).unwrap();
    assert!(
        stop >= example.public.shutdown_grace + Duration::from_secs(5),
        "TimeoutStopSec={stop:?} leaves too little room above shutdown_grace={:?}",
        example.public.shutdown_grace
    );
}

#[test]
fn unit_verifies_with_the_built_binary() {
    let unit = read("systemd/mcp-warden.service");
    assert!(unit.contains(UNIT_BIN) && unit.contains(UNIT_CONFIG));
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::copy(path("config.toml.example"), &config).unwrap();
    let local = unit
        .replace(UNIT_BIN, BIN)
        .replace(UNIT_CONFIG, config.to_str().unwrap());
    // verify takes the unit name from the file name.
    let file = dir.path().join("mcp-warden.service");
    std::fs::write(&file, local).unwrap();

    let o = run(
        "systemd-analyze",
        &["verify", file.to_str().unwrap()],
        dir.path(),
    );
    let out = text(&o);
    assert!(o.status.success(), "systemd-analyze verify failed:\n{out}");
    // Other units on the machine may draw warnings; ours must draw none.
    let ours: Vec<&str> = out.lines().filter(|l| l.contains("mcp-warden")).collect();
    assert!(ours.is_empty(), "systemd-analyze verify complained:\n{out}");
}

/// The number in `→ Overall exposure level for mcp-warden.service: 1.1 OK 🙂`.
fn exposure(report: &str) -> Option<f64> {
    let line = report
        .lines()
        .find(|l| l.contains("Overall exposure level for"))?;
    line.rsplit_once(": ")?
        .1
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[test]
fn unit_security_exposure_is_at_most_1_5() {
    let unit = path("systemd/mcp-warden.service");
    let o = run(
        "systemd-analyze",
        &["security", "--offline=yes", unit.to_str().unwrap()],
        Path::new(ROOT),
    );
    let out = text(&o);
    assert!(
        o.status.success(),
        "systemd-analyze security failed:\n{out}"
    );
    let score = exposure(&out).unwrap_or_else(|| panic!("no exposure level in:\n{out}"));
    assert!(
        score <= MAX_EXPOSURE,
        "exposure {score} is above {MAX_EXPOSURE}:\n{out}"
    );
}

#[test]
fn exposure_is_parsed_from_the_report() {
    let report = "  NAME  DESCRIPTION  EXPOSURE\n\
                  ✗ PrivateNetwork=  Service has access to the host's network  0.5\n\n\
                  → Overall exposure level for mcp-warden.service: 1.1 OK 🙂\n";
    assert_eq!(exposure(report), Some(1.1));
    assert_eq!(exposure("nothing here"), None);
}
