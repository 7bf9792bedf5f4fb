//! Finished runs on disk, so running a training cell again, in a restarted kernel or a sweep
//! that shares configurations with an earlier one, loads instead of training.
//!
//! An entry is a folder named by a hash of everything that decides the result (the full
//! `TrainConfig` and the data), holding the network's weights and `run.json` (the report
//! and the test features). `run.json` starts with a CRC-32 of the rest and records the
//! weights' CRC-32: an entry without it, with a wrong checksum or with other key material is
//! treated as missing and retrained. A whole entry is written in a folder of its own and
//! renamed into place, so writers racing on one configuration (sweep tasks on several
//! machines) never mix one's weights with another's `run.json`.
//!
//! Behind a student's own cache there can be the class's (`LOSSVIZ_CLASS_RUNS`): entries the
//! lecturer trained once for everyone (`./kernel-setup.sh prefill`), read-only. A run is looked
//! for in the student's cache first, then in the class's, whose entries pass the same
//! checks (one that fails them is skipped, never used); whatever trains is stored in the
//! student's own.
mod events;
mod train_or_load;

use std::path::{Path, PathBuf};

use crate::data::{Dataset, Split};
use crate::error::{Error, Result, TorchContext};
use crate::features::Features;
use crate::fs::{fnv1a, unique_suffix, write_atomic};
use crate::report::{Outcome, RunReport};
use crate::training::{Experiment, Snapshot, TrainConfig, RESULTS_VERSION};

pub use train_or_load::{estimate, record_or_load, train_or_load};

/// Bumped when what an entry holds changes, so that entries of another layout are trained
/// again rather than misread. (When training's numbers change, [`RESULTS_VERSION`] is bumped
/// instead; a test says when.)
const FORMAT: u32 = 3;

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = flate2::Crc::new();
    crc.update(bytes);
    crc.sum()
}

/// CRC-32 of a split's pixels and labels: two datasets of the same size but different
/// content (another `LOSSVIZ_DATA` folder, a re-downloaded file) get different keys.
fn split_fingerprint(split: &Split) -> Result<u32> {
    let mut crc = flate2::Crc::new();
    for (tensor, what) in [(&split.images, "images"), (&split.labels, "labels")] {
        let tensor = tensor.to_device(tch::Device::Cpu).contiguous();
        let mut bytes = vec![0u8; tensor.numel() * tensor.kind().elt_size_in_bytes()];
        tensor.f_copy_data_u8(&mut bytes, tensor.numel()).context(&format!("reading {what} for the cache key"))?;
        crc.update(&bytes);
    }
    Ok(crc.sum())
}

/// What a cached run was trained on, as text: part of its key and checked on load.
pub(crate) fn data_identity(data: &Dataset) -> Result<String> {
    Ok(format!(
        "{} train {} ({:08x}) test {} ({:08x})",
        data.kind,
        data.train.len(),
        split_fingerprint(&data.train)?,
        data.test.len(),
        split_fingerprint(&data.test)?
    ))
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Entry {
    format: u32,
    key_material: String,
    weights_crc32: u32,
    report: RunReport,
    features: Features,
    /// A recording's frames (`record_or_load`); none for other runs.
    #[serde(default)]
    snapshots: Vec<Snapshot>,
}

/// A run read back from the cache.
pub struct CacheHit {
    pub report: RunReport,
    pub features: Features,
    /// The trained network's weights and centers: `experiment.load_weights(path)` restores
    /// them.
    pub weights: PathBuf,
    /// Found in the class's cache rather than the student's own.
    pub from_class: bool,
    /// A recording's frames (`record_or_load`); none for other runs.
    pub snapshots: Vec<Snapshot>,
}

impl CacheHit {
    /// "loaded from the cache (trained earlier in 81.2 s)", or for a class entry, "loaded
    /// from the class's cache (trained on <machine> in 81.2 s)".
    pub fn loaded_note(&self) -> String {
        let seconds = self.report.train_seconds();
        match (self.from_class, self.report.machine.is_empty()) {
            (true, false) => format!("loaded from the class's cache (trained on {} in {seconds:.1} s)", self.report.machine),
            (true, true) => format!("loaded from the class's cache (trained in {seconds:.1} s)"),
            (false, _) => format!("loaded from the cache (trained earlier in {seconds:.1} s)"),
        }
    }
}

/// What the cache holds for a configuration: a usable run, nothing, or an entry that
/// failed its checks (and why).
pub enum Lookup {
    Hit(Box<CacheHit>),
    Missing,
    Corrupt(String),
}

pub struct RunCache {
    /// Where runs are looked for first and stored.
    pub dir: PathBuf,
    /// The class's entries, read after `dir` and never written.
    pub class_dir: Option<PathBuf>,
    /// Where each run loaded or trained is recorded, for the tools that check the notebooks
    /// ([`events`]); none: nowhere.
    pub events: Option<PathBuf>,
}

impl RunCache {
    /// The student's cache in `dir`, with the class's from `LOSSVIZ_CLASS_RUNS` behind it,
    /// recording into `LOSSVIZ_EVENTS` when that is set.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        let path_in = |var| std::env::var_os(var).filter(|d| !d.is_empty()).map(PathBuf::from);
        RunCache { dir: dir.into(), class_dir: path_in("LOSSVIZ_CLASS_RUNS"), events: path_in("LOSSVIZ_EVENTS") }
    }

    /// In [`RunCache::default_dir`], with the class's cache behind it.
    pub fn from_env() -> Self {
        Self::new(Self::default_dir())
    }

    /// `LOSSVIZ_RUNS` if set, else `runs/` in the lossviz cache folder (`~/.cache/lossviz`).
    pub fn default_dir() -> PathBuf {
        std::env::var_os("LOSSVIZ_RUNS").map(PathBuf::from).unwrap_or_else(|| crate::data::cache_dir().join("runs"))
    }

    /// Everything that decides a run's numbers: the entry format, the results version, the
    /// data, and every setting but `log_every` (how often progress is reported). A loss that
    /// is off is left out, except the four whose `null` every key held before losses were
    /// registered: so a loss added to the registry, or defined in a notebook cell, changes
    /// no key of a run that does not use it.
    fn key_material(config: &TrainConfig, data_identity: &str) -> Result<String> {
        const OFF_IN_EARLIER_KEYS: [&str; 4] = ["center", "pc", "contrastive_center", "cosface"];
        let mut settings = serde_json::to_value(config).map_err(Error::json("the settings (for the cache key)"))?;
        if let Some(map) = settings.as_object_mut() {
            let registered_off: Vec<String> = crate::losses::registered()
                .into_iter()
                .filter(|name| map.get(name).is_some_and(|v| v.is_null()) && !OFF_IN_EARLIER_KEYS.contains(&name.as_str()))
                .collect();
            for name in registered_off {
                map.remove(&name);
            }
            map.remove("log_every");
            // fp32 keeps the keys runs had before `precision` existed, so their entries stay valid.
            if map.get("precision").and_then(|p| p.as_str()) == Some("fp32") {
                map.remove("precision");
            }
        }
        Ok(format!("format {FORMAT}; results {RESULTS_VERSION}; data {data_identity}; config {settings}"))
    }

    /// The entry's folder for this configuration and data, and the key material it hashes.
    fn entry(&self, config: &TrainConfig, data_identity: &str) -> Result<(PathBuf, String)> {
        let material = Self::key_material(config, data_identity)?;
        Ok((self.dir.join(name_of(&material)), material))
    }

    /// The entry's folder name: what names a configuration trained on this data wherever the
    /// cache is mounted (a Slurm plan names its tasks' entries by it).
    pub(crate) fn entry_name(config: &TrainConfig, data_identity: &str) -> Result<String> {
        Ok(name_of(&Self::key_material(config, data_identity)?))
    }

    /// The entry's folder for this configuration and data.
    pub fn entry_dir(&self, config: &TrainConfig, data_identity: &str) -> Result<PathBuf> {
        Ok(self.entry(config, data_identity)?.0)
    }

    /// The student's entry if usable, else the class's; an unusable class entry is reported
    /// as such (the caller trains, into the student's cache). A hit is recorded as loaded
    /// (`LOSSVIZ_EVENTS`, [`events`]): the caller uses it in place of a training.
    pub fn load(&self, config: &TrainConfig, data_identity: &str) -> Result<Lookup> {
        let lookup = self.lookup(config, data_identity)?;
        if let Lookup::Hit(hit) = &lookup {
            let entry = hit.weights.parent().unwrap_or(&hit.weights);
            events::record(self.events.as_deref(), events::Event::Loaded { run: &hit.report.name, entry, from_class: hit.from_class })?;
        }
        Ok(lookup)
    }

    /// Whether [`load`](Self::load) would find a usable run, for counting what a job will
    /// train: nothing is recorded as loaded.
    pub(crate) fn holds(&self, config: &TrainConfig, data_identity: &str) -> Result<bool> {
        Ok(matches!(self.lookup(config, data_identity)?, Lookup::Hit(_)))
    }

    fn lookup(&self, config: &TrainConfig, data_identity: &str) -> Result<Lookup> {
        let own = self.load_own(config, data_identity)?;
        let Some(class_dir) = self.class_dir.as_ref().filter(|_| !matches!(own, Lookup::Hit(_))) else { return Ok(own) };
        let material = Self::key_material(config, data_identity)?;
        Ok(match (read_entry(&class_dir.join(name_of(&material)), &material)?, own) {
            (Lookup::Hit(mut hit), _) => {
                hit.from_class = true;
                Lookup::Hit(hit)
            }
            (Lookup::Corrupt(why), Lookup::Missing) => Lookup::Corrupt(format!("the class's entry is skipped: {why}")),
            (_, own) => own,
        })
    }

    /// The student's own entry only.
    fn load_own(&self, config: &TrainConfig, data_identity: &str) -> Result<Lookup> {
        let (dir, material) = self.entry(config, data_identity)?;
        read_entry(&dir, &material)
    }

    /// Stores a finished run: both files are written (and flushed) in a new folder beside
    /// the entries, which is then renamed to the entry's name, so a crash never leaves an
    /// entry that looks complete. When another writer stored the same configuration first, its
    /// entry is kept and this one dropped (same settings and data: the same run); an unusable
    /// entry in the way is replaced.
    pub fn store(&self, data_identity: &str, experiment: &Experiment, run: &Outcome, snapshots: &[Snapshot]) -> Result<PathBuf> {
        let config = &experiment.config;
        let (dir, key_material) = self.entry(config, data_identity)?;
        let io = |path: &std::path::Path| {
            let path = path.to_path_buf();
            move |source| Error::Io { path, source }
        };
        std::fs::create_dir_all(&self.dir).map_err(io(&self.dir))?;
        let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let staging = self.dir.join(format!(".{name}.tmp.{}", unique_suffix()));
        std::fs::create_dir(&staging).map_err(io(&staging))?;
        let written = (|| {
            let bytes = experiment.weights_bytes()?;
            write_atomic(&staging.join("weights.ot"), &bytes)?;
            let entry = Entry {
                format: FORMAT,
                key_material,
                weights_crc32: crc32(&bytes),
                report: run.report.clone(),
                features: run.features.clone(),
                snapshots: snapshots.to_vec(),
            };
            let body = serde_json::to_vec(&entry).map_err(Error::json("the cached run"))?;
            let mut file = format!("{:08x}\n", crc32(&body)).into_bytes();
            file.extend(body);
            write_atomic(&staging.join("run.json"), &file)
        })();
        let placed = written.and_then(|()| {
            if std::fs::rename(&staging, &dir).is_ok() {
                return Ok(());
            }
            // Something is there already: another writer's whole entry, or an unusable one.
            if let Lookup::Hit(_) = self.load_own(config, data_identity)? {
                return Ok(());
            }
            match std::fs::remove_dir_all(&dir) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(&dir)(e)),
                _ => {}
            }
            match std::fs::rename(&staging, &dir) {
                Ok(()) => Ok(()),
                Err(_) if matches!(self.load_own(config, data_identity)?, Lookup::Hit(_)) => Ok(()),
                Err(e) => Err(io(&dir)(e)),
            }
        });
        // Gone when renamed; otherwise this writer's copy, no longer needed.
        let _ = std::fs::remove_dir_all(&staging);
        placed?;
        events::record(
            self.events.as_deref(),
            events::Event::Trained { run: &run.report.name, entry: &dir, seconds: run.report.train_seconds() },
        )?;
        Ok(dir.join("weights.ot"))
    }
}

/// An entry's folder name: the hash of its key material.
fn name_of(material: &str) -> String {
    format!("{:016x}", fnv1a(material.as_bytes()))
}

/// The entry in `dir`, checked: its checksums, its format, and that it was made for
/// `material`.
fn read_entry(dir: &Path, material: &str) -> Result<Lookup> {
    let run_json = dir.join("run.json");
    let bytes = match std::fs::read(&run_json) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Lookup::Missing),
        Err(source) => return Err(Error::Io { path: run_json, source }),
    };
    let corrupt = |why: &str| Ok(Lookup::Corrupt(format!("{}: {why}", run_json.display())));
    let Some(newline) = bytes.iter().position(|&b| b == b'\n') else { return corrupt("no checksum line") };
    let (head, body) = (&bytes[..newline], &bytes[newline + 1..]);
    if std::str::from_utf8(head).ok().and_then(|h| u32::from_str_radix(h.trim(), 16).ok()) != Some(crc32(body)) {
        return corrupt("checksum does not match its contents");
    }
    let entry: Entry = match serde_json::from_slice(body) {
        Ok(e) => e,
        Err(e) => return corrupt(&format!("unreadable ({e})")),
    };
    if entry.format != FORMAT || entry.key_material != *material {
        return corrupt("made for other settings or data");
    }
    let weights = dir.join("weights.ot");
    match std::fs::read(&weights) {
        Ok(w) if crc32(&w) == entry.weights_crc32 => {}
        Ok(_) => return corrupt("weights.ot does not match its checksum"),
        Err(e) => return corrupt(&format!("weights.ot unreadable ({e})")),
    }
    let (report, features, snapshots) = (entry.report, entry.features, entry.snapshots);
    Ok(Lookup::Hit(Box::new(CacheHit { report, features, weights, from_class: false, snapshots })))
}

#[cfg(test)]
mod tests;
