//! Watching the configuration file (notify + notify-debouncer-full).
//!
//! The *parent directory* is watched, not the file: editors save by writing
//! a new file and renaming it over the old one (vim, `sed -i`), Kubernetes
//! swaps a `..data` symlink, and a deleted-then-recreated file is a new
//! inode. Events for the file's name or for `..`-prefixed entries (the
//! ConfigMap machinery) are debounced into one reload per change. A file
//! that is gone when the debounce settles is logged and skipped: the last
//! good configuration stays. Identical content is a no-op (see
//! [`super::Outcome::Unchanged`]).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify::{EventKind, RecursiveMode};
use notify_debouncer_full::{DebounceEventResult, new_debouncer};

use super::{Reloader, Trigger};

/// How long events must be quiet before a reload.
pub const DEBOUNCE: Duration = Duration::from_millis(100);

/// A running watcher; dropping it stops watching.
pub struct Watcher {
    _debouncer: Box<dyn Send>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Whether an event path concerns the configuration file.
fn relevant(path: &Path, name: &OsString) -> bool {
    path.file_name()
        .is_some_and(|n| n == name.as_os_str() || n.to_string_lossy().starts_with(".."))
}

/// Starts watching `config`'s directory; changes call
/// [`Reloader::reload`] with trigger `watch`.
pub fn spawn(reloader: Arc<Reloader>, config: PathBuf) -> notify::Result<Watcher> {
    let dir = match config.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    let name = config.file_name().map(OsString::from).unwrap_or_default();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let watched_name = name.clone();
    let mut debouncer =
        new_debouncer(
            DEBOUNCE,
            None,
            move |result: DebounceEventResult| match result {
                Ok(events) => {
                    // Reading the file (each reload does) raises access
                    // events: only creations, writes, renames and removals
                    // are changes.
                    if events.iter().any(|e| {
                        !matches!(e.kind, EventKind::Access(_))
                            && e.paths.iter().any(|p| relevant(p, &watched_name))
                    }) {
                        let _ = tx.send(());
                    }
                }
                Err(errors) => {
                    for e in errors {
                        tracing::warn!(error = %e, "configuration watcher error");
                    }
                }
            },
        )?;
    debouncer.watch(&dir, RecursiveMode::NonRecursive)?;
    let task = tokio::spawn(async move {
        while rx.recv().await.is_some() {
            // Coalesce a burst that arrived while the last reload ran.
            while rx.try_recv().is_ok() {}
            if !config.exists() {
                tracing::warn!(config = %config.display(), "configuration file is gone; keeping the last good configuration");
                continue;
            }
            reloader.reload(Trigger::Watch).await;
        }
    });
    tracing::info!(dir = %dir.display(), "watching the configuration for changes");
    Ok(Watcher {
        _debouncer: Box::new(debouncer),
        task,
    })
}
