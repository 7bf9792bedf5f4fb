//! MNIST-style datasets held in memory as two tensors per split, so a batch is one
//! `index_select` and no per-image work happens while training.
mod batches;
mod idx;
mod locate;

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use tch::{Kind, Tensor};

pub use batches::Batches;
pub use idx::{encode_idx, read_idx};
pub use locate::{cache_dir, find_file, locate, FILES};

use crate::error::{Error, Result, TorchContext};

/// The two datasets the lesson runs on. Both are 28x28 grey images in ten classes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DatasetKind {
    Mnist,
    FashionMnist,
}

impl DatasetKind {
    pub fn dir_name(self) -> &'static str {
        match self {
            DatasetKind::Mnist => "mnist",
            DatasetKind::FashionMnist => "fashion-mnist",
        }
    }

    /// Names for the legend of the plots.
    pub fn class_names(self) -> [&'static str; 10] {
        match self {
            DatasetKind::Mnist => ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"],
            DatasetKind::FashionMnist => {
                ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
            }
        }
    }
}

impl fmt::Display for DatasetKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DatasetKind::Mnist => "MNIST",
            DatasetKind::FashionMnist => "Fashion-MNIST",
        })
    }
}

impl FromStr for DatasetKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().replace('_', "-").as_str() {
            "mnist" => Ok(DatasetKind::Mnist),
            "fashion-mnist" | "fashion" | "fmnist" => Ok(DatasetKind::FashionMnist),
            _ => Err(Error::setting("dataset", s, "expected mnist or fashion-mnist")),
        }
    }
}

/// One split: images `[n, 1, 28, 28]` as f32 in [0, 1], labels `[n]` as i64.
#[derive(Debug)]
pub struct Split {
    pub images: Tensor,
    pub labels: Tensor,
}

impl Split {
    pub fn len(&self) -> usize {
        self.labels.size()[0] as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The first `n` samples (all, if there are fewer), sharing memory with this split:
    /// a smaller probe set for recording features every epoch.
    pub fn first(&self, n: usize) -> Split {
        let n = n.min(self.len()) as i64;
        Split { images: self.images.narrow(0, 0, n), labels: self.labels.narrow(0, 0, n) }
    }
}

/// A dataset loaded into memory, with where it came from.
#[derive(Debug)]
pub struct Dataset {
    pub kind: DatasetKind,
    pub dir: PathBuf,
    pub train: Split,
    pub test: Split,
}

impl Dataset {
    /// Finds and loads `kind` (see [`locate`] for where it looks). `limit` keeps only the
    /// first N samples of each split, for quick runs.
    pub fn load(kind: DatasetKind, dir: Option<&Path>, limit: Option<usize>) -> Result<Self> {
        if limit == Some(0) {
            return Err(Error::setting("limit", 0, "must be at least 1 (or unset for all samples)"));
        }
        let dir = locate(kind, dir)?;
        let file = |i: usize| locate::find_file(&dir, FILES[i]).expect("locate checked the files exist");
        let train = load_split(&file(0), &file(1), limit)?;
        let test = load_split(&file(2), &file(3), limit)?;
        Ok(Dataset { kind, dir, train, test })
    }
}

/// Loads an image file and its label file and checks they agree with each other and with
/// the ten classes the model has.
pub fn load_split(images_path: &Path, labels_path: &Path, limit: Option<usize>) -> Result<Split> {
    let images = read_idx(images_path, 3)?;
    let labels = read_idx(labels_path, 1)?;
    let (n, h, w) = (images.dims[0], images.dims[1], images.dims[2]);
    if labels.dims[0] != n {
        return Err(Error::bad_data(
            labels_path,
            format!("holds {} labels but {} holds {} images", labels.dims[0], images_path.display(), n),
        ));
    }
    if let Some(bad) = labels.data.iter().position(|&l| l >= 10) {
        return Err(Error::bad_data(labels_path, format!("label {} at index {} is not a class of 0..=9", labels.data[bad], bad)));
    }
    let keep = limit.map_or(n, |l| l.min(n));
    let pixels = &images.data[..keep * h * w];
    let images = Tensor::f_from_slice(pixels)
        .and_then(|t| t.f_view([keep as i64, 1, h as i64, w as i64]))
        .and_then(|t| t.f_to_kind(Kind::Float))
        .and_then(|t| t.f_div_scalar(255.0))
        .context("converting images to a tensor")?;
    let labels =
        Tensor::f_from_slice(&labels.data[..keep]).and_then(|t| t.f_to_kind(Kind::Int64)).context("converting labels to a tensor")?;
    Ok(Split { images, labels })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::io::Write;

    /// Writes a tiny dataset (images whose brightness encodes the label) into `dir`.
    pub fn write_tiny_dataset(dir: &Path, n: usize, gzip: bool) {
        std::fs::create_dir_all(dir).unwrap();
        let labels: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
        let images: Vec<u8> = labels.iter().flat_map(|&l| vec![l * 25; 28 * 28]).collect();
        for (base, bytes) in [
            (FILES[0], encode_idx(&[n, 28, 28], &images)),
            (FILES[1], encode_idx(&[n], &labels)),
            (FILES[2], encode_idx(&[n, 28, 28], &images)),
            (FILES[3], encode_idx(&[n], &labels)),
        ] {
            if gzip {
                let f = std::fs::File::create(dir.join(format!("{base}.gz"))).unwrap();
                let mut gz = flate2::write::GzEncoder::new(f, flate2::Compression::fast());
                gz.write_all(&bytes).unwrap();
                gz.finish().unwrap();
            } else {
                std::fs::write(dir.join(base), bytes).unwrap();
            }
        }
    }

    /// A new folder under the system's temporary folder, removed with everything in it when
    /// the value is dropped, also when the test fails. Derefs to its `Path`.
    pub struct TestDir(tempfile::TempDir);

    impl std::ops::Deref for TestDir {
        type Target = Path;
        fn deref(&self) -> &Path {
            self.0.path()
        }
    }

    /// 60 images per split written to a temporary folder and loaded back: the smallest
    /// dataset that trains through every path the cache and the sweeps take.
    pub fn tiny_dataset(name: &str) -> (Dataset, TestDir) {
        let dir = temp_dir(name);
        write_tiny_dataset(&dir.join("data"), 60, false);
        (Dataset::load(DatasetKind::Mnist, Some(&dir.join("data")), None).unwrap(), dir)
    }

    pub fn temp_dir(name: &str) -> TestDir {
        TestDir(tempfile::Builder::new().prefix(&format!("lossviz-test-{name}-")).tempdir().unwrap())
    }

    fn load_error(dir: &Path) -> String {
        Dataset::load(DatasetKind::Mnist, Some(dir), None).unwrap_err().to_string()
    }

    #[test]
    fn loads_gzipped_and_raw_files_scaled_to_unit_range() {
        for gzip in [true, false] {
            let dir = temp_dir(&format!("load-{gzip}"));
            write_tiny_dataset(&dir, 20, gzip);
            let data = Dataset::load(DatasetKind::Mnist, Some(&dir), Some(15)).unwrap();
            assert_eq!(data.train.images.size(), vec![15, 1, 28, 28]);
            assert_eq!(data.test.len(), 15);
            let max = data.train.images.max().double_value(&[]);
            assert!((max - 225.0 / 255.0).abs() < 1e-6, "max pixel {max}");
            assert_eq!(data.train.labels.int64_value(&[13]), 3);
        }
    }

    #[test]
    fn missing_folder_names_where_it_looked_and_what_to_do() {
        let dir = temp_dir("missing").join("nowhere");
        let err = load_error(&dir);
        assert!(err.contains("MNIST not found"), "{err}");
        assert!(err.contains("nowhere"), "{err}");
        assert!(err.contains("fashion-mnist"), "{err}");
    }

    #[test]
    fn corrupt_gzip_is_reported_with_its_path() {
        let dir = temp_dir("gzip");
        write_tiny_dataset(&dir, 10, true);
        let path = dir.join(format!("{}.gz", FILES[0]));
        let mut bytes = std::fs::read(&path).unwrap();
        let cut = bytes.len() / 2;
        bytes.truncate(cut);
        std::fs::write(&path, bytes).unwrap();
        let err = load_error(&dir);
        assert!(err.contains("corrupt gzip") && err.contains(FILES[0]), "{err}");
    }

    #[test]
    fn truncated_raw_file_is_reported() {
        let dir = temp_dir("truncated");
        write_tiny_dataset(&dir, 10, false);
        let path = dir.join(FILES[2]);
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 100]).unwrap();
        let err = load_error(&dir);
        assert!(err.contains("truncated") && err.contains(FILES[2]), "{err}");
    }

    #[test]
    fn wrong_magic_number_is_reported() {
        let dir = temp_dir("magic");
        write_tiny_dataset(&dir, 10, false);
        // A label file where an image file belongs.
        std::fs::copy(dir.join(FILES[1]), dir.join(FILES[0])).unwrap();
        let err = load_error(&dir);
        assert!(err.contains("wrong magic number") && err.contains(FILES[0]), "{err}");
    }

    #[test]
    fn image_label_count_mismatch_is_reported() {
        let dir = temp_dir("count");
        write_tiny_dataset(&dir, 10, false);
        std::fs::write(dir.join(FILES[1]), encode_idx(&[9], &[0; 9])).unwrap();
        let err = load_error(&dir);
        assert!(err.contains("holds 9 labels but") && err.contains("10 images"), "{err}");
    }

    #[test]
    fn label_outside_the_classes_is_reported() {
        let dir = temp_dir("label");
        write_tiny_dataset(&dir, 10, false);
        let mut labels = vec![1u8; 10];
        labels[7] = 12;
        std::fs::write(dir.join(FILES[3]), encode_idx(&[10], &labels)).unwrap();
        let err = load_error(&dir);
        assert!(err.contains("label 12 at index 7") && err.contains(FILES[3]), "{err}");
    }

    #[test]
    fn dataset_names_parse() {
        assert_eq!("Fashion_MNIST".parse::<DatasetKind>().unwrap(), DatasetKind::FashionMnist);
        let err = "cifar".parse::<DatasetKind>().unwrap_err().to_string();
        assert!(err.contains("dataset = cifar"), "{err}");
    }
}
