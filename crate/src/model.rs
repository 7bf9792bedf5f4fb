//! The lesson's network: three 5x5 convolutions (32, 64, 128 channels), each followed by
//! ReLU and 2x2 max-pooling (computed pool-first: see `forward_in`), a global average pool,
//! then `fc1` down to `hidden_dim` features and `fc2` up to the class scores. `hidden_dim = 2` is what makes the feature
//! space drawable as a scatter plot.
use tch::{nn, Kind, Tensor};

use crate::error::{Error, Result};

/// The number format the convolutions compute in.
///
/// `Bf16` is mixed precision, what PyTorch's CPU autocast does for these layers: each
/// convolution casts its input and its fp32 weights to bfloat16 (the cast is differentiable,
/// so the gradients reach the fp32 weights in fp32), ReLU and pooling stay in bfloat16, and
/// from the global average pool on (`fc1`, `fc2`, the losses, the centers, the optimisers)
/// everything is fp32. The convolutions are almost all of the work; whether bfloat16 makes
/// them faster depends on the CPU (BENCHMARKS.md: twice as fast on an AMD Zen 4 in PyTorch,
/// about half as fast on an Intel Xeon with AVX512-BF16 but no AMX), so fp32 is the default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    #[default]
    Fp32,
    Bf16,
}

impl std::str::FromStr for Precision {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "fp32" => Ok(Precision::Fp32),
            "bf16" => Ok(Precision::Bf16),
            _ => Err(Error::setting("precision", s, "expected fp32 or bf16")),
        }
    }
}

/// The shape of the network; the defaults are the original's.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ModelConfig {
    pub in_channels: usize,
    pub hidden_dim: usize,
    pub num_classes: usize,
}

impl Default for ModelConfig {
    fn default() -> Self {
        ModelConfig { in_channels: 1, hidden_dim: 2, num_classes: 10 }
    }
}

impl ModelConfig {
    pub fn validate(&self) -> Result<()> {
        for (name, value) in
            [("model.in_channels", self.in_channels), ("model.hidden_dim", self.hidden_dim), ("model.num_classes", self.num_classes)]
        {
            if value == 0 {
                return Err(Error::setting(name, value, "must be at least 1"));
            }
        }
        if self.num_classes < 2 {
            return Err(Error::setting("model.num_classes", self.num_classes, "must be at least 2"));
        }
        Ok(())
    }
}

/// Stores a convolution's weights channels-last (NHWC in memory, same NCHW shape). libtorch
/// then runs every convolution, and the ReLU and pooling after it, in oneDNN's
/// channels-last kernels (BENCHMARKS.md measures it). The strides are set explicitly: a
/// permute-and-`contiguous` copy keeps the NCHW strides when there is one input channel,
/// which left the first convolution and its pooling in the slow NCHW kernels (10 ms each
/// per batch of 100 instead of 1-2). Values, initialisation and saved files are unchanged.
fn channels_last(mut conv: nn::Conv2D) -> nn::Conv2D {
    tch::no_grad(|| {
        let size = conv.ws.size();
        let (inputs, kw) = (size[1], size[3]);
        let strides = [inputs * size[2] * kw, 1, kw * inputs, inputs];
        let mut nhwc = Tensor::empty_strided(&size, strides, (conv.ws.kind(), conv.ws.device()));
        nhwc.copy_(&conv.ws);
        conv.ws.set_data(&nhwc);
    });
    conv
}

/// PyTorch's default bound for a layer's weights and biases.
fn pytorch_init(fan_in: i64) -> nn::Init {
    let bound = 1.0 / (fan_in as f64).sqrt();
    nn::Init::Uniform { lo: -bound, up: bound }
}

/// Every convolution's padding: 2 keeps a 5x5 convolution's output the size of its input.
/// (The bf16 path calls `conv2d` itself, with this padding and stride 1, as `conv_init` sets.)
const PADDING: i64 = 2;

/// A 5x5 convolution with "same" padding and stride 1, initialised as PyTorch does.
fn conv_init(fan_in: i64) -> nn::ConvConfig {
    nn::ConvConfig { padding: PADDING, ws_init: pytorch_init(fan_in), bs_init: pytorch_init(fan_in), ..Default::default() }
}

fn linear_init(fan_in: i64) -> nn::LinearConfig {
    nn::LinearConfig { ws_init: pytorch_init(fan_in), bs_init: Some(pytorch_init(fan_in)), bias: true }
}

#[derive(Debug)]
pub struct Cnn {
    pub config: ModelConfig,
    conv1: nn::Conv2D,
    conv2: nn::Conv2D,
    conv3: nn::Conv2D,
    fc1: nn::Linear,
    fc2: nn::Linear,
}

impl Cnn {
    /// Creates the layers' weights in `vs` as PyTorch's `nn.Conv2d` and `nn.Linear` do
    /// (`reset_parameters`): weights and biases uniform in ±1/√fan_in. tch's own default
    /// (Kaiming-uniform at the ReLU gain, 2.45 times wider, with zero convolution biases)
    /// starts learning sooner, so every number the lesson quotes would differ from what the
    /// original code gives; with PyTorch's the first epochs match the original's behaviour
    /// (`crate/tests/golden` pins the rest to it).
    pub fn new(vs: &nn::Path, config: ModelConfig) -> Result<Self> {
        config.validate()?;
        let c = config.in_channels as i64;
        let h = config.hidden_dim as i64;
        Ok(Cnn {
            config,
            conv1: channels_last(nn::conv2d(vs / "conv1", c, 32, 5, conv_init(c * 25))),
            conv2: channels_last(nn::conv2d(vs / "conv2", 32, 64, 5, conv_init(32 * 25))),
            conv3: channels_last(nn::conv2d(vs / "conv3", 64, 128, 5, conv_init(64 * 25))),
            fc1: nn::linear(vs / "fc1", 128, h, linear_init(128)),
            fc2: nn::linear(vs / "fc2", h, config.num_classes as i64, linear_init(h)),
        })
    }

    /// Returns `(logits, features)`: the class scores and `fc1`'s output, the point we plot.
    pub fn forward(&self, x: &Tensor) -> Result<(Tensor, Tensor)> {
        self.forward_in(x, Precision::Fp32)
    }

    /// [`Cnn::forward`] with the convolutions in `precision` (see [`Precision`]); `Fp32`
    /// computes in the weights' own kind.
    pub fn forward_in(&self, x: &Tensor, precision: Precision) -> Result<(Tensor, Tensor)> {
        let size = x.size();
        if size.len() != 4 || size[1] != self.config.in_channels as i64 || size[2] < 8 || size[3] < 8 {
            return Err(Error::input(
                "input shape",
                format!("{size:?}"),
                &format!("expected [batch, {}, height, width] with height and width >= 8", self.config.in_channels),
            ));
        }
        let (kind, device) = (self.conv1.ws.kind(), self.conv1.ws.device());
        if x.kind() != kind || x.device() != device {
            return Err(Error::input(
                "input tensor",
                format!("{:?} on {:?}", x.kind(), x.device()),
                &format!("expected {kind:?} on {device:?} (use .to_kind(Kind::{kind:?}) and .to_device(...))"),
            ));
        }
        let conv = |x: &Tensor, conv: &nn::Conv2D| match precision {
            Precision::Fp32 => x.apply(conv),
            Precision::Bf16 => {
                let bf16 = |t: &Tensor| t.to_kind(Kind::BFloat16);
                let bias = conv.bs.as_ref().map(bf16);
                x.to_kind(Kind::BFloat16).conv2d(&bf16(&conv.ws), bias.as_ref(), [1, 1], [PADDING, PADDING], [1, 1], 1)
            }
        };
        // The original's relu-then-pool, computed as pool-then-relu: both keep the order of
        // values, so they commute, outputs and gradients alike (a pooling window whose
        // maximum is not positive gives 0 and no gradient either way), and ReLU and its
        // backward then touch a quarter of the values (BENCHMARKS.md measures the step).
        let h = conv(x, &self.conv1).max_pool2d_default(2).relu();
        let h = conv(&h, &self.conv2).max_pool2d_default(2).relu();
        let h = conv(&h, &self.conv3).max_pool2d_default(2).relu();
        // Back to the weights' kind here: the average over the last 3x3 map sums in it, and
        // the 2-D features the lesson draws come from fc1 in full precision.
        let h = h.mean_dim(&[2i64, 3][..], false, Some(kind));
        let features = h.apply(&self.fc1);
        let logits = features.apply(&self.fc2);
        Ok((logits, features))
    }

    /// `fc2`'s weight `[classes, hidden_dim]` and bias `[classes]`: the map from a feature
    /// point to the class scores, which a plot turns into decision regions.
    pub(crate) fn classifier(&self) -> (&Tensor, Option<&Tensor>) {
        (&self.fc2.ws, self.fc2.bs.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    #[test]
    fn forward_gives_logits_and_hidden_features() {
        let _rng = crate::rng::lock_global_rng();
        let vs = nn::VarStore::new(Device::Cpu);
        let config = ModelConfig { hidden_dim: 3, ..Default::default() };
        let model = Cnn::new(&vs.root(), config).unwrap();
        let (logits, features) = model.forward(&Tensor::rand([4, 1, 28, 28], (Kind::Float, Device::Cpu))).unwrap();
        assert_eq!(logits.size(), vec![4, 10]);
        assert_eq!(features.size(), vec![4, 3]);
        // 32*1*25+32 + 64*32*25+64 + 128*64*25+128 + 128*3+3 + 3*10+10
        let params: i64 = vs.trainable_variables().iter().map(|t| t.numel() as i64).sum();
        assert_eq!(params, 832 + 51264 + 204928 + 387 + 40);
    }

    #[test]
    fn every_convolution_and_its_output_is_channels_last() {
        // Tests draw from libtorch's one global generator; see `lock_global_rng`.
        let _rng = crate::rng::lock_global_rng();
        // With one input channel a permuted copy of conv1's weights keeps NCHW strides (a
        // dimension of size 1 leaves them ambiguous), so 1 and 3 input channels are both tried.
        for in_channels in [1, 3] {
            let vs = nn::VarStore::new(Device::Cpu);
            let model = Cnn::new(&vs.root(), ModelConfig { in_channels, ..Default::default() }).unwrap();
            let mut h = Tensor::rand([2, in_channels as i64, 28, 28], (Kind::Float, Device::Cpu));
            for (name, conv) in [("conv1", &model.conv1), ("conv2", &model.conv2), ("conv3", &model.conv3)] {
                assert_eq!(conv.ws.stride()[1], 1, "{name} weights, {in_channels} input channel(s): {:?}", conv.ws.stride());
                h = h.apply(conv);
                let channels = h.size()[1];
                assert_eq!(h.stride()[1], 1, "{name} output: {:?} for {channels} channels", h.stride());
            }
        }
    }

    #[test]
    fn weights_and_biases_start_as_pytorchs() {
        let _rng = crate::rng::lock_global_rng();
        // Uniform in ±1/√fan_in, biases too: every value inside the bound, and the extremes
        // near it (tch's Kaiming default would overshoot it 2.45x; zero biases fail too).
        tch::manual_seed(1);
        let vs = nn::VarStore::new(Device::Cpu);
        let _model = Cnn::new(&vs.root(), ModelConfig::default()).unwrap();
        let fan_in = [("conv1", 25.0), ("conv2", 32.0 * 25.0), ("conv3", 64.0 * 25.0), ("fc1", 128.0), ("fc2", 2.0)];
        let variables = vs.variables();
        for (layer, fan) in fan_in {
            let bound = 1.0 / f64::sqrt(fan);
            for part in ["weight", "bias"] {
                let t = &variables[&format!("{layer}.{part}")];
                let max = t.abs().max().double_value(&[]);
                assert!(max <= bound, "{layer}.{part}: |value| up to {max}, bound {bound}");
                // With n values uniform in the bound, the largest is below 0.5 bound with
                // probability 0.5^n; fc2's 10 biases make that 1e-3 at worst.
                assert!(max > 0.5 * bound, "{layer}.{part}: |value| only up to {max}, bound {bound}");
            }
        }
    }

    #[test]
    fn bad_shapes_and_zero_sizes_are_errors() {
        let _rng = crate::rng::lock_global_rng();
        let vs = nn::VarStore::new(Device::Cpu);
        let err = Cnn::new(&vs.root(), ModelConfig { hidden_dim: 0, ..Default::default() }).unwrap_err();
        assert!(err.to_string().contains("hidden_dim = 0"), "{err}");
        let model = Cnn::new(&vs.root(), ModelConfig::default()).unwrap();
        let err = model.forward(&Tensor::zeros([2, 3, 28, 28], (Kind::Float, Device::Cpu))).unwrap_err();
        assert!(err.to_string().contains("[2, 3, 28, 28]"), "{err}");
        let err = model.forward(&Tensor::zeros([2, 1, 28, 28], (Kind::Double, Device::Cpu))).unwrap_err();
        assert!(err.to_string().contains("Double on Cpu"), "{err}");
    }
}
