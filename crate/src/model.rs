//! The lesson's network: three 5x5 convolutions (32, 64, 128 channels), each followed by
//! ReLU and 2x2 max-pooling, a global average pool, then `fc1` down to `hidden_dim`
//! features and `fc2` up to the class scores. `hidden_dim = 2` is what makes the feature
//! space drawable as a scatter plot.
use tch::{nn, Tensor};

use crate::error::{Error, Result};

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
        for (name, value) in [
            ("in_channels", self.in_channels),
            ("hidden_dim", self.hidden_dim),
            ("num_classes", self.num_classes),
        ] {
            if value == 0 {
                return Err(Error::setting(name, value, "must be at least 1"));
            }
        }
        if self.num_classes < 2 {
            return Err(Error::setting("num_classes", self.num_classes, "must be at least 2"));
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
    /// Creates the layers' weights in `vs` with tch's default initialisation: Kaiming-uniform
    /// with the ReLU gain (bound sqrt(6 / fan_in)) and zero convolution biases. This is not
    /// PyTorch's `nn.Conv2d`/`nn.Linear` default (bound 1 / sqrt(fan_in), biases uniform too),
    /// so the first epochs differ from the original's: the PyTorch reference in `bench/`
    /// stays near 10% training accuracy through its first epoch where this starts learning.
    pub fn new(vs: &nn::Path, config: ModelConfig) -> Result<Self> {
        config.validate()?;
        let conv = nn::ConvConfig { padding: 2, ..Default::default() };
        let c = config.in_channels as i64;
        let h = config.hidden_dim as i64;
        Ok(Cnn {
            config,
            conv1: channels_last(nn::conv2d(vs / "conv1", c, 32, 5, conv)),
            conv2: channels_last(nn::conv2d(vs / "conv2", 32, 64, 5, conv)),
            conv3: channels_last(nn::conv2d(vs / "conv3", 64, 128, 5, conv)),
            fc1: nn::linear(vs / "fc1", 128, h, Default::default()),
            fc2: nn::linear(vs / "fc2", h, config.num_classes as i64, Default::default()),
        })
    }

    /// Returns `(logits, features)`: the class scores and `fc1`'s output, the point we plot.
    pub fn forward(&self, x: &Tensor) -> Result<(Tensor, Tensor)> {
        let size = x.size();
        if size.len() != 4 || size[1] != self.config.in_channels as i64 || size[2] < 8 || size[3] < 8 {
            return Err(Error::setting(
                "input shape",
                format!("{size:?}"),
                &format!("expected [batch, {}, height, width] with height and width >= 8", self.config.in_channels),
            ));
        }
        let (kind, device) = (self.conv1.ws.kind(), self.conv1.ws.device());
        if x.kind() != kind || x.device() != device {
            return Err(Error::setting(
                "input tensor",
                format!("{:?} on {:?}", x.kind(), x.device()),
                &format!("expected {kind:?} on {device:?} (use .to_kind(Kind::{kind:?}) and .to_device(...))"),
            ));
        }
        let h = x.apply(&self.conv1).relu().max_pool2d_default(2);
        let h = h.apply(&self.conv2).relu().max_pool2d_default(2);
        let h = h.apply(&self.conv3).relu().max_pool2d_default(2);
        let h = h.mean_dim(&[2i64, 3][..], false, None);
        let features = h.apply(&self.fc1);
        let logits = features.apply(&self.fc2);
        Ok((logits, features))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    #[test]
    fn forward_gives_logits_and_hidden_features() {
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
        // With one input channel a permuted copy of conv1's weights keeps NCHW strides; the
        // check on conv1 is the one that caught it.
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
    fn bad_shapes_and_zero_sizes_are_errors() {
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
