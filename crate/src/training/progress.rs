//! Progress reports from `Experiment::train`, `train_or_load` and sweeps. A notebook cell shows stdout as it comes,
//! so printing a line per report is enough to watch a run move.
use super::EpochStats;

#[derive(Debug, Clone, Copy)]
pub enum Progress<'a> {
    /// Every `log_every` steps: the epoch's running means so far of the total loss, each
    /// of the lesson's terms (zero when off) and the accuracy.
    Step { epoch: usize, step: usize, steps: usize, loss: f64, xent: f64, center: f64, pc: f64, accuracy: f64 },
    /// After each epoch.
    Epoch(&'a EpochStats),
    /// A line about the run as a whole: loaded from the run cache, kept in it, started.
    Note(&'a str),
}

/// Prints progress as the original did: step lines within an epoch, then a summary.
pub fn print_progress(p: Progress) {
    match p {
        // The original's breakdown: every term, every 100 steps.
        Progress::Step { epoch, step, steps, loss, xent, center, pc, accuracy } => println!(
            "  epoch {:>2} [{step:>4}/{steps}] loss {loss:.3} | xent {xent:.3} | center {center:.3} | pc {pc:.3} | acc {accuracy:.2}%",
            epoch + 1
        ),
        Progress::Note(line) => println!("{line}"),
        Progress::Epoch(s) => {
            // The exercise's extra terms only when they are on, to keep the lesson's lines short.
            let mut extra = String::new();
            for (name, value) in [("contrastive-center", s.contrastive_center), ("cosface", s.cosface)] {
                if value != 0.0 {
                    extra.push_str(&format!(", {name} {value:.3}"));
                }
            }
            let test = s.test_accuracy.map(|a| format!("  test acc {a:.2}%")).unwrap_or_default();
            println!(
                "epoch {:>2}: loss {:.3} (xent {:.3}, center {:.3}, pc {:.3}{extra})  train acc {:.2}%{test}  {:.1} s",
                s.epoch + 1,
                s.loss,
                s.xent,
                s.center,
                s.pc,
                s.train_accuracy,
                s.seconds
            )
        }
    }
}
