use std::path::PathBuf;

use tch::Device;

use super::train_or_load::{record_or_load_in, train_or_load_in};
use super::*;
use crate::data::tests::tiny_dataset as tiny;
use crate::data::{Dataset, DatasetKind};
use crate::training::tests::quick_config as quick;
use crate::training::{Precision, Progress};

#[test]
fn the_lessons_training_is_kept_and_a_fresh_experiment_loads_it() {
    let (data, dir) = tiny("lesson-cache");
    let cache = RunCache::new(dir.join("runs"));
    let config = TrainConfig { epochs: 2, ..quick().with_center() };
    let mut trained = Experiment::new(config.clone(), Device::Cpu).unwrap();
    let history = train_or_load_in(&cache, &mut trained, &data, |_| {}).unwrap();
    assert_eq!(history.len(), 2);
    assert!(cache.entry_dir(&config, &data_identity(&data).unwrap()).unwrap().join("run.json").is_file());

    // As after a kernel restart: a new experiment, the same settings, loaded not trained.
    let mut loaded = Experiment::new(config, Device::Cpu).unwrap();
    let (mut steps, mut notes, mut replayed) = (0, Vec::new(), Vec::new());
    let again = train_or_load_in(&cache, &mut loaded, &data, |p| match p {
        Progress::Note(line) => notes.push(line.to_string()),
        Progress::Epoch(stats) => replayed.push(stats.clone()),
        _ => steps += 1,
    })
    .unwrap();
    assert_eq!(steps, 0, "it trained again");
    assert_eq!(replayed, history, "a loaded run shows its per-epoch log as a trained one does");
    assert!(notes.len() == 1 && notes[0].starts_with("loaded from the cache"), "{notes:?}");
    assert_eq!(again, history);
    assert_eq!(loaded.history, trained.history);
    assert_eq!(loaded.features(&data.test).unwrap(), trained.features(&data.test).unwrap());

    let err = train_or_load_in(&cache, &mut loaded, &data, |_| {}).unwrap_err().to_string();
    assert!(err.contains("already trained 2 epochs"), "{err}");
}

#[test]
fn other_data_or_settings_get_another_entry() {
    let (data, dir) = tiny("sweep-keys");
    let cache = RunCache::new(dir.join("runs"));
    let id = data_identity(&data).unwrap();
    let a = cache.entry_dir(&quick(), &id).unwrap();
    assert_ne!(a, cache.entry_dir(&quick().set("seed", 1).unwrap(), &id).unwrap());
    let fewer = Dataset::load(DatasetKind::Mnist, Some(&dir.join("data")), Some(50)).unwrap();
    assert_ne!(a, cache.entry_dir(&quick(), &data_identity(&fewer).unwrap()).unwrap());
}

#[test]
fn the_cache_key_ignores_how_often_progress_is_reported_but_not_the_settings() {
    let cache = RunCache::new(PathBuf::from("runs"));
    let key = |c: &TrainConfig| cache.entry_dir(c, "data").unwrap();
    let base = quick().with_center();
    assert_eq!(key(&base), key(&TrainConfig { log_every: 7, ..base.clone() }));
    assert_ne!(key(&base), key(&base.set("center.lambda", 0.5).unwrap()));
    assert_ne!(key(&base), cache.entry_dir(&base, "other data").unwrap());
    assert_ne!(key(&base), key(&TrainConfig { precision: Precision::Bf16, ..base.clone() }));
}

#[test]
fn fp32_runs_keep_the_cache_keys_they_had_before_the_precision_setting() {
    // The entry this configuration had before `precision` existed: a change to the key of an
    // fp32 run would make every student's cached runs train again.
    let cache = RunCache::new(PathBuf::from("runs"));
    assert_eq!(cache.entry_dir(&quick().with_center(), "data").unwrap(), PathBuf::from("runs/3a4d8192a88205a2"));
}

#[test]
fn writers_storing_one_configuration_at_once_leave_one_whole_entry() {
    let (data, dir) = tiny("sweep-race");
    let cache = RunCache::new(dir.join("runs"));
    let identity = data_identity(&data).unwrap();
    let config = quick().with_center();
    let reference = Experiment::new(config.clone(), Device::Cpu).unwrap();
    let run = crate::report::summarize("race", &reference, &data).unwrap();
    // Each writer's weights differ (a different bias), so an entry holding one writer's
    // weights and another's run.json fails its checksum and reads as corrupt. A reader looks
    // all the while: it may find nothing yet, or a whole entry, never a mixed one.
    let writing = std::sync::atomic::AtomicBool::new(true);
    let corrupt = std::thread::scope(|scope| {
        let reader = scope.spawn(|| {
            let mut seen = Vec::new();
            while writing.load(std::sync::atomic::Ordering::Relaxed) {
                if let Lookup::Corrupt(why) = cache.load(&config, &identity).unwrap() {
                    seen.push(why);
                }
            }
            seen
        });
        let writers: Vec<_> = (0..6)
            .map(|writer| {
                let (cache, identity, config, run) = (&cache, &identity, &config, &run);
                scope.spawn(move || {
                    let experiment = Experiment::new(config.clone(), Device::Cpu).unwrap();
                    let (_, mut bias) = experiment.store.variables().into_iter().find(|(name, _)| name.ends_with("bias")).unwrap();
                    let _ = tch::no_grad(|| bias.fill_(writer as f64));
                    for _ in 0..8 {
                        cache.store(identity, &experiment, run, &[]).unwrap();
                    }
                })
            })
            .collect();
        writers.into_iter().for_each(|w| w.join().unwrap());
        writing.store(false, std::sync::atomic::Ordering::Relaxed);
        reader.join().unwrap()
    });
    assert!(corrupt.is_empty(), "a reader found a mixed entry {} times: {}", corrupt.len(), corrupt[0]);
    assert!(matches!(cache.load(&config, &identity).unwrap(), Lookup::Hit(_)), "the raced entry does not load");
    let left: Vec<_> =
        std::fs::read_dir(&cache.dir).unwrap().map(|e| e.unwrap().file_name()).filter(|n| n.to_string_lossy().contains("tmp")).collect();
    assert!(left.is_empty(), "temporary folders left: {left:?}");
}

#[test]
fn the_class_cache_is_read_after_the_students_own_and_never_written() {
    let (data, dir) = tiny("class-cache");
    let config = quick().with_center();
    let notes_of = |cache: &RunCache, config: &TrainConfig| {
        let (mut notes, mut steps) = (Vec::new(), 0);
        let mut experiment = Experiment::new(config.clone(), Device::Cpu).unwrap();
        train_or_load_in(cache, &mut experiment, &data, |p| match p {
            Progress::Note(line) => notes.push(line.to_string()),
            Progress::Step { .. } => steps += 1,
            Progress::Epoch(_) => {}
        })
        .unwrap();
        (notes, steps)
    };
    let entries = |d: &std::path::Path| std::fs::read_dir(d).map(|r| r.count()).unwrap_or(0);
    // The lecturer trains into the class's folder; a student finds it there.
    let class = dir.join("class");
    notes_of(&RunCache { dir: class.clone(), class_dir: None, events: None }, &config);
    let student = RunCache { dir: dir.join("mine"), class_dir: Some(class.clone()), events: None };
    let (notes, steps) = notes_of(&student, &config);
    assert_eq!(steps, 0, "it trained although the class's cache holds the run: {notes:?}");
    assert!(notes[0].starts_with("loaded from the class's cache (trained on "), "{notes:?}");
    assert_eq!(entries(&student.dir), 0, "loading from the class's cache wrote into the student's");

    // A setting the student changed trains into their own cache; the class's is untouched.
    let changed = config.set("center.lambda", 0.5).unwrap();
    let (_, steps) = notes_of(&student, &changed);
    assert!(steps > 0);
    assert_eq!((entries(&student.dir), entries(&class)), (1, 1));

    // A class entry that fails its checksum is skipped, said, and trained again (into the
    // student's own cache).
    let entry = RunCache { dir: class.clone(), class_dir: None, events: None }.entry_dir(&config, &data_identity(&data).unwrap()).unwrap();
    let path = entry.join("run.json");
    let mut bytes = std::fs::read(&path).unwrap();
    let at = bytes.len() - 10;
    bytes[at] ^= 1;
    std::fs::write(&path, &bytes).unwrap();
    let other = RunCache { dir: dir.join("other"), class_dir: Some(class.clone()), events: None };
    let (notes, steps) = notes_of(&other, &config);
    assert!(steps > 0, "a corrupt class entry was used: {notes:?}");
    assert!(notes[0].contains("the class's entry is skipped") && notes[0].contains("checksum"), "{notes:?}");
    assert_eq!(entries(&other.dir), 1);
}

#[test]
fn each_run_loaded_or_trained_is_recorded_once_and_a_look_for_an_estimate_is_not() {
    let (data, dir) = tiny("cache-events");
    let events = dir.join("events.jsonl");
    let class = RunCache { dir: dir.join("class"), class_dir: None, events: Some(events.clone()) };
    let student = RunCache { dir: dir.join("mine"), class_dir: Some(class.dir.clone()), events: Some(events.clone()) };
    let train_or_load = |cache: &RunCache, config: &TrainConfig| {
        let mut experiment = Experiment::new(config.clone(), Device::Cpu).unwrap();
        train_or_load_in(cache, &mut experiment, &data, |_| {}).unwrap();
    };
    let config = quick().with_center();
    let changed = config.set("center.lambda", 0.5).unwrap();
    let identity = data_identity(&data).unwrap();
    train_or_load(&class, &config);
    assert!(student.holds(&config, &identity).unwrap());
    train_or_load(&student, &config);
    train_or_load(&student, &changed);
    train_or_load(&student, &changed);

    let lines: Vec<serde_json::Value> =
        std::fs::read_to_string(&events).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let said: Vec<(&str, &str)> = lines.iter().map(|l| (l["event"].as_str().unwrap(), l["cache"].as_str().unwrap_or("-"))).collect();
    assert_eq!(said, [("trained", "-"), ("loaded", "class"), ("trained", "-"), ("loaded", "own")]);
    let entry_of = |cache: &RunCache, config: &TrainConfig| serde_json::json!(cache.entry_dir(config, &identity).unwrap());
    assert_eq!(lines[1]["entry"], entry_of(&class, &config));
    assert_eq!(lines[3]["entry"], entry_of(&student, &changed));
    assert!(lines[2]["seconds"].as_f64().is_some_and(|s| s > 0.0), "{}", lines[2]);
}

#[test]
fn an_animations_recording_is_kept_apart_from_the_run_and_loads_whole() {
    let (data, dir) = tiny("recording-cache");
    let cache = RunCache::new(dir.join("runs"));
    let config = TrainConfig { epochs: 3, ..quick().with_center() };
    let mut recorded = Experiment::new(config.clone(), Device::Cpu).unwrap();
    let frames = record_or_load_in(&cache, &mut recorded, &data, 40, |_| {}).unwrap();
    assert_eq!(frames.iter().map(|f| f.epoch).collect::<Vec<_>>(), [0, 1, 2]);
    assert!(frames.iter().all(|f| f.features.labels.len() == 40));

    let mut again = Experiment::new(config.clone(), Device::Cpu).unwrap();
    let mut steps = 0;
    let loaded = record_or_load_in(&cache, &mut again, &data, 40, |p| {
        if let Progress::Step { .. } = p {
            steps += 1
        }
    })
    .unwrap();
    assert_eq!((steps, &loaded), (0, &frames), "the second recording trained again or lost frames");
    assert_eq!(again.features(&data.test).unwrap(), recorded.features(&data.test).unwrap());
    // The same settings through train_or_load are another entry: it has no frames to give.
    let mut plain = Experiment::new(config, Device::Cpu).unwrap();
    let mut trained = false;
    train_or_load_in(&cache, &mut plain, &data, |p| trained |= matches!(p, Progress::Step { .. })).unwrap();
    assert!(trained, "train_or_load took the recording's entry");
}

#[test]
fn a_loss_added_through_the_registry_alone_trains_and_leaves_the_pinned_key_as_it_was() {
    let cache = RunCache::new(PathBuf::from("runs"));
    let pinned = PathBuf::from("runs/3a4d8192a88205a2");
    assert!(quick().settings().contains("dummy = off\n"), "the registered loss is not a setting");
    assert_eq!(cache.entry_dir(&quick().with_center(), "data").unwrap(), pinned, "registering a loss changed the key of a run without it");

    let (data, _dir) = tiny("registry-dummy");
    let config = quick().with_center().set("dummy", crate::losses::dummy::DummyConfig::default()).unwrap();
    assert_ne!(cache.entry_dir(&config, "data").unwrap(), pinned);
    let mut e = Experiment::new(config, Device::Cpu).unwrap();
    let history = e.train(&data.train, |_| {}).unwrap();
    let terms: Vec<&str> = history[0].terms.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(terms, ["center", "dummy"], "the registry's order is the order of the terms");
    let features = e.features(&data.test).unwrap();
    let drawn: Vec<_> = features.centers.iter().map(|c| (c.loss.as_str(), c.marker)).collect();
    use crate::losses::CenterMarker::{Circle, Diamond};
    assert_eq!(drawn, [("Center Loss", Some(Circle)), ("dummy", Some(Diamond))]);
}

#[test]
fn a_notebook_loss_trains_like_the_crates_own_and_its_formula_keys_its_runs() {
    use tch::{Kind, Tensor};
    let (data, dir) = tiny("own-loss");
    let cache = RunCache::new(dir.join("runs"));
    let mine = crate::own_loss!("my_keyed_test", |x: &Tensor, labels: &Tensor, centers: &Tensor| {
        (x - centers.index_select(0, labels)).pow_tensor_scalar(2).sum(Kind::Float) / x.size()[0] as f64
    })
    .unwrap();
    let config = quick().with(mine.settings(1.0, 0.5));
    let mut trained = Experiment::new(config.clone(), Device::Cpu).unwrap();
    let history = train_or_load_in(&cache, &mut trained, &data, |_| {}).unwrap();
    assert!(crate::training::term(&history[0].terms, "my_keyed_test") > 0.0, "{:?}", history[0].terms);
    let features = trained.features(&data.test).unwrap();
    assert!(features.centers.iter().any(|c| c.loss == "my_keyed_test"), "its centers are not drawn");

    let mut again = Experiment::new(config.clone(), Device::Cpu).unwrap();
    let mut steps = 0;
    train_or_load_in(&cache, &mut again, &data, |p| steps += matches!(p, Progress::Step { .. }) as usize).unwrap();
    assert_eq!(steps, 0, "the same formula and settings trained again");

    // A setting changed through JSON keeps the config's formula (as sweeps change them).
    let identity = data_identity(&data).unwrap();
    let heavier = config.set("my_keyed_test.lambda", 2.0).unwrap();
    assert_eq!(heavier.added_losses()[0].signed_lambda(), 2.0);
    let mut trained_again = Experiment::new(heavier.clone(), Device::Cpu).unwrap();
    trained_again.train(&data.train, |_| {}).unwrap();

    // The cell runs again with another formula: its runs get keys of their own, and settings
    // made for the old formula are refused by the new one rather than trained with it.
    let changed = crate::own_loss!("my_keyed_test", |x: &Tensor, labels: &Tensor, centers: &Tensor| {
        (x - centers.index_select(0, labels)).abs().sum(Kind::Float) / x.size()[0] as f64
    })
    .unwrap();
    let new_config = quick().with(changed.settings(1.0, 0.5));
    assert_ne!(cache.entry_dir(&new_config, &identity).unwrap(), cache.entry_dir(&config, &identity).unwrap());
    let old_settings = config.added_losses()[0].settings();
    let e = new_config.set("my_keyed_test", old_settings).unwrap_err().to_string();
    assert!(e.contains("earlier formula"), "{e}");

    // Read back from a file (a cached run's report), the config says what it was but cannot
    // train without its formula, and says so.
    let json = serde_json::to_string(&config).unwrap();
    let read: TrainConfig = serde_json::from_str(&json).unwrap();
    let e = Experiment::new(read, Device::Cpu).err().unwrap().to_string();
    assert!(e.contains("my_keyed_test") && e.contains("notebook cell"), "{e}");
}
