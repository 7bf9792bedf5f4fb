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
pub struct Outcome {
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
) -> Result<(Outcome, Experiment)> {
    let mut experiment = Experiment::new(config, device)?;
    experiment.train_with(&data.train, crate::training::WatchTest { test: &data.test, progress })?;
    Ok((summarize(name, &experiment, data)?, experiment))
}

/// The numbers and test features of a trained experiment: evaluation, features and their
/// metrics on `data.test`, with its training history.
pub fn summarize(name: &str, experiment: &Experiment, data: &Dataset) -> Result<Outcome> {
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
    Ok(Outcome { report, features })
}

impl Report {
    pub fn save(&self, path: &Path) -> Result<()> {
        let json = serde_json::to_vec_pretty(self).map_err(Error::json(&path.display().to_string()))?;
        crate::fs::write_atomic(path, &json)
    }
}
