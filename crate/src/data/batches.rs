//! Shuffled mini-batches as index tensors. The permutation comes from our own seeded
//! generator, not libtorch's global one, so the order depends only on (seed, epoch).
use tch::Tensor;

use crate::rng::splitmix64;

/// The batches of one epoch: `n` samples in a seeded random order, cut into pieces of
/// `batch_size` (the last one may be smaller, like `drop_last=False`).
pub struct Batches {
    order: Vec<i64>,
    batch_size: usize,
    next: usize,
}

impl Batches {
    pub fn shuffled(n: usize, batch_size: usize, seed: u64, epoch: usize) -> Self {
        let mut order: Vec<i64> = (0..n as i64).collect();
        let mut state = seed ^ (epoch as u64).wrapping_mul(0xD1B5_4A32_D192_ED03);
        for i in (1..n).rev() {
            let j = (splitmix64(&mut state) % (i as u64 + 1)) as usize;
            order.swap(i, j);
        }
        Batches { order, batch_size: batch_size.max(1), next: 0 }
    }

    /// Batches in the stored order, for evaluation.
    pub fn sequential(n: usize, batch_size: usize) -> Self {
        Batches { order: (0..n as i64).collect(), batch_size: batch_size.max(1), next: 0 }
    }

    pub fn num_batches(&self) -> usize {
        self.order.len().div_ceil(self.batch_size)
    }
}

impl Iterator for Batches {
    type Item = Tensor;
    fn next(&mut self) -> Option<Tensor> {
        if self.next >= self.order.len() {
            return None;
        }
        let end = (self.next + self.batch_size).min(self.order.len());
        let idx = Tensor::from_slice(&self.order[self.next..end]);
        self.next = end;
        Some(idx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(b: Batches) -> Vec<Vec<i64>> {
        b.map(|t| Vec::<i64>::try_from(&t).unwrap()).collect()
    }

    #[test]
    fn every_sample_once_per_epoch_in_a_seeded_order() {
        let a = collect(Batches::shuffled(25, 10, 7, 0));
        assert_eq!(a.iter().map(Vec::len).collect::<Vec<_>>(), vec![10, 10, 5]);
        let mut all: Vec<i64> = a.concat();
        assert_ne!(all, (0..25).collect::<Vec<_>>(), "not shuffled");
        all.sort();
        assert_eq!(all, (0..25).collect::<Vec<_>>());
        assert_eq!(a, collect(Batches::shuffled(25, 10, 7, 0)), "same seed, same order");
        assert_ne!(a, collect(Batches::shuffled(25, 10, 7, 1)), "next epoch, new order");
        assert_ne!(a, collect(Batches::shuffled(25, 10, 8, 0)), "new seed, new order");
    }
}
