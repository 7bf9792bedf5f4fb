use super::*;
use crate::metrics::feature_metrics;

/// Ten classes, each a bright 6x6 square at its own place on faint noise, every image
/// scaled by a random brightness in [0.1, 1]. Cross-entropy can separate the classes by
/// direction alone, so its features spread along rays with the brightness; pulling them
/// to their centers has something to remove.
pub(crate) fn synthetic(n: usize, seed: i64) -> Split {
    // Tests run at once and libtorch's generator is global: without the lock another test's
    // draws could land between these, and the data (so the runs) would differ from run to run.
    let _rng = lock_global_rng();
    tch::manual_seed(seed);
    let labels = Tensor::arange(n as i64, (Kind::Int64, Device::Cpu)).remainder(10);
    let images = Tensor::rand([n as i64, 1, 28, 28], (Kind::Float, Device::Cpu)) * 0.2;
    for i in 0..n as i64 {
        let k = i % 10;
        let (r, c) = (2 + 8 * (k / 4), 2 + 6 * (k % 4));
        let _ = images.get(i).narrow(1, r, 6).narrow(2, c, 6).fill_(1.0);
    }
    let brightness = Tensor::rand([n as i64, 1, 1, 1], (Kind::Float, Device::Cpu)) * 0.9 + 0.1;
    Split { images: images * brightness, labels }
}

/// One short epoch in batches of 20, reporting every step: the settings of the cache's and the
/// sweeps' tests.
pub(crate) fn quick_config() -> TrainConfig {
    TrainConfig { epochs: 1, batch_size: 20, lr: 0.01, log_every: 1, ..TrainConfig::default() }
}

fn quick(config: TrainConfig) -> TrainConfig {
    TrainConfig { epochs: 3, batch_size: 20, lr: 0.05, log_every: 5, ..config }
}

#[test]
fn centers_move_and_center_loss_tightens_the_classes() {
    let data = synthetic(300, 1);
    let config = TrainConfig { epochs: 15, batch_size: 20, lr: 0.05, log_every: 5, ..TrainConfig::default() };
    let mut xent = Experiment::new(config.clone(), Device::Cpu).unwrap();
    xent.train(&data, |_| {}).unwrap();
    let mut center = Experiment::new(config.with_center(), Device::Cpu).unwrap();
    let before = center.center_loss_centers().unwrap();
    center.train(&data, |_| {}).unwrap();
    let after = center.center_loss_centers().unwrap();
    let moved = (&after - &before).abs().max().double_value(&[]);
    assert!(moved > 0.05, "the centers moved only {moved}");

    // scatter_ratio is scale-free, so shrinking the whole space does not count as tighter.
    let metrics = |e: &Experiment| feature_metrics(&e.features(&data).unwrap());
    let (m_xent, m_center) = (metrics(&xent), metrics(&center));
    assert!(
        m_center.scatter_ratio < 0.7 * m_xent.scatter_ratio,
        "scatter ratio with center loss {} vs cross-entropy {}",
        m_center.scatter_ratio,
        m_xent.scatter_ratio
    );
    assert!(m_center.nearest_mean_accuracy > m_xent.nearest_mean_accuracy + 5.0, "{m_center:?} vs {m_xent:?}");
}

#[test]
fn same_seed_same_run_on_cpu() {
    let data = synthetic(120, 2);
    let run = || {
        let mut e = Experiment::new(quick(TrainConfig::default().with_center_and_pc()), Device::Cpu).unwrap();
        let h = e.train(&data, |_| {}).unwrap();
        (h.iter().map(|s| (s.loss, s.train_accuracy)).collect::<Vec<_>>(), e.features(&data).unwrap())
    };
    assert_eq!(run(), run());
}

#[test]
fn evaluation_counts_every_sample_once() {
    let data = synthetic(2345, 3);
    let e = Experiment::new(TrainConfig::default(), Device::Cpu).unwrap();
    let eval = e.evaluate(&data).unwrap();
    assert_eq!(eval.samples, 2345);
    let (logits, _) = tch::no_grad(|| e.model.forward(&data.images)).unwrap();
    let correct = logits.argmax(1, false).eq_tensor(&data.labels).sum(Kind::Int64).int64_value(&[]);
    assert!((eval.accuracy - 100.0 * correct as f64 / 2345.0).abs() < 1e-9);
    let mean_loss = logits.cross_entropy_for_logits(&data.labels).double_value(&[]);
    assert!((eval.loss - mean_loss).abs() < 1e-4, "{} vs {mean_loss}", eval.loss);
}

#[test]
fn progress_reports_steps_and_epochs() {
    let data = synthetic(100, 4);
    let mut e = Experiment::new(TrainConfig { epochs: 2, batch_size: 10, log_every: 4, ..TrainConfig::default() }, Device::Cpu).unwrap();
    let mut seen = Vec::new();
    e.train(&data, |p| {
        seen.push(match p {
            Progress::Step { epoch, so_far, seconds_left } => {
                assert!(seconds_left.is_finite() && seconds_left >= 0.0, "{seconds_left}");
                if (epoch, so_far.step) == (1, 10) {
                    assert_eq!(seconds_left, 0.0, "nothing is left after the last step");
                }
                format!("{epoch}:{}", so_far.step)
            }
            Progress::Epoch(s) => format!("end{}", s.epoch),
            Progress::Note(line) => line.to_string(),
        })
    })
    .unwrap();
    assert_eq!(seen, ["0:4", "0:8", "0:10", "end0", "1:4", "1:8", "1:10", "end1"]);
    assert_eq!(e.history.len(), 2);

    // Each term on its own, as the original printed them: total = xent + center - 1e-4 pc.
    let mut e = Experiment::new(
        TrainConfig { epochs: 1, batch_size: 10, log_every: 5, ..TrainConfig::default().with_center_and_pc() },
        Device::Cpu,
    )
    .unwrap();
    let mut steps = Vec::new();
    e.train(&data, |p| {
        if let Progress::Step { so_far: s, .. } = p {
            assert_eq!(s.terms.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(), ["center", "pc"], "in the config's order");
            steps.push((s.loss, s.xent, term(&s.terms, "center"), term(&s.terms, "pc")));
        }
    })
    .unwrap();
    assert_eq!(steps.len(), 2);
    for (loss, xent, center, pc) in steps {
        assert!(xent > 0.0 && center > 0.0 && pc > 0.0, "{xent} {center} {pc}");
        assert!((loss - (xent + center - 1e-4 * pc)).abs() < 1e-6 * loss.abs().max(1.0), "{loss} vs {xent} + {center} - 1e-4 {pc}");
    }
}

#[test]
fn a_diverging_run_stops_and_names_the_setting_to_lower() {
    let data = synthetic(100, 5);
    let config = TrainConfig { epochs: 3, batch_size: 10, log_every: 1, lr: 1e6, ..TrainConfig::default().with_center() };
    let mut e = Experiment::new(config, Device::Cpu).unwrap();
    let err = e.train(&data, |_| {}).unwrap_err();
    // Counted as the progress lines count: the first epoch is 1, its first step 1.
    assert!(matches!(err, Error::Diverged { epoch: 1, step: 1.., .. }), "{err}");
    let msg = err.to_string();
    assert!(msg.contains("epoch 1") && msg.contains("lr (now 1000000)") && msg.contains("center.lr"), "{msg}");
}

#[test]
fn invalid_config_is_refused_before_training() {
    let err = Experiment::new(TrainConfig { batch_size: 0, ..TrainConfig::default() }, Device::Cpu).err().unwrap();
    assert!(err.to_string().contains("batch_size = 0"));
}

#[test]
fn every_optimiser_and_added_loss_trains_and_reports_its_term() {
    let data = synthetic(200, 3);
    let variants = [
        TrainConfig {
            optimizer: OptimizerKind::Adam,
            center_optimizer: OptimizerKind::Adam,
            ..quick(TrainConfig::default().with_center())
        },
        quick(TrainConfig::default()).with(ContrastiveCenterConfig::default()),
        // At quick()'s lr 0.05 this one blows up (cross-entropy in the thousands, and on some
        // data in the millions), which says nothing about whether it trains.
        TrainConfig { lr: 0.01, ..quick(TrainConfig::default()) }.with(CosFaceConfig::default()),
    ];
    for config in variants {
        let mut e = Experiment::new(config.clone(), Device::Cpu).unwrap();
        let h = e.train(&data, |_| {}).unwrap();
        let (first, last) = (&h[0], &h[h.len() - 1]);
        assert!(last.xent < first.xent, "{config:?}: cross-entropy {} -> {}", first.xent, last.xent);
        // The one added loss of each config, reported under its path.
        let path = config.added_losses()[0].path();
        let value = term(&last.terms, path);
        assert!(value > 0.0 && value.is_finite(), "{config:?}: {last:?}");
    }
}

#[test]
fn training_in_pieces_equals_training_at_once_and_records_each_epoch() {
    let data = synthetic(100, 4);
    let config = TrainConfig { epochs: 3, ..quick(TrainConfig::default().with_center()) };
    let mut whole = Experiment::new(config.clone(), Device::Cpu).unwrap();
    whole.train(&data, |_| {}).unwrap();
    let mut pieces = Experiment::new(config, Device::Cpu).unwrap();
    let probe = data.first(30);
    let mut record = Record::new(&probe, |_: Progress| {});
    for _ in 0..3 {
        pieces.train_with(&data, Epochs(1, |_: Progress| {})).unwrap();
    }
    let mut recorded = Experiment::new(pieces.config.clone(), Device::Cpu).unwrap();
    recorded.train_with(&data, &mut record).unwrap();
    let snapshots = record.frames;
    assert_eq!(snapshots.iter().map(|s| (s.epoch, s.features.len())).collect::<Vec<_>>(), vec![(0, 30), (1, 30), (2, 30)]);
    let losses = |e: &Experiment| e.history.iter().map(|s| s.loss).collect::<Vec<_>>();
    assert_eq!(losses(&whole), losses(&pieces));
    assert_eq!(losses(&whole), losses(&recorded));
    assert_eq!(whole.features(&data).unwrap(), pieces.features(&data).unwrap());
    assert_ne!(snapshots[0].features, snapshots[2].features, "the features moved");
}

#[test]
fn bf16_inference_is_close_to_fp32_and_leaves_training_alone() {
    let data = synthetic(200, 5);
    let mut e = Experiment::new(quick(TrainConfig::default()), Device::Cpu).unwrap();
    e.train(&data, |_| {}).unwrap();
    let (fp32, acc32) = (e.features(&data).unwrap(), e.evaluate(&data).unwrap().accuracy);
    e.inference = Precision::Bf16;
    let (bf16, acc16) = (e.features(&data).unwrap(), e.evaluate(&data).unwrap().accuracy);
    let scale = fp32.values.iter().fold(0f32, |m, v| m.max(v.abs()));
    let worst = fp32.values.iter().zip(&bf16.values).fold(0f32, |m, (a, b)| m.max((a - b).abs()));
    assert!(worst > 0.0, "bf16 changed nothing: was it used?");
    assert!(worst < 0.05 * scale, "bf16 features differ by {worst} at scale {scale}");
    assert!((acc32 - acc16).abs() <= 5.0, "accuracy {acc32} vs {acc16}");
    assert!(e.store.variables().values().all(|v| v.kind() == Kind::Float), "training weights stay fp32");
}

#[test]
fn bf16_training_computes_the_convolutions_in_bf16_and_learns_like_fp32() {
    let data = synthetic(300, 7);
    let train = |precision: Precision| {
        let config = TrainConfig { epochs: 10, precision, ..quick(TrainConfig::default().with_center()) };
        let mut e = Experiment::new(config, Device::Cpu).unwrap();
        let before = e.model.forward_in(&data.first(20).images, precision).unwrap().1;
        e.train(&data, |_| {}).unwrap();
        (e, before)
    };
    let ((fp32, before32), (bf16, before16)) = (train(Precision::Fp32), train(Precision::Bf16));
    // Same seed, same weights: the first forward differs only by bfloat16's rounding.
    let diff = (&before32 - &before16).abs().max().double_value(&[]);
    let scale = before32.abs().max().double_value(&[]);
    assert!(diff > 0.0, "bf16 changed nothing: were the convolutions cast?");
    assert!(diff < 0.05 * scale, "first forward differs by {diff} at scale {scale}");
    assert!(bf16.store.variables().values().all(|v| v.kind() == Kind::Float), "the weights stay fp32");
    // The two runs follow one loss curve (within about 2 % per epoch here; SGD's noise at
    // this batch size pulls them apart after about ten epochs), and it goes down.
    let losses = |e: &Experiment| e.history.iter().map(|h| h.loss).collect::<Vec<_>>();
    let (l32, l16) = (losses(&fp32), losses(&bf16));
    let apart = l32.iter().zip(&l16).map(|(a, b)| (a - b).abs() / a).fold(0.0, f64::max);
    assert!(apart < 0.1, "loss per epoch, fp32 {l32:?} vs bf16 {l16:?}");
    assert!(l16[l16.len() - 1] < 0.7 * l16[0], "bf16 did not learn: {l16:?}");
    // Evaluation follows `inference`, not the training precision: fp32 unless asked.
    let mut bf16 = bf16;
    let fp32_eval = bf16.features(&data).unwrap();
    bf16.inference = Precision::Bf16;
    let bf16_eval = bf16.features(&data).unwrap();
    assert_ne!(fp32_eval.values, bf16_eval.values, "inference = Bf16 changed nothing");
    let reference = bf16.model.forward(&data.images).unwrap().1;
    assert_eq!(fp32_eval.values, Vec::<f32>::try_from(&reference.flatten(0, -1)).unwrap(), "fp32 evaluation of a bf16-trained run");
}

/// `RESULTS_VERSION` and what the reference run gave at it: per epoch, the training
/// cross-entropy, Center Loss and PC Loss. Append a row when training's numbers change on
/// purpose; never edit an old one.
const REFERENCE_RUNS: [(u32, [[f64; 3]; 2]); 1] = [(1, [[2.38437, 0.87881, 3.61912], [2.34426, 0.10690, 3.93538]])];

#[test]
fn results_version_matches_the_reference_run() {
    let data = synthetic(200, 9);
    let config = TrainConfig { epochs: 2, batch_size: 20, lr: 0.05, log_every: 5, ..TrainConfig::default().with_center_and_pc() };
    let mut e = Experiment::new(config, Device::Cpu).unwrap();
    let got: Vec<[f64; 3]> =
        e.train(&data, |_| {}).unwrap().iter().map(|s| [s.xent, term(&s.terms, "center"), term(&s.terms, "pc")]).collect();
    let (version, want) = REFERENCE_RUNS[REFERENCE_RUNS.len() - 1];
    assert_eq!(version, RESULTS_VERSION, "the last reference row is for RESULTS_VERSION {version}");
    // 1 % allows for other CPUs' summation order; a change to training moves these by more.
    let close = got.iter().zip(&want).all(|(g, w)| g.iter().zip(w).all(|(a, b)| (a - b).abs() <= 0.01 * b.abs().max(1e-3)));
    assert!(
        close,
        "training's numbers changed: the reference run gave {got:?}, recorded for RESULTS_VERSION {version}: {want:?}. \
         If the change is meant, bump RESULTS_VERSION (cached runs are then trained again) and append a row here."
    );
}

#[test]
fn centers_at_learning_rate_zero_stay_bit_identical_as_in_the_original() {
    let data = synthetic(100, 4);
    let trained = |center_lr: f64, pc_lr: f64| {
        let config = quick(TrainConfig::default())
            .with(CenterConfig { lambda: 1.0, lr: center_lr })
            .with(PcConfig { lr: pc_lr, ..Default::default() });
        let mut e = Experiment::new(config, Device::Cpu).unwrap();
        let before = e.features(&data).unwrap().centers;
        e.train(&data, |_| {}).unwrap();
        (before, e.features(&data).unwrap().centers)
    };
    let (before, after) = trained(0.0, 0.0);
    assert_eq!(before.len(), 2);
    for (b, a) in before.iter().zip(&after) {
        assert_eq!(b.values, a.values, "{} centers moved at lr 0", b.loss);
    }
    // The same comparison sees centers that do move.
    let (before, after) = trained(0.5, 0.01);
    for (b, a) in before.iter().zip(&after) {
        assert_ne!(b.values, a.values, "{} centers did not move at lr > 0", b.loss);
    }
}

#[test]
fn with_the_network_standing_still_the_centers_settle_on_the_class_means() {
    // Training leaves the Center Loss centers off the class means (the lesson measures 0.1-0.3
    // on MNIST); this shows the offset is the centers trailing a moving network, not a bias
    // of their update: with the network held still (lr 1e-12) the same update carries them
    // onto the training features' class means. lambda 0.5 checks that the 1/lambda rescaling
    // keeps their speed.
    let data = synthetic(200, 5);
    let config = TrainConfig { epochs: 3, batch_size: 20, lr: 0.05, log_every: 5, ..TrainConfig::default() };
    let config = config.with(CenterConfig { lambda: 0.5, lr: 0.5 });
    let mut moving = Experiment::new(config.clone(), Device::Cpu).unwrap();
    moving.train(&data, |_| {}).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let weights = dir.path().join("weights.ot");
    std::fs::write(&weights, moving.weights_bytes().unwrap()).unwrap();

    let offset = |e: &Experiment| {
        let f = e.features(&data).unwrap();
        let centers = &f.centers[0].values;
        let mut worst = 0f64;
        for k in 0..10u8 {
            let members: Vec<usize> = (0..f.len()).filter(|&i| f.labels[i] == k).collect();
            let mean = |d: usize| members.iter().map(|&i| f.point(i)[d] as f64).sum::<f64>() / members.len() as f64;
            let gap = ((centers[2 * k as usize] as f64 - mean(0)).powi(2) + (centers[2 * k as usize + 1] as f64 - mean(1)).powi(2)).sqrt();
            worst = worst.max(gap);
        }
        worst
    };
    let before = offset(&moving);
    let mut still = Experiment::new(TrainConfig { lr: 1e-12, epochs: 6, ..config }, Device::Cpu).unwrap();
    still.load_weights(&weights).unwrap();
    assert_eq!(offset(&still), before);
    still.train(&data, |_| {}).unwrap();
    let after = offset(&still);
    assert!(before > 1e-3, "the centers started on the means already ({before}); nothing to show");
    assert!(after < 0.02 * before, "centers still {after} off the class means (were {before})");
}

#[test]
fn a_notebook_loss_that_fails_in_training_is_named_with_its_epoch_and_step() {
    let data = synthetic(60, 6);
    let mine = crate::own_loss!("my_failing_test", |x: &Tensor, _: &Tensor, _: &Tensor| x.sum_dim_intlist(1, false, Kind::Float)).unwrap();
    let mut e = Experiment::new(quick(TrainConfig::default()).with(mine.settings(1.0, 0.5)), Device::Cpu).unwrap();
    let err = e.train(&data, |_| {}).unwrap_err().to_string();
    assert!(err.starts_with("the loss my_failing_test failed in epoch 1, step 1:") && err.contains("one number"), "{err}");
}

#[test]
fn a_notebook_center_loss_trains_exactly_as_the_crates() {
    // The lesson's "Write it yourself" cell, line for line: same formula, same order of
    // operations, so the same numbers, step after step.
    let mine = crate::own_loss!("my_center_lesson_test", |x: &Tensor, labels: &Tensor, centers: &Tensor| {
        let batch_size = x.size()[0];
        let num_classes = centers.size()[0];
        let distmat = x.pow_tensor_scalar(2).sum_dim_intlist(1, true, x.kind()).expand([batch_size, num_classes], false)
            + centers.pow_tensor_scalar(2).sum_dim_intlist(1, true, x.kind()).expand([num_classes, batch_size], false).tr();
        let distmat = distmat - x.matmul(&centers.tr()) * 2.0;
        let classes = Tensor::arange(num_classes, (Kind::Int64, x.device()));
        let labels = labels.unsqueeze(1).expand([batch_size, num_classes], false);
        let mask = labels.eq_tensor(&classes.expand([batch_size, num_classes], false));
        let dist = distmat * mask.to_kind(x.kind());
        dist.clamp(1e-12, 1e12).sum(x.kind()) / batch_size as f64
    })
    .unwrap();
    let data = synthetic(100, 7);
    let config = quick(TrainConfig::default());
    let mut crates = Experiment::new(config.clone().with_center(), Device::Cpu).unwrap();
    let mut own = Experiment::new(config.with(mine.settings(1.0, 0.5)), Device::Cpu).unwrap();
    let numbers = |h: Vec<EpochStats>| h.iter().map(|s| (s.loss, s.xent, s.terms[0].1, s.train_accuracy)).collect::<Vec<_>>();
    assert_eq!(numbers(crates.train(&data, |_| {}).unwrap()), numbers(own.train(&data, |_| {}).unwrap()));
    let (a, b) = (crates.features(&data).unwrap(), own.features(&data).unwrap());
    assert_eq!(a.values, b.values);
    assert_eq!(a.centers[0].values, b.centers[0].values);
}
