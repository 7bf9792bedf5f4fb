//! Which device to train on: CUDA when libtorch can use it, the CPU otherwise.
//!
//! In a notebook, evcxr links its generated crate without `--no-as-needed`, so the linker
//! drops `libtorch_cuda.so` (nothing references it by name) and CUDA looks absent even on a
//! CUDA build. We therefore load that library ourselves, once, before asking libtorch.
use std::path::PathBuf;
use std::sync::Once;

use tch::{Cuda, Device};

use crate::error::{Error, Result};
use crate::model::Precision;

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

/// The processor a run trains on, in a few words: the CPU's model name and libtorch's
/// threads, or the GPU's number.
pub fn describe_machine(device: Device) -> String {
    match device {
        Device::Cuda(i) => format!("CUDA GPU {i}"),
        _ => {
            let model = cpuinfo_field("model name").unwrap_or_else(|| std::env::consts::ARCH.to_string());
            format!("{}, {} threads", model.trim(), tch::get_num_threads())
        }
    }
}

/// One line on the training precision: which one the runs use, and what is known about
/// bf16 on this hardware, so that the choice can be checked against the machine.
pub fn describe_precision(device: Device, precision: Precision) -> String {
    let chosen = match precision {
        Precision::Fp32 => "fp32 (the default; LOSSVIZ_PRECISION=bf16 switches to mixed precision)",
        Precision::Bf16 => "bf16 mixed precision (chosen by LOSSVIZ_PRECISION or the config)",
    };
    format!("Training precision: {chosen}. {}", bf16_advice(device, &cpu_flags()))
}

/// Whether this device computes bfloat16 natively (a GPU, or a CPU with AVX512-BF16 or AMX);
/// elsewhere libtorch emulates it, many times slower than fp32.
pub fn has_bf16_instructions(device: Device) -> bool {
    device.is_cuda() || cpu_flags().iter().any(|f| f == "avx512_bf16" || f == "amx_bf16")
}

/// What was measured of bfloat16 training on this kind of hardware, so that nobody switches
/// it on where it was slower; the numbers live in BENCHMARKS.md ("Mixed precision"), which
/// the message names, not here.
fn bf16_advice(device: Device, flags: &[String]) -> &'static str {
    let has = |f: &str| flags.iter().any(|x| x == f);
    if device.is_cuda() {
        "On a GPU, bf16 training has not been measured yet."
    } else if has("amx_bf16") {
        "This CPU has AMX, on which bf16 was measured faster than fp32 (BENCHMARKS.md, \"Mixed precision\"): bf16 may pay here."
    } else if has("avx512_bf16") && has("authenticamd") {
        "On AMD CPUs with AVX512-BF16, like this one, bf16 training was measured faster than fp32 (BENCHMARKS.md, \"Mixed precision\"): bf16 may pay here."
    } else if has("avx512_bf16") {
        "On Intel CPUs with AVX512-BF16 but no AMX, like this one, bf16 training was measured slower than fp32 (BENCHMARKS.md, \"Mixed precision\")."
    } else {
        "No bf16 instructions were found on this CPU, so bf16 would be slower here."
    }
}

/// The CPU's feature flags and vendor from /proc/cpuinfo, lower-case (empty where there is
/// none; an ARM CPU's `Features` are not read, so it is told none were found).
fn cpu_flags() -> Vec<String> {
    let (flags, vendor) = (cpuinfo_field("flags").unwrap_or_default(), cpuinfo_field("vendor_id").unwrap_or_default());
    flags.split_whitespace().chain(vendor.split_whitespace()).map(str::to_ascii_lowercase).collect()
}

/// The first CPU's `name : value` line of /proc/cpuinfo, its value.
fn cpuinfo_field(name: &str) -> Option<String> {
    let info = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    info.lines().find_map(|l| l.split_once(':').filter(|(k, _)| k.trim() == name).map(|(_, v)| v.to_string()))
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

    #[test]
    fn bf16_advice_follows_the_cpu() {
        let flags = |s: &str| s.split_whitespace().map(String::from).collect::<Vec<_>>();
        let amd = bf16_advice(Device::Cpu, &flags("avx512f avx512_bf16 authenticamd"));
        let intel = bf16_advice(Device::Cpu, &flags("avx512f avx512_bf16 genuineintel"));
        let amx = bf16_advice(Device::Cpu, &flags("avx512_bf16 amx_bf16 amx_tile genuineintel"));
        let old = bf16_advice(Device::Cpu, &flags("avx2 fma"));
        assert!(amd.contains("may pay") && amx.contains("may pay"), "{amd} / {amx}");
        assert!(intel.contains("slower") && !intel.contains("may pay") && old.contains("slower"), "{intel} / {old}");
        assert!(bf16_advice(Device::Cuda(0), &[]).contains("GPU"));
        let line = describe_precision(Device::Cpu, Precision::Bf16);
        assert!(line.starts_with("Training precision: bf16"), "{line}");
        // The reader finds this machine's flags (every x86-64 CPU has SSE2).
        if cfg!(all(target_os = "linux", target_arch = "x86_64")) {
            assert!(cpu_flags().iter().any(|f| f == "sse2"), "{:?}", cpu_flags());
        }
    }
}
