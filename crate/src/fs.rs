//! Writing files so that a crash, a power cut or another writer never leaves half of one: the
//! plots, the run cache, the reports and the Slurm plans all go through here.
use std::path::Path;

use crate::error::{Error, Result};

/// Writes `bytes` to a temporary file beside `path`, flushes it to the disk, then renames it
/// over `path`: after a crash or a power cut `path` holds the old contents or the new, never
/// an empty or half-written file (the rename can reach the disk before unsynced data).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let io = |source| Error::Io { path: path.to_path_buf(), source };
    let name = path.file_name().ok_or_else(|| io(std::io::Error::other("not a file path")))?;
    let tmp = path.with_file_name(format!(".{}.tmp.{}", name.to_string_lossy(), unique_suffix()));
    let written = std::fs::File::create(&tmp).and_then(|mut f| {
        f.write_all(bytes)?;
        f.sync_all()
    });
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(io(e));
    }
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io(e)
    })
}

/// FNV-1a, 64 bits: a stable hash for folder names (std's hasher may change between
/// Rust versions, which would orphan every entry).
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3))
}

/// A name no other writer uses at the same time: the process, a counter for this process's
/// threads, and the time, so that threads, processes and (on a shared filesystem) machines
/// writing the same file each write their own temporary file.
pub(crate) fn unique_suffix() -> String {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    format!("{}.{n}.{nanos}", std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writers_racing_on_one_file_leave_one_whole_version_and_no_temporary_files() {
        let dir = tempfile::Builder::new().prefix("lossviz-test-atomic-").tempdir().unwrap();
        let path = dir.path().join("run.json");
        // Eight writers, each writing its own 256 KiB pattern twenty times over.
        let payload = |w: u8| vec![w; 256 * 1024];
        std::thread::scope(|scope| {
            for w in 0..8u8 {
                let path = &path;
                scope.spawn(move || {
                    for _ in 0..20 {
                        write_atomic(path, &payload(w)).unwrap();
                    }
                });
            }
        });
        let bytes = std::fs::read(&path).unwrap();
        assert!((0..8u8).any(|w| bytes == payload(w)), "the file is no writer's whole version ({} bytes)", bytes.len());
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).filter(|n| n != "run.json").collect();
        assert!(left.is_empty(), "temporary files left: {left:?}");
    }
}
