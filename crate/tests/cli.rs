//! The `lossviz` command end to end: exit codes, messages, and the files `compare` writes.
use std::path::Path;
use std::process::{Command, Output};

use lossviz::data::{encode_idx, FILES};

/// Each call gets a run cache of its own, so `compare` trains (never loads an earlier
/// call's runs) and nothing reaches the user's cache.
fn lossviz(args: &[&str]) -> Output {
    static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let runs = temp_dir(&format!("runs-{call}"));
    Command::new(env!("CARGO_BIN_EXE_lossviz"))
        .args(args)
        .env_remove("LOSSVIZ_DATA")
        .env("LOSSVIZ_RUNS", runs.path())
        .env("LOSSVIZ_DEVICE", "cpu")
        .output()
        .expect("the lossviz binary runs")
}

/// `lossviz compare` on MNIST-format data in `data`, writing to `out`, with `extra` flags.
fn compare(data: &Path, out: &Path, extra: &[&str]) -> Output {
    let (data, out) = (data.to_str().unwrap(), out.to_str().unwrap());
    lossviz(&[&["compare", "--dataset", "mnist", "--data", data, "--out", out], extra].concat())
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A new folder, removed with everything in it when dropped (also when the test fails).
fn temp_dir(name: &str) -> tempfile::TempDir {
    tempfile::Builder::new().prefix(&format!("lossviz-cli-{name}-")).tempdir().unwrap()
}

/// 60 images per split; each class is a horizontal bar at its own height.
fn write_dataset(dir: &Path) {
    let n = 60;
    let labels: Vec<u8> = (0..n).map(|i| (i * 7 % 10) as u8).collect();
    let mut images = vec![0u8; n * 28 * 28];
    for (i, &l) in labels.iter().enumerate() {
        let row = 2 + 2 * l as usize;
        for c in 4..24 {
            images[i * 784 + row * 28 + c] = 255;
        }
    }
    for (name, bytes) in [
        (FILES[0], encode_idx(&[n, 28, 28], &images)),
        (FILES[1], encode_idx(&[n], &labels)),
        (FILES[2], encode_idx(&[n, 28, 28], &images)),
        (FILES[3], encode_idx(&[n], &labels)),
    ] {
        std::fs::write(dir.join(name), bytes).unwrap();
    }
}

#[test]
fn bad_arguments_are_usage_errors_with_exit_2() {
    for args in [
        &[][..],
        &["compare"],
        &["compare", "--dataset", "cifar"],
        &["compare", "--dataset", "mnist", "--epochs", "x"],
        &["compare", "--dataset", "mnist", "--runs", "xent,svm"],
        &["compare", "--dataset", "mnist", "--pc-variant", "bounded:0"],
        &["fly"],
    ] {
        let out = lossviz(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        // clap's message: the usage line, or where to find it.
        let err = stderr(&out);
        assert!(err.contains("Usage:") || err.contains("try '--help'"), "{args:?}: {err}");
    }
}

#[test]
fn help_exits_0_and_each_command_takes_only_its_own_flags() {
    for args in [&["--help"][..], &["compare", "--help"], &["sweep", "--help"]] {
        let out = lossviz(args);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
        assert!(String::from_utf8_lossy(&out.stdout).contains("Usage: lossviz"), "{args:?}");
    }
    // A sweep's flag given to compare is a usage error, not silently ignored.
    let out = lossviz(&["compare", "--dataset", "mnist", "--vary", "lr=1"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--vary"), "{}", stderr(&out));
    let out = lossviz(&["sweep", "--dataset", "mnist"]);
    assert_eq!(out.status.code(), Some(2), "sweep without --vary: {}", stderr(&out));
}

#[test]
fn vary_takes_pc_variants_as_the_pc_variant_flag_does_and_json_with_commas() {
    let data_guard = temp_dir("vary-data");
    let data = data_guard.path();
    write_dataset(data);
    let out_guard = temp_dir("vary-out");
    let out_dir = out_guard.path();
    let variants = r#"pc.variant=bounded:5,{"bounded":{"margin":2.0}}"#;
    let out = lossviz(
        &[
            &["sweep", "--dataset", "mnist", "--data", data.to_str().unwrap(), "--out", out_dir.to_str().unwrap()][..],
            &["--epochs", "1", "--base", "pc", "--vary", variants],
        ]
        .concat(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let table = std::fs::read_to_string(out_dir.join("table.md")).unwrap();
    assert!(table.contains("margin=5.0") && table.contains("margin=2.0"), "{table}");
}

#[test]
fn missing_or_broken_data_is_an_error_with_exit_1_not_a_panic() {
    let missing = temp_dir("missing").path().join("no-such-folder");
    let out = lossviz(&["compare", "--dataset", "mnist", "--data", missing.to_str().unwrap(), "--out", missing.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("MNIST not found") && stderr(&out).contains("no-such-folder"), "{}", stderr(&out));

    let broken_guard = temp_dir("broken");
    let broken = broken_guard.path();
    write_dataset(broken);
    std::fs::write(broken.join(FILES[3]), encode_idx(&[60], &[11; 60])).unwrap();
    let out = lossviz(&["compare", "--dataset", "mnist", "--data", broken.to_str().unwrap(), "--out", broken.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("label 11 at index 0"), "{}", stderr(&out));
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
}

#[test]
fn runs_and_pc_variant_select_what_is_trained() {
    let data_guard = temp_dir("select-data");
    let data = data_guard.path();
    write_dataset(data);
    let out_dir_guard = temp_dir("select-out");
    let out_dir = out_dir_guard.path();
    let out = compare(data, out_dir, &["--epochs", "1", "--runs", "pc", "--pc-variant", "bounded:3"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(out_dir.join("report.json")).unwrap()).unwrap();
    let runs = report["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["name"], "pc");
    assert_eq!(runs[0]["config"]["pc"]["variant"], serde_json::json!({"bounded": {"margin": 3.0}}));
    assert!(!out_dir.join("xent.png").exists());
}

#[test]
fn compare_writes_every_file_and_repeats_itself_exactly() {
    let data_guard = temp_dir("data");
    let data = data_guard.path();
    write_dataset(data);
    let run = |name: &str| {
        let out_dir_guard = temp_dir(name);
        let out_dir = out_dir_guard.path();
        let out = compare(data, out_dir, &["--epochs", "2", "--seed", "7"]);
        assert!(out.status.success(), "{}", stderr(&out));
        let files = ["xent.png", "center.png", "pc.png", "grid.png", "curves.png", "report.json"];
        for file in files.iter().chain(&["xent-regions.png", "center-regions.png", "pc-regions.png"]) {
            let bytes = std::fs::read(out_dir.join(file)).unwrap_or_else(|_| panic!("{file} missing"));
            if file.ends_with(".png") {
                assert!(image::load_from_memory(&bytes).is_ok(), "{file} is not a PNG");
            }
        }
        let report: serde_json::Value = serde_json::from_slice(&std::fs::read(out_dir.join("report.json")).unwrap()).unwrap();
        report
    };
    let report = run("out-a");
    assert_eq!(report["dataset"], "mnist");
    let runs = report["runs"].as_array().unwrap();
    assert_eq!(runs.iter().map(|r| r["name"].as_str().unwrap()).collect::<Vec<_>>(), ["xent", "center", "pc"]);
    for r in runs {
        let acc = r["test_accuracy"].as_f64().unwrap();
        assert!((0.0..=100.0).contains(&acc));
        assert_eq!(r["epoch_seconds"].as_array().unwrap().len(), 2);
        assert!(r["eval_seconds"].as_f64().unwrap() >= 0.0);
        for key in [
            "scatter_ratio",
            "nearest_mean_accuracy",
            "mean_distance_to_own_mean",
            "min_distance_between_means",
            "mean_distance_between_means",
            "silhouette",
        ] {
            assert!(r["metrics"][key].is_number(), "{key} missing in {}", r["metrics"]);
        }
    }
    let again = run("out-b");
    for (a, b) in runs.iter().zip(again["runs"].as_array().unwrap()) {
        assert_eq!(a["metrics"], b["metrics"], "same seed, different features");
        assert_eq!(a["test_accuracy"], b["test_accuracy"]);
    }
}

#[test]
fn sweep_trains_each_combination_once_then_loads_it() {
    let data_guard = temp_dir("sweep-data");
    let data = data_guard.path();
    write_dataset(data);
    let (out_guard, runs_guard) = (temp_dir("sweep-out"), temp_dir("sweep-runs"));
    let (out_dir, runs) = (out_guard.path(), runs_guard.path());
    let sweep = || {
        Command::new(env!("CARGO_BIN_EXE_lossviz"))
            .args(["sweep", "--dataset", "mnist", "--data", data.to_str().unwrap(), "--epochs", "1", "--out", out_dir.to_str().unwrap()])
            .args(["--vary", "center.lambda=0.1,1", "--vary", "optimizer=sgd,adam"])
            .env("LOSSVIZ_DEVICE", "cpu")
            .env("LOSSVIZ_RUNS", runs)
            .output()
            .unwrap()
    };
    let first = sweep();
    assert!(first.status.success(), "{}", stderr(&first));
    let stdout = String::from_utf8_lossy(&first.stdout).into_owned();
    assert_eq!(stdout.matches(": training 1 epochs").count(), 4, "{stdout}");
    let table = std::fs::read_to_string(out_dir.join("table.md")).unwrap();
    assert!(table.contains("| center.lambda=0.1, optimizer=adam |"), "{table}");
    assert_eq!(table.lines().count(), 6, "header, rule and four runs: {table}");
    let grid = image::load_from_memory(&std::fs::read(out_dir.join("grid.png")).unwrap()).unwrap();
    assert_eq!(grid.width(), 4 * 600 + 150, "four panels in a row");

    let second = sweep();
    let stdout = String::from_utf8_lossy(&second.stdout).into_owned();
    assert_eq!(stdout.matches("loaded from the cache").count(), 4, "{stdout}");
    assert_eq!(std::fs::read_to_string(out_dir.join("table.md")).unwrap().replace("trained", "cache"), table.replace("trained", "cache"));

    let bad = lossviz(&["sweep", "--dataset", "mnist", "--data", data.to_str().unwrap(), "--vary", "center.lamda=1"]);
    assert_eq!(bad.status.code(), Some(1), "{}", stderr(&bad));
    assert!(stderr(&bad).contains("no setting 'lamda'"), "{}", stderr(&bad));
    assert_eq!(lossviz(&["sweep", "--dataset", "mnist"]).status.code(), Some(2));
}

#[test]
fn slurm_flags_need_slurm_and_a_missing_slurm_is_an_error_that_says_so() {
    let out = lossviz(&["sweep", "--dataset", "mnist", "--vary", "lr=0.1", "--partition", "cpu"]);
    assert_eq!(out.status.code(), Some(2), "--partition without --slurm: {}", stderr(&out));
    assert!(stderr(&out).contains("--slurm"), "{}", stderr(&out));

    let data_guard = temp_dir("slurm-data");
    let data = data_guard.path();
    write_dataset(data);
    let out = Command::new(env!("CARGO_BIN_EXE_lossviz"))
        .args(["sweep", "--dataset", "mnist", "--data", data.to_str().unwrap(), "--epochs", "1", "--vary", "lr=0.1", "--slurm"])
        .env("LOSSVIZ_RUNS", temp_dir("slurm-runs").path())
        .env("PATH", "/nonexistent")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("squeue") && stderr(&out).contains("could not start"), "{}", stderr(&out));
}
