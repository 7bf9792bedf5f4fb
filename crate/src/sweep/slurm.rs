//! Sweeps on a Slurm cluster: one array task per configuration the run cache lacks.
//!
//! Slurm does the scheduling; the run cache does the hand-over. The sweep writes a plan
//! (`plan.json`: the data to load and each task's configuration) and a job script into
//! `<run cache>/slurm/<plan>/`, submits one array job (`sbatch --array`), waits until
//! `squeue` no longer lists it, and then reads every configuration back from the cache.
//! A task that failed or was cancelled left nothing in the cache, so it is reported with
//! its log, and the same sweep run again submits only what is still missing. The run cache
//! (`LOSSVIZ_RUNS`), the data and the `lossviz` program must be on a filesystem every node
//! sees.
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::cache::{data_identity, RunCache};
use crate::data::{Dataset, DatasetKind};
use crate::error::{Error, Result};
use crate::fs::fnv1a;
use crate::fs::write_atomic;
use crate::report::run_experiment;
use crate::training::{print_progress, Progress, TrainConfig};

/// How to submit a sweep's tasks. `SlurmOptions::default()` takes the cluster's defaults.
#[derive(Debug, Clone)]
pub struct SlurmOptions {
    /// `sbatch --partition`.
    pub partition: Option<String>,
    /// `sbatch --time`, e.g. `"01:00:00"`: how long one configuration may train.
    pub time: Option<String>,
    /// `sbatch --cpus-per-task`; each task trains with this many threads.
    pub cpus_per_task: Option<u32>,
    /// Wait for the tasks and gather their runs (true), or return once they are submitted.
    pub wait: bool,
    /// The `lossviz` command the tasks run: by default `LOSSVIZ_BIN`, else this program
    /// when it is `lossviz` itself.
    pub program: Option<PathBuf>,
    /// How often `squeue` is asked while waiting.
    pub poll: Duration,
}

impl Default for SlurmOptions {
    fn default() -> Self {
        SlurmOptions { partition: None, time: None, cpus_per_task: None, wait: true, program: None, poll: Duration::from_secs(5) }
    }
}

/// What a task needs to train its configuration, written once per submission.
#[derive(serde::Serialize, serde::Deserialize)]
struct Plan {
    dataset: DatasetKind,
    data_dir: PathBuf,
    train_samples: usize,
    test_samples: usize,
    /// Checked by every task against the data it loaded: a node that sees other files must
    /// not fill the cache under this sweep's keys.
    data_identity: String,
    runs_dir: PathBuf,
    tasks: Vec<PlannedRun>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct PlannedRun {
    label: String,
    /// The run cache entry (folder name) the task must fill: checked by the task, so a node
    /// with another lossviz version (other keys) fails instead of filling other entries.
    entry: String,
    config: TrainConfig,
}

/// The array task that trains one cache entry.
pub(crate) struct Task {
    pub job: String,
    pub index: usize,
    /// The folder of the plan the task reads, which holds its log.
    pub dir: PathBuf,
}

impl Task {
    pub fn log(&self) -> PathBuf {
        self.dir.join(format!("task-{}_{}.log", self.job, self.index))
    }
}

/// The tasks training what a sweep lacks: some submitted now, some already queued by an
/// earlier run of the same sweep (or another sweep sharing the cache).
pub(crate) struct InFlight {
    tasks: Vec<(String, Task)>,
}

impl InFlight {
    /// The task that trains into the cache entry named `entry` ([`RunCache::entry_name`]).
    pub fn task_for(&self, entry: &str) -> Option<&Task> {
        self.tasks.iter().find(|(e, _)| e == entry).map(|(_, t)| t)
    }
}

/// The job name every sweep submits under, so that `squeue --name` finds them all.
const JOB_NAME: &str = "lossviz-sweep";

fn slurm_error(what: &str, message: impl Into<String>) -> Error {
    Error::Slurm { what: what.to_string(), message: message.into() }
}

/// Runs a Slurm client command and returns its standard output.
fn slurm_command(program: &str, args: &[String]) -> Result<String> {
    let out = Command::new(program).args(args).output().map_err(|e| {
        slurm_error(
            program,
            format!("could not start it ({e}): run the sweep where Slurm's commands are on PATH (a login node), or without on_slurm / --slurm to train here"),
        )
    })?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        return Err(slurm_error(&format!("{program} {}", args.join(" ")), format!("{} ({})", stderr.trim(), out.status)));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The `lossviz` program the tasks run.
fn program(options: &SlurmOptions) -> Result<PathBuf> {
    let given = match (&options.program, std::env::var_os("LOSSVIZ_BIN")) {
        (Some(p), _) => Some(("SlurmOptions.program", p.clone())),
        (None, Some(p)) => Some(("LOSSVIZ_BIN", PathBuf::from(p))),
        (None, None) => None,
    };
    if let Some((setting, p)) = given {
        return if p.is_file() {
            absolute(&p)
        } else {
            Err(Error::setting(
                setting,
                p.display(),
                "no such file: the tasks run this program (target/release/lossviz after ./kernel-setup.sh)",
            ))
        };
    }
    match std::env::current_exe() {
        Ok(exe) if exe.file_stem().is_some_and(|s| s == "lossviz") => Ok(exe),
        _ => Err(Error::setting(
            "LOSSVIZ_BIN",
            "(unset)",
            "the Slurm tasks need the lossviz program: set LOSSVIZ_BIN or SlurmOptions.program to target/release/lossviz (built by ./kernel-setup.sh)",
        )),
    }
}

/// `path` from the root, as the compute nodes must be given it. Not canonicalised: a
/// symbolic link (`/home` to an automounter's folder, say) stays the name every node knows.
fn absolute(path: &Path) -> Result<PathBuf> {
    std::path::absolute(path).map_err(|source| Error::Io { path: path.to_path_buf(), source })
}

/// A path as one word of a POSIX shell script.
fn shell_quote(path: &Path) -> String {
    format!("'{}'", path.display().to_string().replace('\'', r"'\''"))
}

/// A queued (waiting or running) array task of any lossviz sweep: job, index, state, and
/// the job script, which sits in the task's plan folder.
struct Queued {
    job: String,
    index: usize,
    state: String,
    script: PathBuf,
}

/// Every state of a task that has not ended (squeue's default list leaves out suspended and
/// stopped tasks, which would read as failed).
const LIVE_STATES: &str = "PD,R,CG,CF,S,ST,RQ,RS,RH,RF,SI,SO";

/// Asks `squeue`; a failure is retried twice, a few seconds apart (a busy controller times
/// out now and then), before it ends the sweep.
fn queued_tasks() -> Result<Vec<Queued>> {
    let args: Vec<String> =
        ["-h", "-r", "--name", JOB_NAME, "--states", LIVE_STATES, "-o", "%i|%T|%o"].iter().map(|s| s.to_string()).collect();
    let mut attempt = 0;
    loop {
        match slurm_command("squeue", &args) {
            Ok(out) => return Ok(parse_queued(&out)),
            Err(Error::Slurm { what, message }) if attempt < 2 && !message.contains("could not start") => {
                attempt += 1;
                eprintln!("lossviz: {what} failed ({message}); asking again in 5 s");
                std::thread::sleep(Duration::from_secs(5));
            }
            Err(e) => return Err(e),
        }
    }
}

/// `squeue -r -o %i|%T|%o` lines (`12_3|RUNNING|/runs/slurm/ab…/job.sh`); lines of jobs that
/// are not array tasks are skipped.
fn parse_queued(out: &str) -> Vec<Queued> {
    out.lines()
        .filter_map(|line| {
            let mut fields = line.trim().splitn(3, '|');
            let (id, state, script) = (fields.next()?, fields.next()?, fields.next()?);
            let (job, index) = id.split_once('_')?;
            Some(Queued { job: job.to_string(), index: index.parse().ok()?, state: state.to_string(), script: PathBuf::from(script) })
        })
        .collect()
}

fn read_plan(path: &Path) -> Result<Plan> {
    let bytes = std::fs::read(path).map_err(|source| Error::Io { path: path.to_path_buf(), source })?;
    serde_json::from_slice(&bytes).map_err(|e| Error::bad_data(path, format!("not a lossviz plan: {e}")))
}

/// Finds, for each cache entry (by name), a queued task that trains into it already.
fn already_queued(runs_dir: &Path, entries: &[String]) -> Result<Vec<(String, Task)>> {
    let mut plans: std::collections::HashMap<PathBuf, Option<Plan>> = Default::default();
    let mut found = Vec::new();
    for q in queued_tasks()? {
        let Some(dir) = q.script.parent().map(Path::to_path_buf) else { continue };
        let plan = plans.entry(dir.clone()).or_insert_with(|| read_plan(&dir.join("plan.json")).ok());
        let Some(planned) = plan.as_ref().filter(|p| p.runs_dir == runs_dir).and_then(|p| p.tasks.get(q.index)) else { continue };
        let entry = &planned.entry;
        if entries.contains(entry) && !found.iter().any(|(e, _)| e == entry) {
            found.push((entry.clone(), Task { job: q.job, index: q.index, dir }));
        }
    }
    Ok(found)
}

/// Submits one array task per configuration the cache lacks (two configurations with one
/// cache entry share a task), except those a queued task already trains.
pub(crate) fn submit(
    options: &SlurmOptions,
    cache: &RunCache,
    identity: &str,
    data: &Dataset,
    configs: &[(&TrainConfig, &str)],
    report: fn(Progress),
) -> Result<InFlight> {
    std::fs::create_dir_all(&cache.dir).map_err(|source| Error::Io { path: cache.dir.clone(), source })?;
    let runs_dir = absolute(&cache.dir)?;
    let program = program(options)?;
    let mut wanted: Vec<(&TrainConfig, &str, String)> = Vec::new();
    for &(config, label) in configs {
        let entry = RunCache::entry_name(config, identity)?;
        if !wanted.iter().any(|t| t.2 == entry) {
            wanted.push((config, label, entry));
        }
    }
    let entries: Vec<String> = wanted.iter().map(|t| t.2.clone()).collect();
    let mut tasks = already_queued(&runs_dir, &entries)?;
    if !tasks.is_empty() {
        let mut jobs: Vec<&str> = tasks.iter().map(|(_, t)| t.job.as_str()).collect();
        jobs.sort();
        jobs.dedup();
        let then = if options.wait { "waiting for those" } else { "not submitted again" };
        report(Progress::Note(&format!("{} configuration(s) are already queued (Slurm job {}): {then}", tasks.len(), jobs.join(", "))));
    }
    wanted.retain(|t| !tasks.iter().any(|(e, _)| *e == t.2));
    if wanted.is_empty() {
        return Ok(InFlight { tasks });
    }
    // Named by what it trains: a resubmission after a failure writes its plan in the same
    // folder, and the logs (named by job) of every attempt stay side by side.
    let names: Vec<&str> = wanted.iter().map(|t| t.2.as_str()).collect();
    let dir = runs_dir.join("slurm").join(format!("{:016x}", fnv1a(names.join("\n").as_bytes())));
    let plan = Plan {
        dataset: data.kind,
        data_dir: absolute(&data.dir)?,
        train_samples: data.train.len(),
        test_samples: data.test.len(),
        data_identity: identity.to_string(),
        runs_dir: runs_dir.clone(),
        tasks: wanted.iter().map(|t| PlannedRun { label: t.1.to_string(), entry: t.2.clone(), config: t.0.clone() }).collect(),
    };
    std::fs::create_dir_all(&dir).map_err(|source| Error::Io { path: dir.clone(), source })?;
    let plan_path = dir.join("plan.json");
    write_atomic(&plan_path, &serde_json::to_vec_pretty(&plan).map_err(Error::json("the Slurm plan"))?)?;
    let script = format!(
        "#!/bin/sh\n# Written by lossviz: array task N trains configuration N of plan.json into the run cache.\nexec {} slurm-task {} \"$SLURM_ARRAY_TASK_ID\"\n",
        shell_quote(&program),
        shell_quote(&plan_path)
    );
    let script_path = dir.join("job.sh");
    write_atomic(&script_path, script.as_bytes())?;
    let mut args = vec![
        "--parsable".to_string(),
        format!("--array=0-{}", wanted.len() - 1),
        format!("--job-name={JOB_NAME}"),
        // `%` in sbatch's --output is a pattern; `%%` is a plain `%` of the path.
        format!("--output={}/task-%A_%a.log", dir.display().to_string().replace('%', "%%")),
    ];
    args.extend(options.partition.iter().map(|p| format!("--partition={p}")));
    args.extend(options.time.iter().map(|t| format!("--time={t}")));
    args.extend(options.cpus_per_task.iter().map(|c| format!("--cpus-per-task={c}")));
    args.push(script_path.display().to_string());
    // `--parsable` prints `id` or `id;cluster`.
    let out = slurm_command("sbatch", &args)?;
    let job = out.trim().split(';').next().unwrap_or_default().to_string();
    if job.is_empty() || !job.bytes().all(|b| b.is_ascii_digit()) {
        return Err(slurm_error("sbatch", format!("printed no job id (its output: '{}')", out.trim())));
    }
    report(Progress::Note(&format!(
        "submitted {} configuration(s) as Slurm array job {job} (plan and logs in {})",
        wanted.len(),
        dir.display()
    )));
    tasks.extend(wanted.into_iter().enumerate().map(|(index, t)| (t.2, Task { job: job.clone(), index, dir: dir.clone() })));
    Ok(InFlight { tasks })
}

/// Waits until `squeue` lists none of the tasks, saying whenever the count of waiting and
/// running tasks changes.
pub(crate) fn wait(in_flight: &InFlight, poll: Duration, report: fn(Progress)) -> Result<()> {
    let total = in_flight.tasks.len();
    let mut last = String::new();
    loop {
        let ours: Vec<Queued> =
            queued_tasks()?.into_iter().filter(|q| in_flight.tasks.iter().any(|(_, t)| t.job == q.job && t.index == q.index)).collect();
        if ours.is_empty() {
            return Ok(());
        }
        let running = ours.iter().filter(|q| q.state == "RUNNING").count();
        let line =
            format!("Slurm: {} of {total} task(s) finished, {running} running, {} waiting", total - ours.len(), ours.len() - running);
        if line != last {
            report(Progress::Note(&line));
            last = line;
        }
        std::thread::sleep(poll);
    }
}

/// The last non-empty line of a task's log, to say at a glance why it failed.
pub(crate) fn last_line(log: &Path) -> Option<String> {
    let text = std::fs::read_to_string(log).ok()?;
    text.lines().rev().map(str::trim).find(|l| !l.is_empty()).map(String::from)
}

/// One array task (`lossviz slurm-task PLAN INDEX`): trains configuration `index` of the plan
/// and stores it in the plan's run cache. Trains with as many threads as CPUs Slurm gave the
/// task (`SLURM_CPUS_PER_TASK`, one without `--cpus-per-task`), not one per core of the node.
pub fn run_task(plan_path: &Path, index: usize) -> Result<()> {
    let plan = read_plan(plan_path)?;
    let Some(task) = plan.tasks.get(index) else {
        return Err(Error::input("task index", index, &format!("{} holds {} task(s)", plan_path.display(), plan.tasks.len())));
    };
    tch::set_num_threads(std::env::var("SLURM_CPUS_PER_TASK").ok().and_then(|n| n.parse::<i32>().ok()).unwrap_or(1).max(1));
    let limit = plan.train_samples.max(plan.test_samples);
    let full = Dataset::load(plan.dataset, Some(&plan.data_dir), Some(limit))?;
    let data = Dataset { train: full.train.first(plan.train_samples), test: full.test.first(plan.test_samples), ..full };
    let identity = data_identity(&data)?;
    if identity != plan.data_identity {
        return Err(Error::bad_data(
            &plan.data_dir,
            format!(
                "this node reads {identity}, the sweep was planned on {}: put the data on a filesystem every node sees",
                plan.data_identity
            ),
        ));
    }
    let cache = RunCache::new(plan.runs_dir.clone());
    let entry = RunCache::entry_name(&task.config, &identity)?;
    if entry != task.entry {
        return Err(Error::bad_data(
            plan_path,
            format!(
                "task {index} should fill cache entry {}, but this lossviz computes {}: build the same lossviz for every node",
                task.entry, entry
            ),
        ));
    }
    if cache.holds(&task.config, &identity)? {
        println!("{}: already in the run cache (another task trained it); nothing to do", task.label);
        return Ok(());
    }
    let device = crate::device::default_device()?;
    println!(
        "{}: training {} epochs; {}\n{}",
        task.label,
        task.config.epochs,
        crate::device::describe(device),
        crate::device::describe_precision(device, task.config.precision)
    );
    let (run, experiment) = run_experiment(&task.label, task.config.clone(), &data, device, print_progress)?;
    let weights = cache.store(&identity, &experiment, &run, &[])?;
    println!(
        "{}: test accuracy {:.2}%, stored in {}",
        task.label,
        run.report.test_accuracy,
        weights.parent().unwrap_or(&weights).display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_quoted_for_the_job_script() {
        assert_eq!(shell_quote(Path::new("/a b/it's")), r"'/a b/it'\''s'");
    }

    #[test]
    fn queued_tasks_are_read_from_squeue_lines() {
        let out = "12_3|RUNNING|/runs/slurm/ab/job.sh\n12_[4-5]|PENDING|/runs/slurm/ab/job.sh\n13|RUNNING|/x.sh\n 7_0|PENDING|/a|b.sh\n";
        let q = parse_queued(out);
        let read: Vec<(&str, usize, &str, &Path)> =
            q.iter().map(|q| (q.job.as_str(), q.index, q.state.as_str(), q.script.as_path())).collect();
        assert_eq!(read, [("12", 3, "RUNNING", Path::new("/runs/slurm/ab/job.sh")), ("7", 0, "PENDING", Path::new("/a|b.sh"))]);
    }

    #[test]
    fn a_missing_program_is_an_error_that_says_what_to_set() {
        let options = SlurmOptions { program: Some("/no/such/lossviz".into()), ..Default::default() };
        let err = program(&options).unwrap_err().to_string();
        assert!(err.contains("SlurmOptions.program") && err.contains("/no/such/lossviz"), "{err}");
    }
}
