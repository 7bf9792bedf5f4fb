//! The exercise's tool: train many configurations, compare them side by side.
//!
//! ```ignore
//! let configs = grid(&base.with_center(), &[Axis::new("center.lambda", [0.001, 0.1, 10.0])])?;
//! let sweep = Sweep::new(&data, device).run(&configs)?;
//! sweep.table()                                    // accuracy and feature metrics, as HTML
//! sweep.scatter_grid(Normalize::EqualAspect)?      // one panel per run, titled by what differs
//! ```
//! Every finished run is cached on disk (see [`RunCache`]), so running the cell again, or a
//! sweep that shares configurations with an earlier one, loads instead of retraining. On a
//! cluster, `.on_slurm(SlurmOptions::default())` trains the configurations as Slurm array
//! tasks instead (see [`slurm`]).
pub mod slurm;
mod table;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use tch::Device;

pub use slurm::SlurmOptions;
pub use table::Table;

use crate::cache::{self, CacheHit, Lookup, RunCache};
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::language::Words;
use crate::plot::{curves, scatter_grid, Figure, Style};
use crate::report::{run_experiment, Outcome};
use crate::training::{print_progress, Estimate, Progress, TrainConfig};

/// One setting and the values it takes in a [`grid`].
#[derive(Debug, Clone)]
pub struct Axis {
    pub path: String,
    /// Each value as JSON, or why it could not be written as JSON (reported by [`grid`];
    /// a silent `null` would read as "turn this loss off").
    pub values: Vec<std::result::Result<serde_json::Value, String>>,
}

impl Axis {
    /// `path` as in [`TrainConfig::set`]; values of any type the setting takes:
    /// `Axis::new("center.lambda", [0.01, 1.0])`, `Axis::new("optimizer", ["sgd", "adam"])`.
    pub fn new<V: serde::Serialize>(path: &str, values: impl IntoIterator<Item = V>) -> Self {
        let values = values.into_iter().map(|v| serde_json::to_value(v).map_err(|e| e.to_string())).collect();
        Axis { path: path.to_string(), values }
    }
}

/// Every combination of the axes' values applied to `base` (the last axis varies fastest).
pub fn grid(base: &TrainConfig, axes: &[Axis]) -> Result<Vec<TrainConfig>> {
    let mut configs = vec![base.clone()];
    for axis in axes {
        if axis.values.is_empty() {
            return Err(Error::setting(&axis.path, "[]", "an axis needs at least one value"));
        }
        let mut next = Vec::with_capacity(configs.len() * axis.values.len());
        for config in &configs {
            for value in &axis.values {
                let value = value.as_ref().map_err(|e| Error::setting(&axis.path, "?", &format!("a value is not a setting: {e}")))?;
                next.push(config.set(&axis.path, value)?);
            }
        }
        configs = next;
    }
    Ok(configs)
}

fn nearest_ancestor<'a>(leaves: &'a BTreeMap<String, String>, path: &str) -> Option<&'a str> {
    let mut p = path;
    while let Some((parent, _)) = p.rsplit_once('.') {
        if let Some(v) = leaves.get(parent) {
            return Some(v);
        }
        p = parent;
    }
    None
}

/// A name per config listing only what differs between them: `"center.lambda=0.1,
/// optimizer=adam"`, `"+cosface"` for a loss that only some configs have (its own settings
/// are listed only where they differ among those that have it). Returns the names and the
/// differing paths.
pub fn labels(configs: &[TrainConfig]) -> (Vec<String>, Vec<String>) {
    // A notebook's own loss is in the JSON only of the configs that have it: elsewhere it is
    // off, as a crate loss that is off is `null`.
    let losses: std::collections::BTreeSet<String> =
        configs.iter().flat_map(|c| c.added_losses().into_iter().map(|l| l.path().to_string())).collect();
    let with_losses_off = |c: &TrainConfig| {
        let mut leaves = c.leaves();
        for name in &losses {
            leaves.entry(name.clone()).or_insert_with(|| "off".to_string());
        }
        leaves
    };
    let all: Vec<_> = configs.iter().map(with_losses_off).collect();
    let mut paths: Vec<String> = all.iter().flat_map(|l| l.keys().cloned()).collect();
    paths.sort();
    paths.dedup();
    let varying: Vec<String> = paths
        .into_iter()
        .filter(|p| {
            let present: Vec<&String> = all.iter().filter_map(|l| l.get(p)).collect();
            // Absent because a loss is off does not count; absent because an enum took
            // another form (`pc.variant` original vs bounded) does.
            let absent_for_other_reasons = all.iter().any(|l| !l.contains_key(p.as_str()) && nearest_ancestor(l, p) != Some("off"));
            present.iter().any(|v| *v != present[0]) || absent_for_other_reasons
        })
        .collect();
    let switched = |p: &String| all.iter().any(|l| l.get(p).is_some_and(|v| v == "off"));
    let names = all
        .iter()
        .map(|l| {
            let parts: Vec<String> = varying
                .iter()
                .filter_map(|p| match l.get(p).map(String::as_str) {
                    None | Some("off") => None,
                    Some("on") if switched(p) => Some(format!("+{p}")),
                    Some("on") => None,
                    Some(v) => Some(format!("{p}={v}")),
                })
                .collect();
            if !parts.is_empty() {
                parts.join(", ")
            } else if varying.iter().any(switched) {
                Words::CrossEntropyOnly.text().to_string()
            } else {
                Words::BaseSettings.text().to_string()
            }
        })
        .collect();
    (names, varying)
}

/// Where a sweep's run came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Trained by this sweep, here.
    Trained,
    /// Loaded from the run cache, trained earlier.
    Cache,
    /// Trained by a task of this Slurm array job.
    Slurm { job: String },
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Trained => f.write_str("trained"),
            Source::Cache => f.write_str("cache"),
            Source::Slurm { job } => write!(f, "slurm job {job}"),
        }
    }
}

/// One configuration's outcome in a sweep.
pub struct SweepRow {
    pub label: String,
    pub run: Outcome,
    pub source: Source,
    /// The trained weights on disk, when the sweep has a cache.
    pub weights: Option<PathBuf>,
}

impl SweepRow {
    /// A run the cache gave back, trained earlier or by a Slurm task.
    fn loaded(label: String, hit: CacheHit, source: Source) -> Self {
        SweepRow { label, run: Outcome { report: hit.report, features: hit.features }, source, weights: Some(hit.weights) }
    }
}

/// A configuration a sweep has no run for: its loss diverged, or on Slurm its task failed,
/// was cancelled, or (with `wait: false`) has not finished yet. Running a Slurm sweep again
/// submits only the latter.
#[derive(Debug, Clone)]
pub struct MissingRun {
    pub label: String,
    pub why: String,
    /// The task's Slurm log.
    pub log: Option<PathBuf>,
    /// The loss became infinite or NaN: running it again gives the same, so it is an outcome
    /// of its settings (the exercise's collapsing PC Loss), not a task to resubmit.
    pub diverged: bool,
}

/// Runs configurations on one dataset, with a cache of finished runs.
pub struct Sweep<'a> {
    data: &'a Dataset,
    device: Device,
    cache: Option<RunCache>,
    quiet: bool,
    report: fn(Progress),
    slurm: Option<SlurmOptions>,
}

impl<'a> Sweep<'a> {
    /// Caches in [`RunCache::default_dir`].
    pub fn new(data: &'a Dataset, device: Device) -> Self {
        Sweep { data, device, cache: Some(RunCache::from_env()), quiet: false, report: print_progress, slurm: None }
    }

    /// Train on a Slurm cluster: one array task per configuration the cache lacks, then the
    /// runs gathered from the cache. The cache folder (`LOSSVIZ_RUNS`), the data and the
    /// `lossviz` program must be on a filesystem every node sees.
    pub fn on_slurm(self, options: SlurmOptions) -> Self {
        Sweep { slurm: Some(options), ..self }
    }

    pub fn cache_dir(self, dir: impl Into<PathBuf>) -> Self {
        Sweep { cache: Some(RunCache::new(dir)), ..self }
    }

    /// Always train; keep nothing on disk.
    pub fn no_cache(self) -> Self {
        Sweep { cache: None, ..self }
    }

    /// Only one line per run, no per-epoch progress.
    pub fn quiet(self) -> Self {
        Sweep { quiet: true, ..self }
    }

    /// Where progress goes (default: [`print_progress`], a line each).
    pub fn progress(self, report: fn(Progress)) -> Self {
        Sweep { report, ..self }
    }

    /// Trains (or loads) every configuration in order, saying for each which it did.
    pub fn run(&self, configs: &[TrainConfig]) -> Result<SweepResult> {
        if configs.is_empty() {
            return Err(Error::input("configs", 0, "a sweep needs at least one configuration"));
        }
        for c in configs {
            c.validate()?;
        }
        let (names, varying) = labels(configs);
        // The data's identity is part of every key: computed once per sweep.
        let cache = match &self.cache {
            Some(c) => Some((c, cache::data_identity(self.data)?)),
            None => None,
        };
        if let Some(options) = &self.slurm {
            let Some((cache, identity)) = &cache else {
                return Err(Error::input(
                    "Sweep",
                    "no_cache() with on_slurm()",
                    "Slurm tasks hand their runs back through the run cache; drop no_cache()",
                ));
            };
            let crates = crate::losses::registered();
            if let Some(own) = configs.iter().flat_map(|c| c.added_losses()).find(|l| !crates.iter().any(|n| n == l.path())) {
                return Err(Error::input(
                    "Sweep",
                    format!("the loss {} with on_slurm()", own.path()),
                    "a loss written in a notebook cell trains in this kernel only (the Slurm tasks run the lossviz program, which does not have it); drop on_slurm()",
                ));
            }
            return self.run_on_slurm(options, cache, identity, configs, names, varying);
        }
        // What the cache holds decides what trains, so the wait can be said before any of it.
        let mut lookups = Vec::with_capacity(configs.len());
        for config in configs {
            lookups.push(match &cache {
                Some((cache, identity)) => cache.load(config, identity)?,
                None => Lookup::Missing,
            });
        }
        let to_train: Vec<&TrainConfig> =
            configs.iter().zip(&lookups).filter(|(_, l)| !matches!(l, Lookup::Hit(_))).map(|(c, _)| c).collect();
        let estimate = Estimate::new(&to_train, configs.len() - to_train.len(), self.data, self.device)?;
        (self.report)(Progress::Note(&estimate.line()));
        let mut seconds_left = estimate.seconds;
        // The runs trained so far correct the estimate: seconds they took against estimated.
        let (mut took, mut estimated) = (0.0, 0.0);
        let (mut runs, mut missing) = (Vec::with_capacity(configs.len()), Vec::new());
        for (i, ((config, label), lookup)) in configs.iter().zip(names).zip(lookups).enumerate() {
            let tag = format!("[{}/{}] {label}", i + 1, configs.len());
            match lookup {
                Lookup::Hit(hit) => {
                    (self.report)(Progress::Note(&format!("{tag}: {}", hit.loaded_note())));
                    runs.push(SweepRow::loaded(label, *hit, Source::Cache));
                    continue;
                }
                Lookup::Corrupt(why) => (self.report)(Progress::Note(&format!("{tag}: cache entry unusable ({why}); training again"))),
                Lookup::Missing => {}
            }
            let pace = if estimated > 0.0 { took / estimated } else { 1.0 };
            let left = crate::training::minutes_and_seconds(seconds_left * pace);
            (self.report)(Progress::Note(&format!("{tag}: training {} epochs (the sweep: about {left} left)", config.epochs)));
            let start = Instant::now();
            let trained = run_experiment(&label, config.clone(), self.data, self.device, |p| {
                if !self.quiet {
                    (self.report)(p)
                }
            });
            let this_one = estimate.seconds_for(config);
            seconds_left = (seconds_left - this_one).max(0.0);
            let (run, experiment) = match trained {
                Ok(trained) => trained,
                // The other runs still answer the question the sweep asks; this row says why
                // it has no numbers.
                Err(e @ Error::Diverged { .. }) => {
                    let why = e.to_string();
                    (self.report)(Progress::Note(&format!("{tag}: {why}")));
                    missing.push(MissingRun { label, why, log: None, diverged: true });
                    continue;
                }
                Err(e) => return Err(e),
            };
            let weights = match &cache {
                Some((cache, identity)) => Some(cache.store(identity, &experiment, &run, &[])?),
                None => None,
            };
            let seconds = start.elapsed().as_secs_f64();
            (took, estimated) = (took + seconds, estimated + this_one);
            let done = format!("{tag}: test accuracy {:.2}% in {seconds:.1} s", run.report.test_accuracy);
            (self.report)(Progress::Note(&done));
            runs.push(SweepRow { label, run, source: Source::Trained, weights });
        }
        Ok(SweepResult { runs, missing, varying, class_names: self.data.kind.class_names() })
    }

    /// Submits what the cache lacks as one array job, waits for it (unless `wait` is off),
    /// then reads every configuration from the cache; what is still absent is reported with
    /// its task's log.
    fn run_on_slurm(
        &self,
        options: &SlurmOptions,
        cache: &RunCache,
        identity: &str,
        configs: &[TrainConfig],
        names: Vec<String>,
        varying: Vec<String>,
    ) -> Result<SweepResult> {
        // What the cache holds now is kept, so only the submitted configurations are read again.
        let mut found = Vec::with_capacity(configs.len());
        let mut todo = Vec::new();
        for (config, label) in configs.iter().zip(&names) {
            match cache.load(config, identity)? {
                Lookup::Hit(hit) => {
                    found.push(Some(hit));
                    continue;
                }
                Lookup::Corrupt(why) => (self.report)(Progress::Note(&format!("{label}: cache entry unusable ({why}); training it again"))),
                Lookup::Missing => {}
            }
            found.push(None);
            todo.push((config, label.as_str()));
        }
        let in_flight = if todo.is_empty() {
            None
        } else {
            let in_flight = slurm::submit(options, cache, identity, self.data, &todo, self.report)?;
            if options.wait {
                slurm::wait(&in_flight, options.poll, self.report)?;
            }
            Some(in_flight)
        };
        let (mut runs, mut missing) = (Vec::new(), Vec::new());
        for (i, ((config, label), found)) in configs.iter().zip(names).zip(found).enumerate() {
            let tag = format!("[{}/{}] {label}", i + 1, configs.len());
            let entry = RunCache::entry_name(config, identity)?;
            let task = in_flight.as_ref().and_then(|f| f.task_for(&entry));
            let lookup = match found {
                Some(hit) => Lookup::Hit(hit),
                None => cache.load(config, identity)?,
            };
            match (lookup, task) {
                (Lookup::Hit(hit), Some(t)) => {
                    let note = format!(
                        "{tag}: trained by task {} of Slurm job {}: test accuracy {:.2}%",
                        t.index, t.job, hit.report.test_accuracy
                    );
                    (self.report)(Progress::Note(&note));
                    runs.push(SweepRow::loaded(label, *hit, Source::Slurm { job: t.job.clone() }));
                }
                (Lookup::Hit(hit), None) => {
                    (self.report)(Progress::Note(&format!("{tag}: {}", hit.loaded_note())));
                    runs.push(SweepRow::loaded(label, *hit, Source::Cache));
                }
                (_, Some(t)) => {
                    let log = t.log();
                    let why = match (options.wait, log.is_file()) {
                        (true, true) => {
                            let last = slurm::last_line(&log).map(|l| format!(" (its log ends: {l})")).unwrap_or_default();
                            format!("task {} of Slurm job {} stored no run{last}", t.index, t.job)
                        }
                        // Slurm makes the log when a task starts.
                        (true, false) => format!(
                            "task {} of Slurm job {} never started: cancelled or failed while queued (`scontrol show job {}_{}` says why while Slurm remembers it)",
                            t.index, t.job, t.job, t.index
                        ),
                        (false, _) => format!("queued as task {} of Slurm job {}; not finished yet", t.index, t.job),
                    };
                    let log = log.is_file().then_some(log);
                    let see = log.as_ref().map(|l| format!("; log: {}", l.display())).unwrap_or_default();
                    (self.report)(Progress::Note(&format!("{tag}: {why}{see}")));
                    missing.push(MissingRun { label, why, log, diverged: false });
                }
                (_, None) => {
                    let why = "not in the run cache, and no task was submitted for it (another sweep removed it?)".to_string();
                    (self.report)(Progress::Note(&format!("{tag}: {why}")));
                    missing.push(MissingRun { label, why, log: None, diverged: false });
                }
            }
        }
        Ok(SweepResult { runs, missing, varying, class_names: self.data.kind.class_names() })
    }
}

/// A finished sweep: its runs, and the settings that differ between them.
pub struct SweepResult {
    pub runs: Vec<SweepRow>,
    /// Configurations without a run: diverged, or on Slurm failed or still running.
    pub missing: Vec<MissingRun>,
    pub varying: Vec<String>,
    class_names: [&'static str; 10],
}

impl SweepResult {
    /// One row per run: accuracy, the feature-space metrics and time; then a row per missing
    /// configuration.
    pub fn table(&self) -> Table {
        Table::new(&self.runs, &self.missing)
    }

    /// One scatter panel per run, titled with the settings that differ. `style` is a
    /// [`Normalize`](crate::plot::Normalize), or a [`Style`] with decision regions and centers.
    pub fn scatter_grid(&self, style: impl Into<Style>) -> Result<Figure> {
        let panels: Vec<(&str, &crate::features::Features)> = self.runs.iter().map(|r| (r.label.as_str(), &r.run.features)).collect();
        scatter_grid(&panels, &self.class_names, style)
    }

    /// Training cross-entropy and accuracy of every run, overlaid.
    pub fn curves(&self) -> Result<Figure> {
        let runs: Vec<(&str, &[crate::training::EpochStats])> =
            self.runs.iter().map(|r| (r.label.as_str(), &r.run.report.history[..])).collect();
        curves(&runs)
    }
}

#[cfg(test)]
mod tests;
