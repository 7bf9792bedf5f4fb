"""Writes the fixtures that pin lossviz to the original PyTorch lesson (crate/tests/golden/).

  ~/.cache/lossviz/bench-venv/bin/python bench/golden.py [OUT_DIR]

(bench/run.sh creates that virtualenv.) The original's network and its two losses are
written here as the original notebook computes them (the distance matrix as
|x|^2 + |c|^2 - 2 x c^T, the clamps where it clamps, PC's `pos_c - neg_c` term), with its
training loop as lossviz fixes it: every gradient cleared before `backward()`, then the
network's SGD step, then each center optimiser's step on its gradient divided by the loss's
weight. On a batch of 8 and fixed weights it saves, as .npy:

  x, y                       the batch
  center0, pc0               the initial centers of Center Loss and PC Loss
  logits, features           the network's outputs
  loss_*                     each loss's value (0-d)
  dfeat_*, dcent_*           each loss's gradient with respect to the features and centers
  grad.<param>               the gradient of the total loss for every network parameter
  step.<param>, step.center, step.pc
                             every small parameter after one step (conv2's and conv3's
                             weights are checked as w - lr * grad instead, to keep the files
                             small)

The network's weights are not stored: both sides compute them from `fixed_weight` below
(a sine pattern scaled to PyTorch's init bound), which the Rust test repeats.
"""
import math
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

LR, MOMENTUM = 0.001, 0.9
CENTER_LAMBDA, CENTER_LR = 1.0, 0.5
PC_LAMBDA, PC_LR = 0.0001, 0.01
BOUNDED_MARGIN = 1.5
BATCH, CLASSES, DIM = 8, 10, 2
SMALL = 20_000  # parameters with more values than this get no step.<param> file


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, kernel_size=5, padding=2)
        self.conv2 = nn.Conv2d(32, 64, kernel_size=5, padding=2)
        self.conv3 = nn.Conv2d(64, 128, kernel_size=5, padding=2)
        self.fc1 = nn.Linear(128, DIM)
        self.fc2 = nn.Linear(DIM, CLASSES)

    def forward(self, x):
        h = F.max_pool2d(F.relu(self.conv1(x)), 2, 2)
        h = F.max_pool2d(F.relu(self.conv2(h)), 2, 2)
        h = F.max_pool2d(F.relu(self.conv3(h)), 2, 2)
        h = F.adaptive_avg_pool2d(h, 1).flatten(start_dim=1)
        features = self.fc1(h)
        return self.fc2(features), features


def fixed_weight(index, shape, fan_in):
    """Parameter number `index` (in `named_parameters` order): sin(0.7 i + index + 0.25)
    times 1/sqrt(fan_in), computed in f64 and rounded to f32."""
    n = math.prod(shape)
    values = np.sin(0.7 * np.arange(n, dtype=np.float64) + index + 0.25) / math.sqrt(fan_in)
    return torch.from_numpy(values.astype(np.float32).reshape(shape))


def distances(x, centers):
    """[B, K] squared distances, formed as the original forms them."""
    b, k = x.shape[0], centers.shape[0]
    d = x.pow(2).sum(dim=1, keepdim=True).expand(b, k) + centers.pow(2).sum(dim=1, keepdim=True).expand(k, b).t()
    return torch.addmm(d, x, centers.t(), beta=1, alpha=-2)


def own_class(y, k):
    return y.unsqueeze(1).expand(-1, k).eq(torch.arange(k).expand(y.shape[0], k))


def center_loss(x, y, centers):
    mask = own_class(y, centers.shape[0])
    return (distances(x, centers) * mask.float()).clamp(min=1e-12, max=1e12).sum() / x.shape[0]


def pc_loss(x, y, centers):
    b, k, d = x.shape[0], centers.shape[0], centers.shape[1]
    mask = own_class(y, k)
    others = (~mask).float()
    push = (distances(x, centers) * others).clamp(min=1e-12, max=1e12)
    tiled = centers.unsqueeze(0).repeat(b, 1, 1)
    own_c = mask.float().unsqueeze(2).repeat(1, 1, d) * tiled
    other_c = others.unsqueeze(2).repeat(1, 1, d) * tiled
    center_term = (own_c - other_c).pow(2).clamp(min=1e-12, max=1e12)
    return (push.sum() + center_term.sum()) / (b * (k - 1))


def pc_loss_bounded(x, y, centers, margin):
    """lossviz's bounded variant: capped push, plus capped pairwise center distances."""
    b, k = x.shape[0], centers.shape[0]
    cap = margin * margin
    others = (~own_class(y, k)).float()
    push = (distances(x, centers).clamp(max=cap) * others).sum() / (b * (k - 1))
    pair = (centers.unsqueeze(0) - centers.unsqueeze(1)).pow(2).sum(2).clamp(min=0, max=cap)
    return push + pair.sum() / (k * (k - 1))


def grad_of(fn, *tensors):
    leaves = [t.detach().clone().requires_grad_(True) for t in tensors]
    value = fn(*leaves)
    value.backward()
    return value.detach(), [leaf.grad for leaf in leaves]


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "crate", "tests", "golden")
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)
    torch.set_num_threads(1)
    arrays = {}
    x = torch.rand(BATCH, 1, 28, 28)
    y = torch.tensor([0, 1, 2, 3, 4, 5, 6, 7]) % CLASSES
    center0, pc0 = torch.randn(CLASSES, DIM), torch.randn(CLASSES, DIM)
    arrays.update(x=x, y=y, center0=center0, pc0=pc0)

    net = Net()
    with torch.no_grad():
        for index, (name, p) in enumerate(net.named_parameters()):
            layer = getattr(net, name.split(".")[0])
            fan_in = math.prod(layer.weight.shape[1:])
            p.copy_(fixed_weight(index, p.shape, fan_in))
    logits, features = net(x)
    arrays.update(logits=logits.detach(), features=features.detach())

    # Each loss alone, and its gradients, on the network's features.
    for name, fn, centers in [
        ("center", center_loss, center0),
        ("pc", pc_loss, pc0),
        ("pc_bounded", lambda f, y_, c: pc_loss_bounded(f, y_, c, BOUNDED_MARGIN), pc0),
    ]:
        value, (dfeat, dcent) = grad_of(lambda f, c: fn(f, y, c), features.detach(), centers)
        arrays.update({f"loss_{name}": value, f"dfeat_{name}": dfeat, f"dcent_{name}": dcent})
    arrays["loss_xent"] = F.cross_entropy(logits, y).detach()

    # One step of the lesson's experiment 3 (cross-entropy + Center Loss + PC Loss).
    center = nn.Parameter(center0.clone())
    pc = nn.Parameter(pc0.clone())
    model_opt = torch.optim.SGD(net.parameters(), lr=LR, momentum=MOMENTUM)
    center_opt = torch.optim.SGD([center], lr=CENTER_LR)
    pc_opt = torch.optim.SGD([pc], lr=PC_LR)
    for opt in (model_opt, center_opt, pc_opt):
        opt.zero_grad()
    logits, features = net(x)
    total = F.cross_entropy(logits, y) + CENTER_LAMBDA * center_loss(features, y, center) - PC_LAMBDA * pc_loss(features, y, pc)
    total.backward()
    arrays["loss_total"] = total.detach()
    for name, p in net.named_parameters():
        arrays[f"grad.{name}"] = p.grad.detach().clone()
    model_opt.step()
    center.grad.mul_(1 / CENTER_LAMBDA)
    center_opt.step()
    pc.grad.mul_(1 / PC_LAMBDA)
    pc_opt.step()
    for name, p in net.named_parameters():
        if p.numel() <= SMALL:
            arrays[f"step.{name}"] = p.detach().clone()
    arrays.update({"step.center": center.detach(), "step.pc": pc.detach()})

    size = 0
    for name, tensor in arrays.items():
        path = os.path.join(out, f"{name}.npy")
        np.save(path, tensor.numpy())
        size += os.path.getsize(path)
    print(f"wrote {len(arrays)} arrays, {size / 1e6:.2f} MB, to {os.path.abspath(out)}")


if __name__ == "__main__":
    main()
