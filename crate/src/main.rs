//! The `lossviz` command: the lesson's three experiments without a notebook.
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use lossviz::data::{locate, Dataset, DatasetKind};
use lossviz::device::{default_device, describe};
use lossviz::error::Result;
use lossviz::losses::PcVariant;
use lossviz::plot::{curves, scatter, scatter_grid, Normalize};
use lossviz::report::{summarize, Report};
use lossviz::sweep::{grid, train_or_load, Axis, Sweep};
use lossviz::training::{print_progress, Experiment, PcConfig, TrainConfig};
use tch::Device;

const USAGE: &str = "\
usage:
  lossviz compare --dataset mnist|fashion-mnist [--data DIR] [--epochs N] [--limit N]
                  [--seed N] [--out DIR] [--runs xent,center,pc] [--pc-variant NAME]
      Trains the lesson's three networks (cross-entropy; + Center Loss; + PC Loss) and
      writes xent.png, center.png, pc.png, grid.png, curves.png and report.json to --out
      (default: out). --epochs defaults to the original's 20; --limit keeps the first N
      samples of each split; --runs picks some of the three; --pc-variant is original
      (the lesson's formula, the default), bounded or bounded:<margin>. The runs are
      kept in the run cache (below), so the notebook's lesson at the same settings loads
      them instead of training.
  lossviz sweep --dataset mnist|fashion-mnist [--data DIR] [--epochs N] [--limit N]
                [--seed N] [--out DIR] [--base xent|center|pc] --vary PATH=V1,V2,... ...
      Trains every combination of the --vary settings (any TrainConfig path, e.g.
      center.lambda=0.01,0.1,1 or optimizer=sgd,adam) on top of --base (default center)
      and writes table.md, table.html, grid.png and curves.png to --out (default:
      out/sweep). Finished runs are cached (LOSSVIZ_RUNS, default ~/.cache/lossviz/runs)
      and loaded when asked for again.
  lossviz locate --dataset mnist|fashion-mnist [--data DIR]
      Prints the folder the data would be read from.
  lossviz self-check
      Checks that libtorch loads and computes.";

const RUNS: [&str; 3] = ["xent", "center", "pc"];

struct Args {
    command: String,
    dataset: Option<DatasetKind>,
    data: Option<PathBuf>,
    epochs: usize,
    limit: Option<usize>,
    seed: u64,
    /// `None`: each command's default folder.
    out: Option<PathBuf>,
    runs: Vec<String>,
    pc_variant: PcVariant,
    base: String,
    vary: Vec<Axis>,
}

/// Parses the command line; `Err` holds the message for the usage error.
fn parse(argv: &[String]) -> std::result::Result<Args, String> {
    let mut it = argv.iter();
    let command = it.next().ok_or("missing command")?.clone();
    if !["compare", "sweep", "locate", "self-check"].contains(&command.as_str()) {
        return Err(format!("unknown command '{command}'"));
    }
    let mut args = Args {
        command,
        dataset: None,
        data: None,
        epochs: 20,
        limit: None,
        seed: 0,
        out: None,
        runs: RUNS.iter().map(|r| r.to_string()).collect(),
        pc_variant: PcVariant::Original,
        base: "center".into(),
        vary: Vec::new(),
    };
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        fn number<T: std::str::FromStr>(flag: &str, v: &str) -> std::result::Result<T, String> {
            v.parse().map_err(|_| format!("{flag} expects a whole number, got '{v}'"))
        }
        match flag.as_str() {
            "--dataset" => args.dataset = Some(value()?.parse().map_err(|e: lossviz::error::Error| e.to_string())?),
            "--data" => args.data = Some(PathBuf::from(value()?)),
            "--epochs" => args.epochs = number(flag, value()?)?,
            "--limit" => args.limit = Some(number(flag, value()?)?),
            "--seed" => args.seed = number(flag, value()?)?,
            "--out" => args.out = Some(PathBuf::from(value()?)),
            "--runs" => {
                args.runs = value()?.split(',').map(|r| r.trim().to_string()).collect();
                if let Some(bad) = args.runs.iter().find(|r| !RUNS.contains(&r.as_str())) {
                    return Err(format!("--runs: unknown run '{bad}' (expected some of xent,center,pc)"));
                }
            }
            "--pc-variant" => args.pc_variant = value()?.parse().map_err(|e: lossviz::error::Error| e.to_string())?,
            "--base" => {
                args.base = value()?.clone();
                if !RUNS.contains(&args.base.as_str()) {
                    return Err(format!("--base: unknown run '{}' (expected xent, center or pc)", args.base));
                }
            }
            "--vary" => {
                let spec = value()?;
                let (path, values) = spec.split_once('=').ok_or(format!("--vary expects PATH=V1,V2,..., got '{spec}'"))?;
                // A value that reads as JSON (numbers, true, {"bounded":{"margin":5}}) is
                // taken as such; anything else (sgd, adam) as a string.
                let values = values.split(',').map(|v| serde_json::from_str(v).unwrap_or_else(|_| serde_json::Value::from(v)));
                args.vary.push(Axis::new(path, values));
            }
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown option '{other}'")),
        }
    }
    if args.command == "sweep" && args.vary.is_empty() {
        return Err("sweep needs at least one --vary PATH=V1,V2,...".into());
    }
    if args.command != "self-check" && args.dataset.is_none() {
        return Err("--dataset is required".into());
    }
    Ok(args)
}

/// One of the lesson's three experiments, with the command line's epochs, seed and PC variant.
fn experiment_config(args: &Args, run: &str) -> TrainConfig {
    let base = TrainConfig { epochs: args.epochs, seed: args.seed, ..TrainConfig::default() };
    match run {
        "xent" => base,
        "center" => base.with_center(),
        _ => TrainConfig { pc: Some(PcConfig { variant: args.pc_variant, ..PcConfig::default() }), ..base.with_center() },
    }
}

/// The device, the data (said in one line) and the output folder, created.
fn prepare(args: &Args, dataset: DatasetKind, out: &Path) -> Result<(Device, Dataset)> {
    let device = default_device()?;
    let data = Dataset::load(dataset, args.data.as_deref(), args.limit)?;
    println!(
        "{} from {}: {} training / {} test images. {}",
        dataset,
        data.dir.display(),
        data.train.len(),
        data.test.len(),
        describe(device)
    );
    std::fs::create_dir_all(out).map_err(|source| lossviz::error::Error::Io { path: out.to_path_buf(), source })?;
    Ok((device, data))
}

fn compare(args: &Args, dataset: DatasetKind) -> Result<()> {
    let out = args.out.clone().unwrap_or_else(|| PathBuf::from("out"));
    let (device, data) = prepare(args, dataset, &out)?;
    let experiments = [("xent", "Cross entropy"), ("center", "+ Center Loss"), ("pc", "+ Center Loss + PC Loss")]
        .map(|(name, title)| (name, title, experiment_config(args, name)));
    let experiments = experiments.into_iter().filter(|(name, ..)| args.runs.iter().any(|r| r == name));
    let names = dataset.class_names();
    let mut runs = Vec::new();
    for (name, title, config) in experiments {
        println!("== {title} ==");
        // Through the run cache: the notebook's lesson, at the same settings, then loads
        // these runs instead of training them again (and so does this command, re-run).
        let mut experiment = Experiment::new(config, device)?;
        train_or_load(&mut experiment, &data, print_progress)?;
        let run = summarize(name, &experiment, &data)?;
        let r = &run.report;
        println!(
            "{name}: test accuracy {:.2}%, scatter_ratio {:.4}, nearest-center accuracy {:.2}%, silhouette {:.3}",
            r.test_accuracy, r.metrics.scatter_ratio, r.metrics.nearest_center_accuracy, r.metrics.silhouette
        );
        scatter(&run.features, &names, title, Normalize::PerAxis)?.save(out.join(format!("{name}.png")))?;
        // What the network decides, and where the centers are, on axes that keep shapes.
        let regions = Normalize::EqualAspect.regions(true).centers(true);
        scatter(&run.features, &names, title, regions)?.save(out.join(format!("{name}-regions.png")))?;
        runs.push((title, run));
    }
    let panels: Vec<(&str, &lossviz::features::Features)> = runs.iter().map(|(t, r)| (*t, &r.features)).collect();
    scatter_grid(&panels, &names, Normalize::EqualAspect)?.save(out.join("grid.png"))?;
    let histories: Vec<(&str, &[lossviz::training::EpochStats])> = runs.iter().map(|(t, r)| (*t, r.report.history.as_slice())).collect();
    curves(&histories)?.save(out.join("curves.png"))?;
    let figures: Vec<String> = runs.iter().map(|(_, r)| format!("{0}.png, {0}-regions.png", r.report.name)).collect();
    let report = Report {
        dataset,
        train_samples: data.train.len(),
        test_samples: data.test.len(),
        device: format!("{device:?}"),
        runs: runs.into_iter().map(|(_, r)| r.report).collect(),
    };
    report.save(&out.join("report.json"))?;
    println!("wrote {}, grid.png, curves.png and report.json to {}", figures.join(", "), out.display());
    Ok(())
}

fn sweep(args: &Args, dataset: DatasetKind) -> Result<()> {
    let out = args.out.clone().unwrap_or_else(|| PathBuf::from("out").join("sweep"));
    let (device, data) = prepare(args, dataset, &out)?;
    let base = experiment_config(args, &args.base);
    let configs = grid(&base, &args.vary)?;
    let result = Sweep::new(&data, device).run(&configs)?;
    let table = result.table();
    println!("\n{table}");
    lossviz::report::write_atomic(&out.join("table.md"), table.to_markdown().as_bytes())?;
    lossviz::report::write_atomic(&out.join("table.html"), table.to_html().as_bytes())?;
    result.scatter_grid(Normalize::EqualAspect)?.save(out.join("grid.png"))?;
    result.curves()?.save(out.join("curves.png"))?;
    println!("wrote table.md, table.html, grid.png and curves.png to {}", out.display());
    Ok(())
}

fn self_check() -> Result<()> {
    let device = default_device()?;
    let a = tch::Tensor::f_from_slice(&[1.0f32, 2.0, 3.0]).and_then(|t| t.f_to_device(device));
    let value = a.and_then(|a| a.f_dot(&a)).map(|t| t.double_value(&[]));
    match value {
        Ok(14.0) => {
            println!("libtorch OK: {}", describe(device));
            Ok(())
        }
        Ok(other) => Err(lossviz::error::Error::Torch {
            context: "running the self-check".into(),
            source: tch::TchError::Torch(format!("[1, 2, 3] · [1, 2, 3] gave {other}, expected 14")),
        }),
        Err(source) => Err(lossviz::error::Error::Torch { context: "running the self-check".into(), source }),
    }
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let args = match parse(&argv) {
        Ok(a) => a,
        Err(message) => {
            if !message.is_empty() {
                eprintln!("lossviz: {message}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let result = match (args.command.as_str(), args.dataset) {
        ("self-check", _) => self_check(),
        ("locate", Some(d)) => locate(d, args.data.as_deref()).map(|dir| println!("{}", dir.display())),
        ("sweep", Some(d)) => sweep(&args, d),
        (_, Some(d)) => compare(&args, d),
        _ => unreachable!("parse requires --dataset for these commands"),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("lossviz: error: {e}");
            ExitCode::from(1)
        }
    }
}
