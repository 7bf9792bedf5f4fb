//! Randomness that must repeat: libtorch's one global generator, which weights and centers
//! are drawn from, and the seeded generator the batches are shuffled with.

/// libtorch's random generator is global: whoever seeds it and draws initial weights holds
/// this, so experiments created at once (tests, threads) still start from their seeds.
static GLOBAL_RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());

pub(crate) fn lock_global_rng() -> std::sync::MutexGuard<'static, ()> {
    GLOBAL_RNG.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// splitmix64: tiny, fast, and good enough to shuffle a dataset reproducibly.
pub(crate) fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
