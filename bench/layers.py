"""Times the lesson's network layer by layer in PyTorch (channels-last, batch 100, fp32 and
bf16): the speed libtorch itself reaches on this machine, to hold lossviz's evaluation
against; then each convolution's forward and backward, the part of a training step that
bf16 mixed precision changes (`TrainConfig::precision`). Runs in the benchmark's virtualenv:

  ~/.cache/lossviz/bench-venv/bin/python bench/layers.py [--threads 2]

`ONEDNN_VERBOSE=1` in front shows which oneDNN kernel each convolution runs
(`..._amx` with AMX, `..._avx512_core_bf16` with AVX512-BF16 alone).
"""
import sys
import time

import torch
import torch.nn.functional as F


def per_call_ms(fn, repeats=30):
    fn()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats * 1e3


def main():
    threads = int(sys.argv[sys.argv.index("--threads") + 1]) if "--threads" in sys.argv else 2
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    for kind in (torch.float32, torch.bfloat16):
        convs = [torch.nn.Conv2d(i, o, 5, padding=2) for i, o in ((1, 32), (32, 64), (64, 128))]
        convs = [c.eval().to(memory_format=torch.channels_last).to(kind) for c in convs]
        h = torch.rand(100, 1, 28, 28).to(kind)
        total = 0.0
        print(f"{kind}, batch 100, {threads} threads")
        with torch.no_grad():
            for n, conv in enumerate(convs, 1):
                # Pooling before ReLU, as lossviz computes it (the two commute; model.rs).
                steps = [("conv", lambda x: conv(x)), ("pool", lambda x: F.max_pool2d(x, 2)), ("relu", lambda x: x.relu())]
                for name, step in steps:
                    ms = per_call_ms(lambda: step(h))
                    total += ms
                    print(f"  {name}{n}  {ms:6.2f} ms")
                    h = step(h)
        print(f"  total   {total:6.2f} ms = {100 / total * 1e3:.0f} images/s")
    training_convolutions()


def training_convolutions():
    """Forward and backward (input and weight gradients) of each convolution at batch 100,
    fp32 against bf16, as a training step runs them."""
    print("\nconvolutions in training, batch 100, ms: forward / backward")
    print("| convolution | fp32 | bf16 | fp32 / bf16 (forward + backward) |\n|---|---|---|---|")
    for i, o, size in ((1, 32, 28), (32, 64, 14), (64, 128, 7)):
        times = []
        for kind in (torch.float32, torch.bfloat16):
            w = torch.randn(o, i, 5, 5).to(memory_format=torch.channels_last).to(kind).requires_grad_()
            # The first convolution's input is the image, which needs no gradient.
            x = torch.randn(100, i, size, size).to(memory_format=torch.channels_last).to(kind).requires_grad_(i > 1)
            grad = torch.randn(100, o, size, size).to(memory_format=torch.channels_last).to(kind)
            forward = per_call_ms(lambda: F.conv2d(x, w, padding=2), repeats=20)
            both = per_call_ms(lambda: F.conv2d(x, w, padding=2).backward(grad), repeats=20)
            times.append((forward, max(both - forward, 0.0)))
        (f32, b32), (f16, b16) = times
        print(f"| {i} -> {o} at {size}x{size} | {f32:.2f} / {b32:.2f} | {f16:.2f} / {b16:.2f} | {(f32 + b32) / (f16 + b16):.2f}x |")


if __name__ == "__main__":
    main()
