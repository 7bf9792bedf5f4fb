"""Times the lesson's network layer by layer in PyTorch (channels-last, batch 100, fp32 and
bf16): the speed libtorch itself reaches on this machine, to hold lossviz's evaluation
against. Runs in the benchmark's virtualenv:

  ~/.cache/lossviz/bench-venv/bin/python bench/layers.py [--threads 2]
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
                steps = [("conv", lambda x: conv(x)), ("relu", lambda x: x.relu()), ("pool", lambda x: F.max_pool2d(x, 2))]
                for name, step in steps:
                    ms = per_call_ms(lambda: step(h))
                    total += ms
                    print(f"  {name}{n}  {ms:6.2f} ms")
                    h = step(h)
        print(f"  total   {total:6.2f} ms = {100 / total * 1e3:.0f} images/s")


if __name__ == "__main__":
    main()
