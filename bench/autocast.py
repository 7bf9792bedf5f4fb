"""Can mixed precision pay on this machine? One SGD training step of the lesson's network
(bench/reference.py's `Net`, batch 100) in PyTorch, fp32 against CPU autocast to bfloat16,
in the default and the channels-last memory format, interleaved. Runs in the benchmark's
virtualenv:

  ~/.cache/lossviz/bench-venv/bin/python bench/autocast.py [--threads 2] [--repeats 2]
"""
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reference import Net  # noqa: E402


def ms_per_step(model, opt, x, y, autocast, steps=20):
    def step():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            loss = F.cross_entropy(model(x)[0], y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    for _ in range(5):
        step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - start) / steps * 1e3


def arg(name, default):
    return int(sys.argv[sys.argv.index(name) + 1]) if name in sys.argv else default


def main():
    torch.set_num_threads(arg("--threads", 2))
    torch.manual_seed(0)
    print("| memory format | fp32 ms/step | bf16 autocast ms/step | fp32 / bf16 |\n|---|---|---|---|")
    for channels_last in (False, True):
        fmt = torch.channels_last if channels_last else torch.contiguous_format
        model = Net().to(memory_format=fmt)
        opt = torch.optim.SGD(model.parameters(), lr=0.001, momentum=0.9)
        x = torch.rand(100, 1, 28, 28).to(memory_format=fmt)
        y = torch.arange(100) % 10
        for _ in range(arg("--repeats", 2)):
            fp32 = ms_per_step(model, opt, x, y, autocast=False)
            bf16 = ms_per_step(model, opt, x, y, autocast=True)
            name = "channels-last" if channels_last else "default"
            print(f"| {name} | {fp32:.1f} | {bf16:.1f} | {fp32 / bf16:.2f}x |")


if __name__ == "__main__":
    main()
