//! Progress reports from `Experiment::train`, `train_or_load` and sweeps. A notebook cell shows stdout as it comes,
//! so printing a line per report is enough to watch a run move.
use super::{EpochStats, StepStats};

#[derive(Debug, Clone, Copy)]
pub enum Progress<'a> {
    /// Every `log_every` steps: the epoch's running means so far of the total loss, the
    /// cross-entropy, each added loss's term and the accuracy; and the seconds this call's
    /// training still needs at its pace so far.
    Step { epoch: usize, so_far: &'a StepStats, seconds_left: f64 },
    /// After each epoch.
    Epoch(&'a EpochStats),
    /// A line about the run as a whole: loaded from the run cache, kept in it, started.
    Note(&'a str),
}

/// Prints progress as the original did: step lines within an epoch, then a summary, each
/// with every term of the run's loss.
pub fn print_progress(p: Progress) {
    let terms = |terms: &[(String, f64)], sep: &str| -> String { terms.iter().map(|(name, v)| format!("{sep}{name} {v:.3}")).collect() };
    match p {
        Progress::Step { epoch, so_far: s, seconds_left } => println!(
            "  epoch {:>2} [{:>4}/{}] loss {:.3} | xent {:.3}{} | acc {:.2}% | {} left",
            epoch + 1,
            s.step,
            s.steps,
            s.loss,
            s.xent,
            terms(&s.terms, " | "),
            s.accuracy,
            minutes_and_seconds(seconds_left)
        ),
        Progress::Note(line) => println!("{line}"),
        Progress::Epoch(s) => {
            let test = s.test_accuracy.map(|a| format!("  test acc {a:.2}%")).unwrap_or_default();
            println!(
                "epoch {:>2}: loss {:.3} (xent {:.3}{})  train acc {:.2}%{test}  {:.1} s",
                s.epoch + 1,
                s.loss,
                s.xent,
                terms(&s.terms, ", "),
                s.train_accuracy,
                s.seconds
            )
        }
    }
}

/// "4 min 05 s", "35 s": a wait as a person reads it.
pub(crate) fn minutes_and_seconds(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    if s < 60 {
        format!("{s} s")
    } else {
        format!("{} min {:02} s", s / 60, s % 60)
    }
}
