//! lossviz against the original PyTorch lesson, on the fixtures `bench/golden.py` writes
//! into `crate/tests/golden/`: the same batch and weights must give the same logits,
//! features, loss values and gradients, and one training step of experiment 3
//! (cross-entropy + Center Loss + PC Loss) the same weights and centers, to 1e-5.
use std::path::PathBuf;

use tch::{Device, Kind, Tensor};

use super::{Experiment, TrainConfig};
use crate::losses::{CenterLoss, ClassLoss, PcLoss, PcVariant};

/// bench/golden.py's settings.
const BOUNDED_MARGIN: f64 = 1.5;
const TOLERANCE: f64 = 1e-5;

fn fixture(name: &str) -> Tensor {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests").join("golden").join(format!("{name}.npy"));
    Tensor::read_npy(&path).unwrap_or_else(|e| panic!("{}: {e} (regenerate with bench/golden.py)", path.display()))
}

/// Fails with the largest difference when `ours` is not within TOLERANCE of `want`
/// (relative to its size where that is above 1).
fn assert_close(what: &str, ours: &Tensor, want: &Tensor) {
    assert_eq!(ours.size(), want.size(), "{what}: shape");
    let ours = ours.to_kind(Kind::Double);
    let want = want.to_kind(Kind::Double);
    let allowed = want.abs().clamp_min(1.0) * TOLERANCE;
    let excess = ((&ours - &want).abs() - allowed).max().double_value(&[]);
    let worst = (&ours - &want).abs().max().double_value(&[]);
    assert!(excess <= 0.0, "{what}: differs from PyTorch by up to {worst:e}");
}

/// bench/golden.py's `fixed_weight`: parameter number `index` is
/// sin(0.7 i + index + 0.25) / sqrt(fan_in), in f64, rounded to f32.
fn fixed_weight(index: usize, shape: &[i64], fan_in: i64) -> Tensor {
    let n: i64 = shape.iter().product();
    let values: Vec<f32> = (0..n).map(|i| ((0.7 * i as f64 + index as f64 + 0.25).sin() / (fan_in as f64).sqrt()) as f32).collect();
    Tensor::from_slice(&values).view(shape)
}

/// The network's parameters in PyTorch's `named_parameters` order, with their fan-in.
const PARAMETERS: [(&str, i64); 10] = [
    ("conv1.weight", 25),
    ("conv1.bias", 25),
    ("conv2.weight", 32 * 25),
    ("conv2.bias", 32 * 25),
    ("conv3.weight", 64 * 25),
    ("conv3.bias", 64 * 25),
    ("fc1.weight", 128),
    ("fc1.bias", 128),
    ("fc2.weight", 2),
    ("fc2.bias", 2),
];

/// Experiment 3 at the original's settings, with the fixture's weights and centers.
fn experiment() -> Experiment {
    let mut e = Experiment::new(TrainConfig::default().with_center_and_pc(), Device::Cpu).unwrap();
    let variables = e.store.variables();
    tch::no_grad(|| {
        for (index, (name, fan_in)) in PARAMETERS.iter().enumerate() {
            let mut var = variables[*name].shallow_clone();
            var.copy_(&fixed_weight(index, &var.size(), *fan_in));
        }
        for (aux, start) in e.losses.iter_mut().zip(["center0", "pc0"]) {
            let mut centers = aux.loss.centers().shallow_clone();
            centers.copy_(&fixture(start));
        }
    });
    e
}

#[test]
fn forward_matches_pytorch() {
    let e = experiment();
    let (logits, features) = e.model.forward(&fixture("x")).unwrap();
    assert_close("logits", &logits, &fixture("logits"));
    assert_close("features", &features, &fixture("features"));
}

#[test]
fn each_loss_and_its_gradients_match_pytorch() {
    let features = fixture("features");
    let y = fixture("y");
    type MakeLoss = fn(Tensor) -> Box<dyn ClassLoss>;
    let cases: [(&str, &str, MakeLoss); 3] = [
        ("center", "center0", |c| Box::new(CenterLoss { centers: c })),
        ("pc", "pc0", |c| Box::new(PcLoss { centers: c, variant: PcVariant::Original })),
        ("pc_bounded", "pc0", |c| Box::new(PcLoss { centers: c, variant: PcVariant::Bounded { margin: BOUNDED_MARGIN } })),
    ];
    for (name, centers, make) in cases {
        let x = features.detach().set_requires_grad(true);
        let c = fixture(centers).set_requires_grad(true);
        let value = make(c.shallow_clone()).forward(&x, &y).unwrap();
        value.backward();
        assert_close(&format!("{name} loss"), &value, &fixture(&format!("loss_{name}")));
        assert_close(&format!("{name}: d/dfeatures"), &x.grad(), &fixture(&format!("dfeat_{name}")));
        assert_close(&format!("{name}: d/dcenters"), &c.grad(), &fixture(&format!("dcent_{name}")));
    }
}

#[test]
fn one_training_step_matches_pytorch() {
    let mut e = experiment();
    let before = e.store.variables();
    let before: Vec<(String, Tensor)> = PARAMETERS.iter().map(|(n, _)| (n.to_string(), before[*n].detach().copy())).collect();
    let y = fixture("y");
    let sums = e.step(&fixture("x"), &y, (0, 0)).unwrap();
    let batch = y.size()[0] as f64;
    let total = sums.double_value(&[super::TOTAL as i64]) / batch;
    assert_close("total loss", &Tensor::from(total), &fixture("loss_total"));
    assert_close("cross-entropy", &Tensor::from(sums.double_value(&[super::XENT as i64]) / batch), &fixture("loss_xent"));

    let after = e.store.variables();
    for (name, old) in &before {
        let var = &after[name.as_str()];
        assert_close(&format!("gradient of {name}"), &var.grad(), &fixture(&format!("grad.{name}")));
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden").join(format!("step.{name}.npy"));
        // The first SGD step with momentum moves by lr times the gradient.
        let want = if path.exists() { fixture(&format!("step.{name}")) } else { old - fixture(&format!("grad.{name}")) * e.config.lr };
        assert_close(&format!("{name} after one step"), var, &want);
    }
    for (aux, name) in e.losses.iter().zip(["center", "pc"]) {
        assert_close(&format!("{name} centers after one step"), aux.loss.centers(), &fixture(&format!("step.{name}")));
    }
}
