//! The notebooks' parameters. They default to the original's (MNIST, 20 epochs, all
//! samples) and can be overridden from the environment, so tests run the same notebook
//! in minutes: `LOSSVIZ_DATASET`, `LOSSVIZ_EPOCHS`, `LOSSVIZ_LIMIT`, `LOSSVIZ_DATA`, and a
//! lecturer can switch a class to bf16 training: `LOSSVIZ_PRECISION`.
use std::path::PathBuf;

use crate::data::{Dataset, DatasetKind};
use crate::error::{Error, Result};
use crate::language::Language;
use crate::model::Precision;

/// The runs the discussion cells quote: the original's settings on all of MNIST, and the
/// quick mode's [`QUICK_EPOCHS`].
const DISCUSSED_EPOCHS: usize = 20;
const MNIST_TRAIN: usize = 60_000;
/// The lesson's quick mode: epochs on every image (see [`LessonParams::for_lesson`]).
pub const QUICK_EPOCHS: usize = 10;
/// The exercise's quick mode: epochs on every image (see [`LessonParams::for_exercise`]).
const EXERCISE_QUICK_EPOCHS: usize = 3;

#[derive(Debug, Clone, PartialEq)]
pub struct LessonParams {
    pub dataset: DatasetKind,
    pub epochs: usize,
    /// Keep only the first N samples of each split.
    pub limit: Option<usize>,
    pub data_dir: Option<PathBuf>,
    /// Whether `LOSSVIZ_DATASET` chose the dataset (then no fallback happens).
    pub dataset_from_env: bool,
    /// Training's precision for the notebook's configs (fp32 unless `LOSSVIZ_PRECISION`).
    pub precision: Precision,
}

impl LessonParams {
    pub fn from_env() -> Result<Self> {
        Self::from_lookup(|k| std::env::var(k).ok(), DISCUSSED_EPOCHS, None)
    }

    /// The lesson's settings: the original's (MNIST, 20 epochs, every image), or with
    /// `quick`, [`QUICK_EPOCHS`] epochs on every image, chosen by measurement so that the
    /// three pictures already show what the full run shows (README, "What the runs show").
    /// The environment overrides either.
    pub fn for_lesson(quick: bool) -> Result<Self> {
        let epochs = if quick { QUICK_EPOCHS } else { DISCUSSED_EPOCHS };
        Self::from_lookup(|k| std::env::var(k).ok(), epochs, None)
    }

    /// One line, in the figures' language, saying which of the two values the discussion
    /// (考察) cells give for each number (the quick mode's and the original settings') this
    /// run should be compared with, or how it differs from both.
    pub fn discussion_note(&self, data: &Dataset) -> String {
        self.note_in(crate::language::language(), data)
    }

    fn note_in(&self, language: Language, data: &Dataset) -> String {
        let ja = language == Language::Japanese;
        let mut differences = Vec::new();
        if data.kind != DatasetKind::Mnist {
            differences.push(if ja { format!("MNIST ではなく {}", data.kind) } else { format!("{} instead of MNIST", data.kind) });
        }
        if self.epochs != DISCUSSED_EPOCHS && self.epochs != QUICK_EPOCHS {
            differences.push(if ja {
                format!("{} エポック（考察は {QUICK_EPOCHS} と {DISCUSSED_EPOCHS}）", self.epochs)
            } else {
                format!("{} epochs instead of {QUICK_EPOCHS} or {DISCUSSED_EPOCHS}", self.epochs)
            });
        }
        if data.kind == DatasetKind::Mnist && data.train.len() != MNIST_TRAIN {
            differences.push(if ja {
                format!("学習画像 {} 枚（考察は {MNIST_TRAIN} 枚）", data.train.len())
            } else {
                format!("{} training images instead of {MNIST_TRAIN}", data.train.len())
            });
        }
        let quick = self.epochs == QUICK_EPOCHS;
        match (differences.is_empty(), ja) {
            (false, true) => format!(
                "注意: この実行は考察で引用している実行と条件が違います（{}）．数値や図は考察と同じにはなりません．",
                differences.join("，")
            ),
            (false, false) => format!(
                "Note: this run differs from the ones the discussion cells quote ({}), so your numbers and pictures will differ from theirs.",
                differences.join(", ")
            ),
            (true, true) => format!(
                "考察の数値は「短縮版（{QUICK_EPOCHS}エポック）／元の設定（{DISCUSSED_EPOCHS}エポック）」の順に2つ並べてあります．この実行は{}なので，{}の値と比べてください．",
                if quick { "短縮版" } else { "元の設定" },
                if quick { "前" } else { "後ろ" }
            ),
            (true, false) => format!(
                "The discussion cells give each number twice, \"quick ({QUICK_EPOCHS} epochs) / original ({DISCUSSED_EPOCHS} epochs)\". This run is the {}, so compare it with the {} value.",
                if quick { "quick mode" } else { "original settings" },
                if quick { "first" } else { "second" }
            ),
        }
    }

    /// The exercise's settings: `quick`, 3 epochs on every image; otherwise the original's (as
    /// [`LessonParams::from_env`]). `quick` means what it means in [`LessonParams::for_lesson`],
    /// so both notebooks' settings cells read alike. (The exercise's
    /// notebook raises the network's lr to 0.01 for them: from PyTorch's small initial
    /// weights the original's 0.001 needs about 2,000 steps to leave its starting plateau;
    /// README, "What the runs show".) The environment still overrides either.
    pub fn for_exercise(quick: bool) -> Result<Self> {
        if quick {
            Self::from_lookup(|k| std::env::var(k).ok(), EXERCISE_QUICK_EPOCHS, None)
        } else {
            Self::from_env()
        }
    }

    /// Loads the chosen dataset. If MNIST was only the default and is not on this machine,
    /// says so in one line and falls back to Fashion-MNIST, so the lesson still runs offline.
    pub fn load_dataset(&self) -> Result<Dataset> {
        match Dataset::load(self.dataset, self.data_dir.as_deref(), self.limit) {
            Err(Error::DataNotFound { .. }) if self.dataset == DatasetKind::Mnist && !self.dataset_from_env => {
                println!(
                    "MNIST is not on this machine, so this run uses Fashion-MNIST. To use MNIST, run \
                     ./kernel-setup.sh while online, or set LOSSVIZ_DATA to a folder of its four IDX files."
                );
                Dataset::load(DatasetKind::FashionMnist, self.data_dir.as_deref(), self.limit)
            }
            other => other,
        }
    }

    fn from_lookup(get: impl Fn(&str) -> Option<String>, epochs: usize, limit: Option<usize>) -> Result<Self> {
        let number = |key: &str| -> Result<Option<usize>> {
            match get(key).filter(|v| !v.trim().is_empty()) {
                None => Ok(None),
                Some(v) => match v.trim().parse::<usize>() {
                    Ok(n) if n > 0 => Ok(Some(n)),
                    _ => Err(Error::setting(key, v, "expected a whole number of 1 or more")),
                },
            }
        };
        let chosen = get("LOSSVIZ_DATASET").filter(|v| !v.trim().is_empty());
        Ok(LessonParams {
            dataset_from_env: chosen.is_some(),
            dataset: match chosen {
                Some(v) => v.trim().parse().map_err(|_| Error::setting("LOSSVIZ_DATASET", &v, "expected mnist or fashion-mnist"))?,
                None => DatasetKind::Mnist,
            },
            epochs: number("LOSSVIZ_EPOCHS")?.unwrap_or(epochs),
            limit: number("LOSSVIZ_LIMIT")?.or(limit),
            data_dir: get("LOSSVIZ_DATA").filter(|v| !v.is_empty()).map(PathBuf::from),
            precision: match get("LOSSVIZ_PRECISION").filter(|v| !v.trim().is_empty()) {
                None => Precision::Fp32,
                Some(v) => v.parse().map_err(|_| Error::setting("LOSSVIZ_PRECISION", &v, "expected fp32 or bf16"))?,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Result<LessonParams> {
        let map: std::collections::HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        LessonParams::from_lookup(|k| map.get(k).cloned(), 20, None)
    }

    #[test]
    fn defaults_are_the_originals_and_env_overrides_them() {
        let p = params(&[]).unwrap();
        assert_eq!((p.dataset, p.epochs, p.limit, p.dataset_from_env), (DatasetKind::Mnist, 20, None, false));
        let p = params(&[("LOSSVIZ_DATASET", "fashion-mnist"), ("LOSSVIZ_EPOCHS", "2"), ("LOSSVIZ_LIMIT", "500")]).unwrap();
        assert_eq!((p.dataset, p.epochs, p.limit), (DatasetKind::FashionMnist, 2, Some(500)));
        assert!(p.dataset_from_env);
        let err = params(&[("LOSSVIZ_EPOCHS", "zero")]).unwrap_err().to_string();
        assert!(err.contains("LOSSVIZ_EPOCHS = zero"), "{err}");
        let err = params(&[("LOSSVIZ_DATASET", "cifar")]).unwrap_err().to_string();
        assert!(err.contains("LOSSVIZ_DATASET = cifar"), "{err}");
        let err = params(&[("LOSSVIZ_PRECISION", "fp16")]).unwrap_err().to_string();
        assert!(err.contains("LOSSVIZ_PRECISION = fp16") && err.contains("fp32 or bf16"), "{err}");
        assert_eq!(params(&[("LOSSVIZ_PRECISION", "bf16")]).unwrap().precision, Precision::Bf16);
        assert_eq!(params(&[]).unwrap().precision, Precision::Fp32);
        let quick = LessonParams::from_lookup(|_| None, 5, Some(10_000)).unwrap();
        assert_eq!((quick.epochs, quick.limit), (5, Some(10_000)));
        let env = |k: &str| (k == "LOSSVIZ_LIMIT").then(|| "300".to_string());
        assert_eq!(LessonParams::from_lookup(env, 5, Some(10_000)).unwrap().limit, Some(300), "the environment wins");
    }

    #[test]
    fn the_note_names_every_difference_from_the_discussed_runs_or_which_value_to_read() {
        let dir = crate::data::tests::temp_dir("note");
        crate::data::tests::write_tiny_dataset(&dir.join("mnist"), 12, false);
        let tiny = Dataset::load(DatasetKind::Mnist, Some(&dir.join("mnist")), None).unwrap();
        let p = params(&[]).unwrap();
        let note = p.note_in(Language::English, &tiny);
        assert!(note.contains("12 training images instead of 60000") && !note.contains("epochs instead"), "{note}");
        let odd = LessonParams { epochs: 7, ..p.clone() };
        let fashion = Dataset { kind: DatasetKind::FashionMnist, ..tiny };
        let note = odd.note_in(Language::English, &fashion);
        assert!(note.contains("Fashion-MNIST instead of MNIST") && note.contains("7 epochs instead of 10 or 20"), "{note}");
        let note = odd.note_in(Language::Japanese, &fashion);
        assert!(note.contains("MNIST ではなく Fashion-MNIST") && note.contains("7 エポック"), "{note}");
        // On the discussed data (only its size matters here), the note says which of the two
        // values is this run's.
        let labels = |n: i64| tch::Tensor::zeros([n], (tch::Kind::Int64, tch::Device::Cpu));
        let split =
            |n: i64| crate::data::Split { images: tch::Tensor::zeros([1], (tch::Kind::Float, tch::Device::Cpu)), labels: labels(n) };
        let mnist = Dataset { kind: DatasetKind::Mnist, dir: dir.join("mnist"), train: split(60_000), test: split(10_000) };
        let with = |epochs: usize, language: Language| LessonParams { epochs, ..p.clone() }.note_in(language, &mnist);
        assert!(with(10, Language::English).contains("quick mode, so compare it with the first"), "{}", with(10, Language::English));
        assert!(with(20, Language::English).contains("original settings, so compare it with the second"));
        assert!(with(10, Language::Japanese).contains("短縮版なので，前の値"), "{}", with(10, Language::Japanese));
        assert!(with(20, Language::Japanese).contains("元の設定なので，後ろの値"));
    }

    #[test]
    fn missing_default_mnist_falls_back_but_an_explicit_choice_does_not() {
        let dir = crate::data::tests::temp_dir("fallback");
        let fashion = dir.join("fashion-mnist");
        crate::data::tests::write_tiny_dataset(&fashion, 12, true);
        let dir_s = dir.to_string_lossy().to_string();
        let p = params(&[("LOSSVIZ_DATA", &dir_s)]).unwrap();
        assert_eq!(p.load_dataset().unwrap().kind, DatasetKind::FashionMnist);
        let p = params(&[("LOSSVIZ_DATA", &dir_s), ("LOSSVIZ_DATASET", "mnist")]).unwrap();
        let err = p.load_dataset().unwrap_err().to_string();
        assert!(err.starts_with("MNIST not found"), "{err}");
    }
}
