//! The lesson's numbers at both of its settings from one training per seed: each run is
//! measured after the `--checkpoints` epochs (10 is the lesson's `quick = true`, 20 the
//! original's), which costs one training of the last checkpoint because a 10-epoch run with a
//! seed is the first half of the 20-epoch one (the shuffling follows the epoch number). One
//! JSON line per run and checkpoint: test accuracy, the feature metrics, and where each
//! loss's learned centers sit relative to the class means of the test features.
//!
//! `cargo run --release -p lossviz-bench --bin modes -- --run center --seeds 0,1,2`
use clap::Parser;

use lossviz::data::{Dataset, DatasetKind};
use lossviz::error::{Error, Result};
use lossviz::metrics::feature_metrics;
use lossviz::tch;
use lossviz::training::{Experiment, LessonRun, TrainConfig};

#[derive(Parser)]
#[command(name = "modes", about = "The lesson's runs measured at several epoch counts, one JSON line per checkpoint")]
struct Args {
    #[arg(long, default_value = "mnist")]
    dataset: DatasetKind,
    /// xent, center or pc.
    #[arg(long)]
    run: LessonRun,
    /// PATH=VALUE settings on top of the run (as `TrainConfig::set` takes them).
    #[arg(long = "set", value_parser = parse_setting)]
    settings: Vec<(String, serde_json::Value)>,
    #[arg(long, value_delimiter = ',', default_value = "0,1,2")]
    seeds: Vec<u64>,
    /// Epoch counts at which to measure, in increasing order.
    #[arg(long, value_delimiter = ',', default_value = "10,20")]
    checkpoints: Vec<usize>,
}

fn parse_setting(text: &str) -> std::result::Result<(String, serde_json::Value), String> {
    let (path, value) = text.split_once('=').ok_or("expected PATH=VALUE")?;
    let value = serde_json::from_str(value).unwrap_or_else(|_| serde_json::Value::String(value.to_string()));
    Ok((path.to_string(), value))
}

fn main() -> Result<()> {
    let args = Args::parse();
    if args.checkpoints.is_empty() || args.checkpoints.windows(2).any(|w| w[0] >= w[1]) {
        return Err(Error::setting("--checkpoints", format!("{:?}", args.checkpoints), "must be increasing epoch counts"));
    }
    let data = Dataset::load(args.dataset, None, None)?;
    let last = *args.checkpoints.last().unwrap_or(&20);
    for &seed in &args.seeds {
        let base = TrainConfig { seed, epochs: last, ..TrainConfig::default() };
        let mut config = args.run.config(base);
        for (path, value) in &args.settings {
            config = config.set(path, value)?;
        }
        let mut experiment = Experiment::new(config, tch::Device::Cpu)?;
        let mut previous_means: Option<Vec<Vec<f64>>> = None;
        for &checkpoint in &args.checkpoints {
            let more = checkpoint - experiment.history().len();
            experiment.train_with(&data.train, lossviz::training::Epochs(more, |_: lossviz::training::Progress| {}))?;
            let evaluation = experiment.evaluate(&data.test)?;
            let features = experiment.features(&data.test)?;
            // Every class is in MNIST's test set, so the means come in class order 0..10.
            let means: Vec<Vec<f64>> = features.class_means().into_iter().map(|(_, m)| m).collect();
            // Each loss's centers minus the class means: the mean offset over classes and
            // its length, and the mean distance of a center from its class's mean.
            let offsets: Vec<serde_json::Value> = features
                .centers
                .iter()
                .map(|c| {
                    let diffs: Vec<Vec<f64>> = means
                        .iter()
                        .enumerate()
                        .map(|(k, m)| m.iter().enumerate().map(|(d, v)| c.values[k * features.dim + d] as f64 - v).collect())
                        .collect();
                    let mean: Vec<f64> = (0..features.dim).map(|d| diffs.iter().map(|x| x[d]).sum::<f64>() / diffs.len() as f64).collect();
                    let distance = diffs.iter().map(|x| x.iter().map(|v| v * v).sum::<f64>().sqrt()).sum::<f64>() / diffs.len() as f64;
                    serde_json::json!({ "loss": c.loss, "mean_offset": mean, "mean_distance": distance })
                })
                .collect();
            let drift = previous_means.as_ref().map(|p| {
                means.iter().zip(p).map(|(a, b)| a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum::<f64>().sqrt()).sum::<f64>()
                    / means.len() as f64
            });
            let stats = experiment.history().last().cloned().unwrap_or_default();
            let line = serde_json::json!({
                "run": args.run.name(),
                "settings": args.settings.iter().map(|(p, v)| format!("{p}={v}")).collect::<Vec<_>>(),
                "seed": seed,
                "epochs": checkpoint,
                "test_accuracy": evaluation.accuracy,
                "test_loss": evaluation.loss,
                "train_accuracy": stats.train_accuracy,
                "train_xent": stats.xent,
                "terms": stats.terms,
                "metrics": feature_metrics(&features),
                "centers": offsets,
                "class_means": means,
                "class_mean_drift_since_last_checkpoint": drift,
                "train_accuracy_by_epoch": experiment.history().iter().map(|s| s.train_accuracy).collect::<Vec<_>>(),
                "seconds_per_epoch": experiment.history().iter().map(|s| s.seconds).sum::<f64>() / experiment.history().len() as f64,
            });
            println!("{line}");
            previous_means = Some(means);
        }
    }
    Ok(())
}
