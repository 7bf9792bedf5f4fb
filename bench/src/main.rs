//! The lossviz side of `bench/run.sh`: the same work as `bench/reference.py` (one epoch of
//! the lesson's training, then evaluation), timed, with its peak memory, as one JSON line;
//! then the same epoch again in bf16 mixed precision, and bf16 inference.
//! `lossviz-bench --help` lists its flags.
use std::time::Instant;

use clap::Parser;

use lossviz::data::{Dataset, DatasetKind};
use lossviz::error::Result;
use lossviz::metrics::feature_metrics;
use lossviz::plot::{scatter_grid, Normalize};
use lossviz::tch::{self, Device};
use lossviz::training::{Experiment, LessonRun, Precision, TrainConfig};

#[derive(Parser)]
#[command(name = "lossviz-bench", about = "One epoch of the lesson's training, then evaluation, timed, as one JSON line")]
struct Args {
    /// mnist or fashion-mnist.
    #[arg(long, default_value = "fashion-mnist")]
    dataset: DatasetKind,
    /// A folder holding the four IDX files.
    #[arg(long)]
    data: Option<std::path::PathBuf>,
    /// Keep only the first N images of each split.
    #[arg(long)]
    limit: Option<usize>,
    /// libtorch's intra-op threads.
    #[arg(long)]
    threads: Option<i32>,
    /// The lesson's experiment to train: xent, center or pc.
    #[arg(long, default_value = "xent")]
    loss: LessonRun,
    /// Where to write the fp32 and bf16 scatter plots, to compare them by eye.
    #[arg(long)]
    plots: Option<std::path::PathBuf>,
}

/// Peak resident memory of this process (VmHWM), in MiB.
fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib =
        status.lines().find_map(|l| l.strip_prefix("VmHWM:")).and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok());
    kib.unwrap_or(0.0) / 1024.0
}

fn main() -> Result<()> {
    let args = Args::parse();
    if let Some(n) = args.threads {
        tch::set_num_threads(n);
    }
    let data = Dataset::load(args.dataset, args.data.as_deref(), args.limit)?;
    let base = TrainConfig { epochs: 1, ..TrainConfig::default() };
    let config = args.loss.config(base);
    let mut experiment = Experiment::new(config, Device::Cpu)?;

    let start = Instant::now();
    experiment.train(&data.train, |_| {})?;
    let train_s = start.elapsed().as_secs_f64();
    let evaluation = experiment.evaluate(&data.test)?;
    let start = Instant::now();
    let features = experiment.features(&data.test)?;
    let features_s = start.elapsed().as_secs_f64();

    // The optional bf16 inference on the same trained network: speed, accuracy, features.
    experiment.set_inference(Precision::Bf16);
    let bf16 = experiment.evaluate(&data.test)?;
    let bf16_features = experiment.features(&data.test)?;
    if let Some(dir) = &args.plots {
        let names = args.dataset.class_names();
        let panels = [("fp32", &features), ("bf16", &bf16_features)];
        scatter_grid(&panels, &names, Normalize::EqualAspect)?.save(dir.join("fp32-vs-bf16.png"))?;
    }
    // Read before the second experiment below, so that it is this run's memory alone.
    let peak_rss = peak_rss_mib();
    // The same epoch from the same start, trained in bf16 mixed precision; not where bf16 is
    // emulated (an epoch ran for over 20 minutes on an AVX2-only CPU before it was stopped).
    let bf16_training = if lossviz::device::has_bf16_instructions(Device::Cpu) {
        let mut mixed = Experiment::new(TrainConfig { precision: Precision::Bf16, ..experiment.config().clone() }, Device::Cpu)?;
        let start = Instant::now();
        mixed.train(&data.train, |_| {})?;
        let seconds = start.elapsed().as_secs_f64();
        let trained = mixed.evaluate(&data.test)?;
        serde_json::json!({
            "bf16_train_images_per_s": data.train.len() as f64 / seconds,
                "bf16_trained_test_accuracy": trained.accuracy,
        })
    } else {
        eprintln!("lossviz-bench: no bf16 training row: this CPU has neither AVX512-BF16 nor AMX, so libtorch would emulate bf16");
        serde_json::json!({})
    };

    let scale = features.values.iter().fold(0f32, |m, v| m.max(v.abs()));
    let worst = features.values.iter().zip(&bf16_features.values).fold(0f32, |m, (a, b)| m.max((a - b).abs()));

    let mut result = serde_json::json!({
        "side": "lossviz",
        "threads": tch::get_num_threads(),
        "train_images": data.train.len(),
        "train_seconds": train_s,
        "train_images_per_s": data.train.len() as f64 / train_s,
        "train_accuracy": experiment.history()[0].train_accuracy,
        "eval_images": evaluation.samples,
        "eval_seconds": evaluation.seconds,
        "eval_images_per_s": evaluation.samples as f64 / evaluation.seconds,
        "test_accuracy": evaluation.accuracy,
        "features_seconds": features_s,
        "bf16_eval_images_per_s": bf16.samples as f64 / bf16.seconds,
        "bf16_test_accuracy": bf16.accuracy,
        "bf16_max_feature_change_relative": worst / scale,
        "bf16_scatter_ratio": feature_metrics(&bf16_features).scatter_ratio,
        "fp32_scatter_ratio": feature_metrics(&features).scatter_ratio,
        "peak_rss_mib": peak_rss,
    });
    if let (Some(all), serde_json::Value::Object(bf16)) = (result.as_object_mut(), bf16_training) {
        all.extend(bf16);
    }
    println!("{result}");
    Ok(())
}
