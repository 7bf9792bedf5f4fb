//! The `lossviz` command: the lesson's three experiments without a notebook.
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use lossviz::cache::{estimate, train_or_load};
use lossviz::data::{locate, Dataset, DatasetKind};
use lossviz::device::{default_device, describe, describe_precision};
use lossviz::error::Result;
use lossviz::lesson::QUICK_EPOCHS;
use lossviz::losses::PcVariant;
use lossviz::plot::{curves, scatter, scatter_grid, Normalize};
use lossviz::report::{summarize, Report};
use lossviz::sweep::slurm::run_task;
use lossviz::sweep::{grid, Axis, SlurmOptions, Sweep};
use lossviz::training::{print_progress, Experiment, LessonRun, PcConfig, Precision, Progress, TrainConfig};
use tch::Device;

/// The lesson's experiments and sweeps from a terminal. Finished runs are kept in the run
/// cache (LOSSVIZ_RUNS, default ~/.cache/lossviz/runs): asked for again, by this command or by
/// the notebooks at the same settings, they are loaded instead of trained.
#[derive(Parser)]
#[command(name = "lossviz", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train the lesson's three networks (cross-entropy; + Center Loss; + PC Loss) and write
    /// each one's scatter plots, grid.png, curves.png and report.json to --out.
    Compare {
        #[command(flatten)]
        common: Common,
        /// The folder for the figures and the report.
        #[arg(long, default_value = "out")]
        out: PathBuf,
        /// Which of the three to train.
        #[arg(long, value_delimiter = ',', default_value = "xent,center,pc")]
        runs: Vec<LessonRun>,
        /// PC Loss's formula: original (the lesson's), bounded, or bounded:<margin>.
        #[arg(long, default_value = "original")]
        pc_variant: PcVariant,
    },
    /// Train every combination of the --vary settings on top of --base and write table.md,
    /// table.html, grid.png and curves.png to --out.
    Sweep {
        #[command(flatten)]
        common: Common,
        /// The folder for the table and the figures.
        #[arg(long, default_value = "out/sweep")]
        out: PathBuf,
        /// The configuration the settings are varied from.
        #[arg(long, default_value = "center")]
        base: LessonRun,
        /// PATH=V1,V2,...: a setting by its path (as `set` takes it, e.g. center.lambda) and
        /// its values (JSON, or a word such as adam, or for pc.variant original/bounded:<m>).
        #[arg(long, required = true, value_parser = parse_axis)]
        vary: Vec<Axis>,
        #[command(flatten)]
        slurm: SlurmArgs,
    },
    /// One Slurm array task of `sweep --slurm`: trains configuration INDEX of PLAN into the
    /// run cache. Run by the job script the sweep submits, not by hand.
    #[command(hide = true)]
    SlurmTask {
        plan: PathBuf,
        /// The array task's index (SLURM_ARRAY_TASK_ID).
        index: usize,
    },
    /// Print the folder the data would be read from.
    Locate {
        #[arg(long)]
        dataset: DatasetKind,
        /// A folder holding the four IDX files (default: LOSSVIZ_DATA, then the set-up's).
        #[arg(long)]
        data: Option<PathBuf>,
    },
    /// Check that libtorch loads and computes.
    SelfCheck,
}

/// What every training command takes.
#[derive(Args)]
struct Common {
    /// mnist or fashion-mnist.
    #[arg(long)]
    dataset: DatasetKind,
    /// A folder holding the four IDX files (default: LOSSVIZ_DATA, then the set-up's).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Epochs per run (the original's 20).
    #[arg(long, default_value_t = 20)]
    epochs: usize,
    /// Keep only the first N images of each split.
    #[arg(long)]
    limit: Option<usize>,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// fp32, or bf16 for mixed-precision training (README, "Mixed precision").
    #[arg(long, default_value = "fp32")]
    precision: Precision,
}

/// Where a sweep trains: here, or as a Slurm array job.
#[derive(Args)]
struct SlurmArgs {
    /// Train each configuration the run cache lacks as a task of one Slurm array job, wait
    /// for the job, then gather the runs from the cache. LOSSVIZ_RUNS, the data and this
    /// program must be on a filesystem every node sees.
    #[arg(long)]
    slurm: bool,
    /// sbatch --partition.
    #[arg(long, requires = "slurm")]
    partition: Option<String>,
    /// sbatch --time: the most one configuration may take, e.g. 01:00:00.
    #[arg(long, requires = "slurm")]
    time: Option<String>,
    /// sbatch --cpus-per-task; each task trains with this many threads.
    #[arg(long, requires = "slurm")]
    cpus_per_task: Option<u32>,
    /// Submit and return, printing the job id; run the same command again to gather.
    #[arg(long, requires = "slurm")]
    no_wait: bool,
}

/// `PATH=V1,V2,...`. Values are split at commas outside brackets and quotes, so JSON values
/// keep theirs; each is read as JSON, or else as a word (`adam`, `bounded:5`), which the
/// setting's own type then reads.
fn parse_axis(spec: &str) -> std::result::Result<Axis, String> {
    let (path, values) = spec.split_once('=').ok_or(format!("expected PATH=V1,V2,..., got '{spec}'"))?;
    let mut parts = Vec::new();
    let (mut depth, mut quoted, mut start) = (0i32, false, 0);
    for (i, c) in values.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '{' | '[' if !quoted => depth += 1,
            '}' | ']' if !quoted => depth -= 1,
            ',' if !quoted && depth == 0 => {
                parts.push(&values[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&values[start..]);
    let values = parts.into_iter().map(|v| serde_json::from_str(v).unwrap_or_else(|_| serde_json::Value::from(v)));
    Ok(Axis::new(path, values.collect::<Vec<_>>()))
}

/// One of the lesson's three experiments, with the command line's epochs, seed and PC variant.
fn experiment_config(common: &Common, run: LessonRun, pc_variant: PcVariant) -> TrainConfig {
    let base = TrainConfig { epochs: common.epochs, seed: common.seed, precision: common.precision, ..TrainConfig::default() };
    match run.config(base) {
        config if run == LessonRun::Pc => config.with(PcConfig { variant: pc_variant, ..PcConfig::default() }),
        config => config,
    }
}

/// On a terminal, the step lines become one bar redrawn in place; in a log (a pipe, a file,
/// a Slurm output), every line is kept as [`print_progress`] prints it.
fn cli_progress(p: Progress) {
    use std::io::{IsTerminal, Write};
    let mut out = std::io::stdout();
    match p {
        Progress::Step { epoch, so_far: s, seconds_left } if out.is_terminal() => {
            const WIDTH: usize = 30;
            let filled = WIDTH * s.step / s.steps.max(1);
            let minutes = (seconds_left / 60.0).floor();
            let _ = write!(
                out,
                "\r  epoch {:>2} [{}{}] {:>4}/{} loss {:.3} acc {:.1}% | {minutes:.0} min {:02.0} s left ",
                epoch + 1,
                "#".repeat(filled),
                ".".repeat(WIDTH - filled),
                s.step,
                s.steps,
                s.loss,
                s.accuracy,
                seconds_left - 60.0 * minutes,
            );
            let _ = out.flush();
        }
        Progress::Epoch(_) if out.is_terminal() => {
            let _ = write!(out, "\r\x1b[2K");
            print_progress(p);
        }
        _ => print_progress(p),
    }
}

/// The device, the data (said in one line) and the output folder, created.
fn prepare(common: &Common, out: &Path) -> Result<(Device, Dataset)> {
    let device = default_device()?;
    let data = Dataset::load(common.dataset, common.data.as_deref(), common.limit)?;
    println!(
        "{} from {}: {} training / {} test images. {}\n{}",
        common.dataset,
        data.dir.display(),
        data.train.len(),
        data.test.len(),
        describe(device),
        describe_precision(device, common.precision)
    );
    std::fs::create_dir_all(out).map_err(|source| lossviz::error::Error::Io { path: out.to_path_buf(), source })?;
    Ok((device, data))
}

fn compare(common: &Common, out: &Path, runs: &[LessonRun], pc_variant: PcVariant) -> Result<()> {
    let (device, data) = prepare(common, out)?;
    let titles = LessonRun::ALL.map(|run| (run, run.title()));
    let names = common.dataset.class_names();
    let chosen: Vec<_> = titles.into_iter().filter(|(run, _)| runs.contains(run)).collect();
    let configs: Vec<TrainConfig> = chosen.iter().map(|(run, _)| experiment_config(common, *run, pc_variant)).collect();
    let estimate = estimate(&configs, &data, device)?;
    println!("{}", estimate.line());
    const LONG: f64 = 15.0 * 60.0;
    if estimate.seconds > LONG && common.epochs > QUICK_EPOCHS {
        println!(
            "For a quicker look: --epochs {QUICK_EPOCHS}, the lesson's quick mode, takes about half as long (about {:.0} min here), \
             or --limit 10000 about a sixth; Ctrl-C now and add either.",
            estimate.seconds * QUICK_EPOCHS as f64 / common.epochs as f64 / 60.0
        );
    }
    let mut done = Vec::new();
    for (run, title) in chosen {
        let name = run.name();
        println!("== {title} ==");
        // Through the run cache: the notebook's lesson, at the same settings, then loads
        // these runs instead of training them again (and so does this command, re-run).
        let mut experiment = Experiment::new(experiment_config(common, run, pc_variant), device)?;
        train_or_load(&mut experiment, &data, cli_progress)?;
        let run = summarize(name, &experiment, &data)?;
        let r = &run.report;
        println!(
            "{name}: test accuracy {:.2}%, scatter_ratio {:.4}, nearest-center accuracy {:.2}%, silhouette {:.3}",
            r.test_accuracy, r.metrics.scatter_ratio, r.metrics.nearest_mean_accuracy, r.metrics.silhouette
        );
        scatter(&run.features, &names, title, Normalize::PerAxis)?.save(out.join(format!("{name}.png")))?;
        // What the network decides, and where the centers are, on axes that keep shapes.
        let regions = Normalize::EqualAspect.regions(true).centers(true);
        scatter(&run.features, &names, title, regions)?.save(out.join(format!("{name}-regions.png")))?;
        done.push((title, run));
    }
    let panels: Vec<(&str, &lossviz::features::Features)> = done.iter().map(|(t, r)| (*t, &r.features)).collect();
    scatter_grid(&panels, &names, Normalize::EqualAspect)?.save(out.join("grid.png"))?;
    let histories: Vec<(&str, &[lossviz::training::EpochStats])> = done.iter().map(|(t, r)| (*t, r.report.history.as_slice())).collect();
    curves(&histories)?.save(out.join("curves.png"))?;
    let figures: Vec<String> = done.iter().map(|(_, r)| format!("{0}.png, {0}-regions.png", r.report.name)).collect();
    let report = Report {
        dataset: common.dataset,
        train_samples: data.train.len(),
        test_samples: data.test.len(),
        device: format!("{device:?}"),
        runs: done.into_iter().map(|(_, r)| r.report).collect(),
    };
    report.save(&out.join("report.json"))?;
    println!("wrote {}, grid.png, curves.png and report.json to {}", figures.join(", "), out.display());
    Ok(())
}

fn sweep(common: &Common, out: &Path, base: LessonRun, vary: &[Axis], slurm: &SlurmArgs) -> Result<()> {
    let (device, data) = prepare(common, out)?;
    let configs = grid(&experiment_config(common, base, PcVariant::Original), vary)?;
    let mut sweep = Sweep::new(&data, device).progress(cli_progress);
    if slurm.slurm {
        sweep = sweep.on_slurm(SlurmOptions {
            partition: slurm.partition.clone(),
            time: slurm.time.clone(),
            cpus_per_task: slurm.cpus_per_task,
            wait: !slurm.no_wait,
            ..SlurmOptions::default()
        });
    }
    let result = sweep.run(&configs)?;
    if slurm.no_wait && !result.missing.is_empty() {
        println!(
            "{} configuration(s) queued on Slurm; run the same command again when they have finished, to gather them",
            result.missing.len()
        );
        return Ok(());
    }
    let table = result.table();
    println!("\n{table}");
    lossviz::fs::write_atomic(&out.join("table.md"), table.to_markdown().as_bytes())?;
    lossviz::fs::write_atomic(&out.join("table.html"), table.to_html().as_bytes())?;
    result.scatter_grid(Normalize::EqualAspect)?.save(out.join("grid.png"))?;
    result.curves()?.save(out.join("curves.png"))?;
    println!("wrote table.md, table.html, grid.png and curves.png to {}", out.display());
    let not_run: Vec<&lossviz::sweep::MissingRun> = result.missing.iter().filter(|m| !m.diverged).collect();
    if not_run.is_empty() {
        return Ok(());
    }
    let lines: Vec<String> = not_run
        .iter()
        .map(|m| format!("  {}: {}{}", m.label, m.why, m.log.as_ref().map(|l| format!("; log: {}", l.display())).unwrap_or_default()))
        .collect();
    Err(lossviz::error::Error::Slurm {
        what: format!("{} of {} configuration(s)", not_run.len(), configs.len()),
        message: format!("the table lists them as missing; run the same command again to submit only those:\n{}", lines.join("\n")),
    })
}

fn self_check() -> Result<()> {
    let device = default_device()?;
    let a = tch::Tensor::f_from_slice(&[1.0f32, 2.0, 3.0]).and_then(|t| t.f_to_device(device));
    let value = a.and_then(|a| a.f_dot(&a)).map(|t| t.double_value(&[]));
    match value {
        Ok(14.0) => {
            println!("libtorch OK: {}", describe(device));
            println!("{}", lossviz::plot::describe_font());
            Ok(())
        }
        Ok(other) => Err(lossviz::error::Error::Torch {
            context: "running the self-check".into(),
            source: tch::TchError::Torch(format!("[1, 2, 3] · [1, 2, 3] gave {other}, expected 14")),
        }),
        Err(source) => Err(lossviz::error::Error::Torch { context: "running the self-check".into(), source }),
    }
}

/// Usage errors exit 2 and `--help` 0 (clap's own); a failure prints lossviz's error and
/// exits 1.
fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Command::Compare { common, out, runs, pc_variant } => compare(&common, &out, &runs, pc_variant),
        Command::Sweep { common, out, base, vary, slurm } => sweep(&common, &out, base, &vary, &slurm),
        Command::SlurmTask { plan, index } => run_task(&plan, index),
        Command::Locate { dataset, data } => locate(dataset, data.as_deref()).map(|dir| println!("{}", dir.display())),
        Command::SelfCheck => self_check(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("lossviz: error: {e}");
            ExitCode::from(1)
        }
    }
}
