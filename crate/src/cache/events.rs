//! What the run cache handed out and took in, for the tools that check the notebooks: one JSON
//! line per run, appended to the file `LOSSVIZ_EVENTS` names ([`RunCache::events`]; nothing is
//! written when it is unset). The notebook tests and the class budget count each cell's
//! trainings and loads from these lines, not from the messages meant for people, whose wording
//! may change.
use std::io::Write;
use std::path::Path;

#[cfg(doc)]
use super::RunCache;
use crate::error::{Error, Result};

pub(super) enum Event<'a> {
    /// A run read from an entry and handed to the caller instead of training.
    Loaded { run: &'a str, entry: &'a Path, from_class: bool },
    /// A run trained here and stored.
    Trained { run: &'a str, entry: &'a Path, seconds: f64 },
}

pub(super) fn record(file: Option<&Path>, event: Event) -> Result<()> {
    let Some(path) = file else { return Ok(()) };
    let line = match event {
        Event::Loaded { run, entry, from_class } => serde_json::json!({
            "event": "loaded", "run": run, "entry": entry, "cache": if from_class { "class" } else { "own" },
        }),
        Event::Trained { run, entry, seconds } => serde_json::json!({
            "event": "trained", "run": run, "entry": entry, "seconds": seconds,
        }),
    };
    // One write per line to a file opened for appending: lines from kernels sharing the file
    // never interleave.
    let text = format!("{line}\n");
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut file| file.write_all(text.as_bytes()))
        .map_err(|source| Error::Io { path: path.to_path_buf(), source })
}
