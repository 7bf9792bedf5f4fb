//! Micro-benchmarks of the pieces a student waits on: `cargo bench -p lossviz-bench`.
//! Results and what changed because of them are in BENCHMARKS.md.
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use lossviz::data::{load_split, locate, DatasetKind, Split};
use lossviz::features::{Centers, Classifier, Features};
use lossviz::losses::{CenterLoss, ClassLoss, PcLoss, PcVariant};
use lossviz::plot::{scatter, Normalize};
use lossviz::tch::{nn, Device, Kind, Tensor};
use lossviz::training::{Experiment, Precision, TrainConfig};

fn training_step(c: &mut Criterion) {
    let batch = Split {
        images: Tensor::rand([100, 1, 28, 28], (Kind::Float, Device::Cpu)),
        labels: Tensor::arange(100, (Kind::Int64, Device::Cpu)).remainder(10),
    };
    let mut group = c.benchmark_group("training step, batch 100");
    let bf16 = TrainConfig { precision: Precision::Bf16, ..TrainConfig::default() };
    let runs = [
        ("xent", TrainConfig::default()),
        ("xent+center+pc", TrainConfig::default().with_center_and_pc()),
        ("xent, bf16 mixed precision", bf16),
    ];
    for (name, config) in runs {
        let mut experiment = Experiment::new(config, Device::Cpu).unwrap();
        // One epoch over 100 samples at batch 100 is one step.
        group.bench_function(name, |b| {
            b.iter(|| experiment.train_with(&batch, lossviz::training::Epochs(1, |_: lossviz::training::Progress| {})).unwrap())
        });
    }
}

/// The network alone (batch 100) and all of `evaluate` (1,000 images), in fp32 and bf16: the
/// difference is what evaluation spends outside the forward pass.
fn evaluation(c: &mut Criterion) {
    let test = Split {
        images: Tensor::rand([1000, 1, 28, 28], (Kind::Float, Device::Cpu)),
        labels: Tensor::arange(1000, (Kind::Int64, Device::Cpu)).remainder(10),
    };
    let mut experiment = Experiment::new(TrainConfig::default(), Device::Cpu).unwrap();
    let mut group = c.benchmark_group("evaluation");
    let x = test.images.narrow(0, 0, 100);
    group.bench_function("forward fp32, batch 100", |b| b.iter(|| lossviz::tch::no_grad(|| experiment.model().forward(&x).unwrap())));
    for (name, precision) in [("evaluate fp32, 1000 images", Precision::Fp32), ("evaluate bf16, 1000 images", Precision::Bf16)] {
        experiment.set_inference(precision);
        group.bench_function(name, |b| b.iter(|| experiment.evaluate(&test).unwrap()));
    }
}

fn losses(c: &mut Criterion) {
    let mut group = c.benchmark_group("loss forward+backward");
    for batch in [100i64, 1000] {
        let store = nn::VarStore::new(Device::Cpu);
        let center = CenterLoss::new(&(store.root() / "center"), 10, 2);
        let pc = PcLoss::new(&(store.root() / "pc"), 10, 2, PcVariant::Original);
        let x = Tensor::randn([batch, 2], (Kind::Float, Device::Cpu)).set_requires_grad(true);
        let y = Tensor::arange(batch, (Kind::Int64, Device::Cpu)).remainder(10);
        let losses: [(&str, &dyn ClassLoss); 2] = [("center", &center), ("pc", &pc)];
        for (name, loss) in losses {
            group.bench_with_input(BenchmarkId::new(name, batch), &batch, |b, _| b.iter(|| loss.forward(&x, &y).unwrap().backward()));
        }
    }
}

fn scatter_png(c: &mut Criterion) {
    let n = 10_000;
    let values: Vec<f32> = (0..2 * n).map(|i| ((i * 7919) % 1000) as f32 / 100.0).collect();
    let features = Features::new(2, values, (0..n).map(|i| (i % 10) as u8).collect()).unwrap();
    let names = DatasetKind::FashionMnist.class_names();
    c.bench_function("scatter PNG, 10k points", |b| b.iter(|| scatter(&features, &names, "bench", Normalize::PerAxis).unwrap()));
    // The same with fc2's decision regions under the points and ten centers over them.
    let mut decorated = features.clone();
    let weight: Vec<f32> = (0..10).flat_map(|k| [(k as f32 * 0.63).cos(), (k as f32 * 0.63).sin()]).collect();
    decorated.classifier = Some(Classifier::new(2, weight, vec![0.0; 10]).unwrap());
    decorated.centers = vec![Centers { loss: "Center Loss".into(), values: (0..20).map(|i| (i % 10) as f32).collect(), marker: None }];
    let style = Normalize::EqualAspect.regions(true).centers(true);
    c.bench_function("scatter PNG, 10k points, regions and centers", |b| b.iter(|| scatter(&decorated, &names, "bench", style).unwrap()));
}

fn idx_loading(c: &mut Criterion) {
    let Ok(dir) = locate(DatasetKind::FashionMnist, None) else {
        eprintln!("Fashion-MNIST not found; skipping the IDX loading benchmark");
        return;
    };
    let file = |base: &str| lossviz::data::find_file(&dir, base).unwrap();
    let (images, labels) = (file("train-images-idx3-ubyte"), file("train-labels-idx1-ubyte"));
    let mut group = c.benchmark_group("IDX loading");
    group.sample_size(10);
    group.bench_function("60k training images (gzip)", |b| b.iter(|| load_split(&images, &labels, None).unwrap()));
}

criterion_group!(benches, training_step, evaluation, losses, scatter_png, idx_loading);
criterion_main!(benches);
