//! `lossviz`: the helper crate of the lesson "what changing the loss function does to the
//! learned features". A small CNN with a 2-D bottleneck is trained with cross-entropy,
//! then with Center Loss added, then with PC Loss added, and the 2-D features are drawn.
//!
//! In a notebook, `use lossviz::prelude::*;` brings in everything the lesson uses,
//! including `tch` itself (as `lossviz::tch`), so one `:dep` is enough.
pub mod cache;
mod checks;
pub mod data;
pub mod device;
pub mod error;
pub mod features;
pub mod fs;
pub(crate) mod language;
pub mod lesson;
pub mod losses;
pub mod metrics;
pub mod model;
pub mod plot;
pub mod report;
mod rng;
pub mod sweep;
pub mod training;

pub use tch;

pub mod prelude {
    pub use crate::cache::{record_or_load, train_or_load};
    pub use crate::data::{Dataset, DatasetKind, Split};
    pub use crate::device::{default_device, describe, describe_precision};
    pub use crate::error::{Error, Result};
    pub use crate::features::{Centers, Classifier, Features};
    pub use crate::lesson::LessonParams;
    pub use crate::losses::{hand_example, CenterLoss, ClassLoss, ContrastiveCenterLoss, CosFaceLoss, OwnLoss, PcLoss, PcVariant};
    pub use crate::metrics::{feature_metrics, FeatureMetrics};
    pub use crate::model::{Cnn, ModelConfig};
    pub use crate::own_loss;
    pub use crate::plot::{
        animation, curves, projections, scatter, scatter_grid, set_figure_language, Animation, Figure, Language, Normalize, Style,
    };
    pub use crate::sweep::{grid, Axis, SlurmOptions, Sweep, SweepResult};
    pub use crate::training::{
        print_progress, CenterConfig, ContrastiveCenterConfig, CosFaceConfig, EpochStats, Evaluation, Experiment, OptimizerKind, PcConfig,
        Precision, Progress, Snapshot, StepStats, TrainConfig,
    };
    pub use tch::{self, Device, Kind, Tensor};
}
