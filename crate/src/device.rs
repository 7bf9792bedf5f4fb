//! Which device to train on: CUDA when libtorch can use it, the CPU otherwise.
//!
//! In a notebook, evcxr links its generated crate without `--no-as-needed`, so the linker
//! drops `libtorch_cuda.so` (nothing references it by name) and CUDA looks absent even on a
//! CUDA build. We therefore load that library ourselves, once, before asking libtorch.
use std::path::PathBuf;
use std::sync::Once;

use tch::{Cuda, Device};

use crate::error::{Error, Result};

/// Folders where `libtorch_cuda.so` may sit: the one we were built against, then `$LIBTORCH/lib`.
fn libtorch_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = option_env!("LOSSVIZ_LIBTORCH_LIB").map(PathBuf::from).into_iter().collect();
    if let Some(root) = std::env::var_os("LIBTORCH") {
        dirs.push(PathBuf::from(root).join("lib"));
    }
    dirs
}

/// Loads `libtorch_cuda.so` (globally, and for the life of the process) when it exists.
/// Its static initialisers register the CUDA backend with libtorch. On the CPU build the
/// file is absent and this does nothing.
fn load_cuda_backend() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        for dir in libtorch_dirs() {
            let path = dir.join("libtorch_cuda.so");
            if path.is_file() {
                use libloading::os::unix::{Library, RTLD_GLOBAL, RTLD_NOW};
                // SAFETY: loading libtorch's own CUDA library into a process that already
                // holds the matching libtorch; it runs only libtorch's initialisers.
                match unsafe { Library::open(Some(&path), RTLD_NOW | RTLD_GLOBAL) } {
                    Ok(lib) => std::mem::forget(lib),
                    Err(e) => eprintln!("lossviz: found {} but could not load it: {e}", path.display()),
                }
                return;
            }
        }
    });
}

/// The device to use: `LOSSVIZ_DEVICE` (`cpu`, `cuda` or `cuda:N`) if set, else the first
/// CUDA GPU if there is one, else the CPU.
pub fn default_device() -> Result<Device> {
    load_cuda_backend();
    let requested = std::env::var("LOSSVIZ_DEVICE").unwrap_or_default();
    parse_device(&requested, Cuda::device_count() as usize)
}

fn parse_device(requested: &str, gpus: usize) -> Result<Device> {
    let want_gpu = |i: usize| {
        if i < gpus {
            Ok(Device::Cuda(i))
        } else {
            Err(Error::setting(
                "LOSSVIZ_DEVICE",
                requested,
                &format!("this libtorch sees {gpus} CUDA GPU(s); use cpu, or run ./kernel-setup.sh --cuda on a machine with an NVIDIA GPU"),
            ))
        }
    };
    match requested.trim().to_ascii_lowercase().as_str() {
        "" | "auto" => Ok(if gpus > 0 { Device::Cuda(0) } else { Device::Cpu }),
        "cpu" => Ok(Device::Cpu),
        "cuda" | "gpu" => want_gpu(0),
        other => match other.strip_prefix("cuda:").and_then(|n| n.parse::<usize>().ok()) {
            Some(i) => want_gpu(i),
            None => Err(Error::setting("LOSSVIZ_DEVICE", requested, "expected cpu, cuda, cuda:N or auto")),
        },
    }
}

/// One line for the notebook's "Use CUDA" cell.
pub fn describe(device: Device) -> String {
    match device {
        Device::Cuda(i) => format!("Use CUDA: true (GPU {i} of {})", Cuda::device_count()),
        _ => format!("Use CUDA: false (CPU, {} threads)", tch::get_num_threads()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_requests_against_the_gpus_present() {
        assert_eq!(parse_device("", 0).unwrap(), Device::Cpu);
        assert_eq!(parse_device("auto", 2).unwrap(), Device::Cuda(0));
        assert_eq!(parse_device("CPU", 2).unwrap(), Device::Cpu);
        assert_eq!(parse_device("cuda:1", 2).unwrap(), Device::Cuda(1));
        assert!(parse_device("cuda", 0).unwrap_err().to_string().contains("sees 0 CUDA GPU"));
        assert!(parse_device("tpu", 0).unwrap_err().to_string().contains("LOSSVIZ_DEVICE = tpu"));
    }
}
