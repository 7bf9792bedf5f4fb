"""Runs bench/reference.py (PyTorch) and lossviz-bench on the same data, settings and
thread count, interleaved, and prints the ratios. Called by bench/run.sh.

usage: compare.py --python PY --ours BIN --data DIR [--limit N] [--repeats 3]
                  [--threads N] [--loss xent|center] [--out FILE.md]
"""
import argparse, json, os, statistics, subprocess, sys

HERE = os.path.dirname(os.path.abspath(__file__))


def run(cmd):
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--python", required=True)
    ap.add_argument("--ours", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--limit", type=int)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--loss", choices=["xent", "center"], default="xent")
    ap.add_argument("--out")
    a = ap.parse_args()
    common = ["--threads", str(a.threads), "--loss", a.loss] + (["--limit", str(a.limit)] if a.limit else [])
    ref_cmd = [a.python, os.path.join(HERE, "reference.py"), "--data", a.data] + common
    our_cmd = [a.ours, "--dataset", "fashion-mnist", "--data", a.data] + common
    pairs = []
    for i in range(a.repeats):
        # Alternate which side goes first, so drift in the machine's speed hits both.
        order = [("pytorch", ref_cmd), ("lossviz", our_cmd)]
        if i % 2:
            order.reverse()
        results = {}
        for side, cmd in order:
            results[side] = run(cmd)
            r = results[side]
            print(f"run {i + 1}/{a.repeats} {side:8s} train {r['train_images_per_s']:7.0f} img/s "
                  f"({r['train_seconds']:.1f} s, acc {r['train_accuracy']:.1f}%)  eval {r['eval_images_per_s']:7.0f} img/s "
                  f"({r['eval_seconds']:.1f} s)  peak RSS {r['peak_rss_mib']:.0f} MiB"
                  + (f"  bf16 train {r['bf16_train_images_per_s']:7.0f} img/s" if "bf16_train_images_per_s" in r else ""), flush=True)
        pairs.append(results)

    med = lambda side, key: statistics.median(p[side][key] for p in pairs)
    # Median over the pairs of lossviz's `ours` ÷ PyTorch's `ref` (the same key by default).
    ratio = lambda ours, ref=None: statistics.median(p["lossviz"][ours] / p["pytorch"][ref or ours] for p in pairs)
    train_ratio, eval_ratio = ratio("train_images_per_s"), ratio("eval_images_per_s")
    ref_rss = max(p["pytorch"]["peak_rss_mib"] + p["pytorch"].get("worker_peak_rss_mib", 0) for p in pairs)
    our_rss = max(p["lossviz"]["peak_rss_mib"] for p in pairs)
    n = pairs[0]["lossviz"]["train_images"]
    lines = [
        f"{n} training images, batch 100, {a.loss}, {a.threads} threads, {a.repeats} interleaved runs per side (medians)",
        "",
        "| | PyTorch reference | lossviz | ratio (lossviz ÷ PyTorch) | target |",
        "|---|---|---|---|---|",
        f"| training, images/s | {med('pytorch', 'train_images_per_s'):.0f} | {med('lossviz', 'train_images_per_s'):.0f} | **{train_ratio:.2f}×** | ≥ 1.2× |",
    ] + ([
        f"| training with `precision: Bf16` (mixed), images/s | {med('pytorch', 'train_images_per_s'):.0f} | {med('lossviz', 'bf16_train_images_per_s'):.0f} | **{ratio('bf16_train_images_per_s', 'train_images_per_s'):.2f}×** | ≥ 2.2× (issue #12, on AMD Zen 4) |",
        f"| the same, lossviz bf16 ÷ lossviz fp32 | | | {statistics.median(p['lossviz']['bf16_train_images_per_s'] / p['lossviz']['train_images_per_s'] for p in pairs):.2f}× | |",
        f"| bf16 vs fp32 training, one epoch: train accuracy; test accuracy | | {med('lossviz', 'bf16_train_accuracy'):.1f}% vs {med('lossviz', 'train_accuracy'):.1f}%; {med('lossviz', 'bf16_trained_test_accuracy'):.2f}% vs {med('lossviz', 'test_accuracy'):.2f}% | | |",
    ] if all("bf16_train_images_per_s" in p["lossviz"] for p in pairs) else [
        "| training with `precision: Bf16` (mixed) | | not run: this CPU has no bf16 instructions (AVX512-BF16, AMX), so bf16 is emulated | | |",
    ]) + [
        f"| evaluation, images/s (PyTorch: batch 1 as the original; lossviz: batches of 100) | {med('pytorch', 'eval_images_per_s'):.0f} | {med('lossviz', 'eval_images_per_s'):.0f} | **{eval_ratio:.1f}×** | ≥ 10× |",
        f"| evaluation with `Precision::Bf16` (opt-in), images/s | | {med('lossviz', 'bf16_eval_images_per_s'):.0f} | **{ratio('bf16_eval_images_per_s', 'eval_images_per_s'):.1f}×** | ≥ 10× |",
        f"| bf16 vs fp32: test accuracy, scatter ratio, largest feature change | | {med('lossviz', 'bf16_test_accuracy'):.2f}% vs {med('lossviz', 'test_accuracy'):.2f}%; {med('lossviz', 'bf16_scatter_ratio'):.4f} vs {med('lossviz', 'fp32_scatter_ratio'):.4f}; {100 * med('lossviz', 'bf16_max_feature_change_relative'):.1f}% of the feature range | | |",
        f"| peak RSS, MiB (PyTorch: main + largest DataLoader worker) | {ref_rss:.0f} | {our_rss:.0f} | {our_rss / ref_rss:.2f}× | lossviz ≤ 1536 |",
    ]
    print("\n" + "\n".join(lines))
    if a.out:
        with open(a.out, "w") as f:
            f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
