//! Where the data lives. A student may pass a folder, set `LOSSVIZ_DATA`, or rely on what
//! `kernel-setup.sh` put in its cache; Debian's Fashion-MNIST package is the last resort.
use std::path::{Path, PathBuf};

use super::DatasetKind;
use crate::error::{Error, Result};

/// The base names of the four files; each may also carry a `.gz` suffix.
pub const FILES: [&str; 4] = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"];

/// The set-up script's cache: `$LOSSVIZ_CACHE`, else `~/.cache/lossviz`.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("LOSSVIZ_CACHE") {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."));
    home.join(".cache").join("lossviz")
}

/// The path of one of the four files in `dir`, raw or gzipped, if it is there.
pub fn find_file(dir: &Path, base: &str) -> Option<PathBuf> {
    [dir.join(base), dir.join(format!("{base}.gz"))].into_iter().find(|p| p.is_file())
}

fn holds_dataset(dir: &Path) -> bool {
    FILES.iter().all(|base| find_file(dir, base).is_some())
}

/// Picks the folder holding `kind`'s four IDX files. An explicit folder (or
/// `LOSSVIZ_DATA`) must hold them, or its own name plus the dataset's name must.
pub fn locate(kind: DatasetKind, explicit: Option<&Path>) -> Result<PathBuf> {
    let mut candidates: Vec<PathBuf> = Vec::new();
    let roots: Vec<PathBuf> = match explicit {
        Some(dir) => vec![dir.to_path_buf()],
        None => std::env::var_os("LOSSVIZ_DATA").map(PathBuf::from).into_iter().collect(),
    };
    for root in &roots {
        candidates.push(root.clone());
        candidates.push(root.join(kind.dir_name()));
    }
    if explicit.is_none() {
        candidates.push(cache_dir().join("data").join(kind.dir_name()));
        if kind == DatasetKind::FashionMnist {
            candidates.push(PathBuf::from("/usr/share/datasets/fashion-mnist"));
        }
    }
    if let Some(found) = candidates.iter().find(|d| holds_dataset(d)) {
        return Ok(found.clone());
    }
    let searched = candidates.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ");
    let hint = match kind {
        DatasetKind::Mnist => format!(
            "Run ./kernel-setup.sh while online to download MNIST, or copy its four IDX files \
             ({}) into a folder and pass it with --data or LOSSVIZ_DATA. Offline, use \
             Fashion-MNIST instead (--dataset fashion-mnist, or LOSSVIZ_DATASET=fashion-mnist).",
            FILES.join(", ")
        ),
        DatasetKind::FashionMnist => "Install Debian's dataset-fashion-mnist package \
             (./kernel-setup.sh does), or pass a folder of its four IDX files with --data or \
             LOSSVIZ_DATA."
            .to_string(),
    };
    Err(Error::DataNotFound { dataset: kind.to_string(), searched, hint })
}
