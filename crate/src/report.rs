//! One experiment from start to numbers (train, evaluate, extract, measure), and the JSON
//! report the CLI writes.
use std::path::Path;

use tch::Device;

use crate::data::{Dataset, DatasetKind};
use crate::error::{Error, Result};
use crate::features::Features;
use crate::metrics::{feature_metrics, FeatureMetrics};
use crate::training::{EpochStats, Experiment, Progress, TrainConfig};

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RunReport {
    pub name: String,
    /// Percent.
    pub test_accuracy: f64,
    pub test_loss: f64,
    pub epoch_seconds: Vec<f64>,
    pub eval_seconds: f64,
    pub metrics: FeatureMetrics,
    pub config: TrainConfig,
    pub history: Vec<EpochStats>,
    /// What it was trained on ("Intel(R) Xeon(R) Processor @ 2.80GHz, 2 threads"), so that a
    /// run loaded from a class's cache says whose seconds its time is.
    #[serde(default)]
    pub machine: String,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Report {
    pub dataset: DatasetKind,
    pub train_samples: usize,
    pub test_samples: usize,
    pub device: String,
    pub runs: Vec<RunReport>,
}

/// A finished run: its numbers and its test-set features.
pub struct Run {
    pub report: RunReport,
    pub features: Features,
}

impl RunReport {
    /// Seconds spent training and evaluating.
    pub fn train_seconds(&self) -> f64 {
        self.epoch_seconds.iter().sum::<f64>() + self.eval_seconds
    }
}

/// Trains a fresh network with `config` on `data.train`, then evaluates it and extracts
/// and measures its features on `data.test`. Returns the trained experiment too.
pub fn run_experiment(
    name: &str,
    config: TrainConfig,
    data: &Dataset,
    device: Device,
    progress: impl FnMut(Progress),
) -> Result<(Run, Experiment)> {
    let mut experiment = Experiment::new(config, device)?;
    experiment.train_watching(data, progress)?;
    Ok((summarize(name, &experiment, data)?, experiment))
}

/// The numbers and test features of a trained experiment: evaluation, features and their
/// metrics on `data.test`, with its training history.
pub fn summarize(name: &str, experiment: &Experiment, data: &Dataset) -> Result<Run> {
    let evaluation = experiment.evaluate(&data.test)?;
    let features = experiment.features(&data.test)?;
    let history = experiment.history.clone();
    let report = RunReport {
        name: name.to_string(),
        test_accuracy: evaluation.accuracy,
        test_loss: evaluation.loss,
        epoch_seconds: history.iter().map(|s| s.seconds).collect(),
        eval_seconds: evaluation.seconds,
        metrics: feature_metrics(&features),
        config: experiment.config.clone(),
        history,
        machine: crate::device::describe_machine(experiment.device),
    };
    Ok(Run { report, features })
}

/// Writes `bytes` to a temporary file beside `path`, flushes it to the disk, then renames it
/// over `path`: after a crash or a power cut `path` holds the old contents or the new, never
/// an empty or half-written file (the rename can reach the disk before unsynced data).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let io = |source| Error::Io { path: path.to_path_buf(), source };
    let name = path.file_name().ok_or_else(|| io(std::io::Error::other("not a file path")))?;
    let tmp = path.with_file_name(format!(".{}.tmp.{}", name.to_string_lossy(), unique_suffix()));
    let written = std::fs::File::create(&tmp).and_then(|mut f| {
        f.write_all(bytes)?;
        f.sync_all()
    });
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(io(e));
    }
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io(e)
    })
}

/// A name no other writer uses at the same time: the process, a counter for this process's
/// threads, and the time, so that threads, processes and (on a shared filesystem) machines
/// writing the same file each write their own temporary file.
pub(crate) fn unique_suffix() -> String {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    format!("{}.{n}.{nanos}", std::process::id())
}

impl Report {
    pub fn save(&self, path: &Path) -> Result<()> {
        let json = serde_json::to_vec_pretty(self).map_err(Error::json(&path.display().to_string()))?;
        write_atomic(path, &json)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writers_racing_on_one_file_leave_one_whole_version_and_no_temporary_files() {
        let dir = crate::data::tests::temp_dir("atomic");
        let path = dir.join("run.json");
        // Eight writers, each writing its own 256 KiB pattern twenty times over.
        let payload = |w: u8| vec![w; 256 * 1024];
        std::thread::scope(|scope| {
            for w in 0..8u8 {
                let path = &path;
                scope.spawn(move || {
                    for _ in 0..20 {
                        write_atomic(path, &payload(w)).unwrap();
                    }
                });
            }
        });
        let bytes = std::fs::read(&path).unwrap();
        assert!((0..8u8).any(|w| bytes == payload(w)), "the file is no writer's whole version ({} bytes)", bytes.len());
        let left: Vec<_> = std::fs::read_dir(&*dir).unwrap().map(|e| e.unwrap().file_name()).filter(|n| n != "run.json").collect();
        assert!(left.is_empty(), "temporary files left: {left:?}");
    }
}
