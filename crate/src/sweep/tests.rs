use super::*;
use crate::data::tests::tiny_dataset as tiny;
use crate::losses::PcVariant;
use crate::plot::Normalize;
use crate::training::tests::quick_config as quick;
use crate::training::OptimizerKind;

#[test]
fn grid_is_every_combination_and_labels_name_only_what_differs() {
    let base = quick().with_center();
    let configs = grid(&base, &[Axis::new("center.lambda", [0.1, 1.0, 10.0]), Axis::new("optimizer", ["sgd", "adam"])]).unwrap();
    assert_eq!(configs.len(), 6);
    assert_eq!(configs[3].loss::<crate::losses::CenterConfig>().unwrap().lambda, 1.0);
    assert_eq!(configs[3].optimizer, OptimizerKind::Adam);
    let (names, varying) = labels(&configs);
    assert_eq!(varying, vec!["center.lambda", "optimizer"]);
    assert_eq!(names[3], "center.lambda=1.0, optimizer=adam");

    let cosface = quick().with(crate::losses::CosFaceConfig::default());
    let configs = [quick(), quick().with_center(), quick().with_center().set("center.lr", 0.1).unwrap(), cosface];
    let (names, _) = labels(&configs);
    assert_eq!(names, ["cross-entropy only", "+center, center.lr=0.5", "+center, center.lr=0.1", "+cosface"]);
    let mine = crate::own_loss!("my_label_test", |x: &tch::Tensor, _: &tch::Tensor, _: &tch::Tensor| x.sum(tch::Kind::Float)).unwrap();
    let (names, _) = labels(&[quick().with_center(), quick().with(mine.settings(1.0, 0.5))]);
    assert_eq!(names, ["+center", "+my_label_test"], "a notebook's loss is named like a crate's");
    let variants = [PcVariant::Original, PcVariant::Bounded { margin: 2.0 }];
    let configs = grid(&quick().with_center_and_pc(), &[Axis::new("pc.variant", variants)]).unwrap();
    assert_eq!(labels(&configs).0, ["pc.variant=original", "pc.variant.bounded.margin=2.0"]);
    let err = grid(&base, &[Axis::new::<f64>("lr", [])]).unwrap_err().to_string();
    assert!(err.contains("at least one value"), "{err}");
    // A value that cannot be written as a setting is an error, not `null` (which would
    // switch Center Loss off and train without it).
    let unwritable = std::collections::HashMap::from([((1, 2), 3)]);
    let err = grid(&base, &[Axis::new("center", [unwritable])]).unwrap_err().to_string();
    assert!(err.contains("center") && err.contains("not a setting"), "{err}");
}

#[test]
fn a_diverging_run_is_a_row_of_its_own_and_the_next_run_still_trains() {
    let (data, dir) = tiny("sweep-diverged");
    let configs = vec![TrainConfig { lr: 1e6, ..quick().with_center() }, quick().with_center()];
    let result = Sweep::new(&data, Device::Cpu).cache_dir(dir.join("runs")).quiet().run(&configs).unwrap();
    assert_eq!((result.runs.len(), result.missing.len()), (1, 1));
    let diverged = &result.missing[0];
    assert!(diverged.diverged && diverged.why.contains("diverged") && diverged.why.contains("lr (now 1000000)"), "{}", diverged.why);
    let (names, _) = labels(&configs);
    assert_eq!((diverged.label.as_str(), result.runs[0].label.as_str()), (names[0].as_str(), names[1].as_str()));
    let table = result.table();
    assert_eq!(table.rows.len(), 2);
    assert_eq!((table.rows[1][0].as_str(), table.rows[1].last().unwrap().as_str()), (names[0].as_str(), "diverged"));
}

#[test]
fn a_second_run_loads_from_the_cache_with_identical_results() {
    let (data, dir) = tiny("sweep-cache");
    let configs = vec![quick(), quick().with_center()];
    let sweep = Sweep::new(&data, Device::Cpu).cache_dir(dir.join("runs")).quiet();
    let first = sweep.run(&configs).unwrap();
    let second = sweep.run(&configs).unwrap();
    assert!(first.runs.iter().all(|r| r.source == Source::Trained) && second.runs.iter().all(|r| r.source == Source::Cache));
    for (a, b) in first.runs.iter().zip(&second.runs) {
        assert_eq!(a.run.report, b.run.report);
        assert_eq!(a.run.features, b.run.features);
    }
    // The cached weights restore the trained network: same features as the run reported.
    let mut experiment = crate::training::Experiment::new(configs[1].clone(), Device::Cpu).unwrap();
    experiment.load_weights(second.runs[1].weights.as_ref().unwrap()).unwrap();
    assert_eq!(experiment.features(&data.test).unwrap(), second.runs[1].run.features);
}

#[test]
fn a_corrupt_entry_is_retrained_not_trusted() {
    let (data, dir) = tiny("sweep-corrupt");
    let cache = RunCache::new(dir.join("runs"));
    let sweep = Sweep::new(&data, Device::Cpu).cache_dir(&cache.dir).quiet();
    let config = quick();
    let first = sweep.run(std::slice::from_ref(&config)).unwrap();
    let entry = cache.entry_dir(&config, &cache::data_identity(&data).unwrap()).unwrap();

    // One changed digit in the report: the checksum catches it.
    let path = entry.join("run.json");
    let text = std::fs::read_to_string(&path).unwrap();
    let at = text.find("\"test_accuracy\":").unwrap() + "\"test_accuracy\":".len();
    let mut bytes = text.into_bytes();
    bytes[at] = if bytes[at] == b'9' { b'1' } else { b'9' };
    std::fs::write(&path, &bytes).unwrap();
    let again = sweep.run(std::slice::from_ref(&config)).unwrap();
    assert!(again.runs[0].source == Source::Trained, "a tampered report must not load");
    assert_eq!(again.runs[0].run.report.test_accuracy, first.runs[0].run.report.test_accuracy);

    // Truncated weights: retrained too; and the rewritten entry loads again afterwards.
    let weights = entry.join("weights.ot");
    let w = std::fs::read(&weights).unwrap();
    std::fs::write(&weights, &w[..w.len() / 2]).unwrap();
    assert_eq!(sweep.run(std::slice::from_ref(&config)).unwrap().runs[0].source, Source::Trained);
    assert_eq!(sweep.run(std::slice::from_ref(&config)).unwrap().runs[0].source, Source::Cache);
}

#[test]
fn table_has_a_row_per_run_in_html_and_text() {
    let (data, _) = tiny("sweep-table");
    let configs = grid(&quick(), &[Axis::new("lr", [0.01, 0.02])]).unwrap();
    let result = Sweep::new(&data, Device::Cpu).no_cache().quiet().run(&configs).unwrap();
    let table = result.table();
    let html = table.to_html();
    assert_eq!(html.matches("<tr>").count(), 3, "{html}");
    assert!(html.contains("<td>lr=0.02</td>"), "{html}");
    assert_eq!(table.to_string().lines().count(), 3);
    let grid_png = result.scatter_grid(Normalize::EqualAspect).unwrap();
    assert_eq!(grid_png.height, 600);
}

static SEEN: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

fn record(p: Progress) {
    let line = match p {
        Progress::Note(line) => line.to_string(),
        Progress::Step { .. } => "(step)".to_string(),
        Progress::Epoch(_) => "(epoch)".to_string(),
    };
    SEEN.lock().unwrap().push(line);
}

#[test]
fn a_sweep_says_what_it_trains_and_loads_and_how_long_before_the_first_step() {
    let (data, dir) = tiny("sweep-estimate");
    let sweep = Sweep::new(&data, Device::Cpu).cache_dir(dir.join("runs")).progress(record);
    sweep.run(&[quick()]).unwrap();
    SEEN.lock().unwrap().clear();
    sweep.run(&[quick(), quick().set("seed", 1).unwrap(), quick().set("seed", 2).unwrap()]).unwrap();
    let seen = SEEN.lock().unwrap().clone();
    let first_step = seen.iter().position(|l| l == "(step)").expect("no step reported");
    let said: Vec<&String> = seen[..first_step].iter().filter(|l| l.contains("about") || l.contains("およそ")).collect();
    assert_eq!(said.len(), 2, "the sweep's estimate and the first run's time left: {seen:?}");
    let counts = ["2 training(s) to run, 1 to load from the cache: about ", "学習 2 件，キャッシュから読み込み 1 件：このマシンでおよそ "];
    assert!(counts.iter().any(|c| said[0].starts_with(c)), "{seen:?}");
}
