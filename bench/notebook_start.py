"""Times the notebook's start, as a student meets it: kernel start -> `lossviz` loaded,
cold (an empty build folder: tch, plotters and lossviz compiled inside the kernel) and
warm (the set-up's pre-built folder), then "run all" of the Japanese notebook at small
settings. Needs ./kernel-setup.sh install first.

usage: ~/.cache/lossviz/venv/bin/python bench/notebook_start.py [--skip-cold] [--warm N]

--warm N: N consecutive warm starts (default 2), reported as best, median and 90th percentile,
both to lossviz loaded and to the end of the next cell, the first to define a variable.
"""
import os, re, shutil, sys, tempfile, time
from datetime import datetime

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "scripts"))
import nbformat  # noqa: E402
import run_notebooks as rn  # noqa: E402



def small_settings():
    """The notebook tests' small settings, read from their one definition in scripts/kernel.sh."""
    text = open(os.path.join(REPO, "scripts", "kernel.sh")).read()
    found = re.search(r"^SMALL_SETTINGS=\((.*)\)$", text, re.M)
    if not found:
        sys.exit("SMALL_SETTINGS=(...) not found in scripts/kernel.sh")
    return dict(pair.split("=", 1) for pair in found.group(1).split())


def warm_starts():
    if "--warm" not in sys.argv:
        return 2
    value = sys.argv[sys.argv.index("--warm") + 1 :][:1]
    if not value or not value[0].isdigit() or int(value[0]) < 1:
        sys.exit("--warm needs a whole number of starts, 1 or more")
    return int(value[0])


def warm_start():
    """Seconds from a fresh kernel (the set-up's build folder) to lossviz loaded, and to the
    end of the next cell, which defines a variable: evcxr asks rust-analyzer for its type,
    and rust-analyzer then analyses lossviz and the crates under it for the first time, so
    that cell, not the loading one, is where a student waits longest (BENCHMARKS.md)."""
    nb = rn.code_notebook(rn.load_lossviz(REPO), 'let classes = DatasetKind::Mnist.class_names().len();\nprintln!("classes {classes}");')
    start = time.monotonic()
    rn.execute(nb, REPO)
    total = time.monotonic() - start
    if "classes 10" not in rn.text_of(nb.cells[1]):
        sys.exit(f"the kernel did not run the second cell:\n{rn.text_of(nb.cells[1])}")
    stamps = nb.cells[1].metadata["execution"]
    second = (datetime.fromisoformat(stamps["shell.execute_reply"]) - datetime.fromisoformat(stamps["iopub.execute_input"])).total_seconds()
    print(f"kernel start -> lossviz loaded {total - second:.1f} s, -> first variable {total:.1f} s", flush=True)
    return total - second, total


def main():
    rows = []
    if "--skip-cold" not in sys.argv:
        build = tempfile.mkdtemp(prefix="lossviz-cold-build-")
        os.environ["LOSSVIZ_EVCXR_TMPDIR"] = build
        try:
            rows.append(("cold: empty build folder", rn.time_start(REPO, "cold")))
        finally:
            del os.environ["LOSSVIZ_EVCXR_TMPDIR"]
            shutil.rmtree(build, ignore_errors=True)
    rn.time_start(REPO, "first start (may rebuild lossviz after a change)")
    starts = [warm_start() for _ in range(warm_starts())]
    for i, what in enumerate(["lossviz loaded", "the first variable defined"]):
        times = sorted(s[i] for s in starts)
        rows.append((f"warm, kernel start -> {what}: best of {len(times)}", times[0]))
        if len(times) > 2:
            rows.append((f"warm, kernel start -> {what}: median of {len(times)}", times[len(times) // 2]))
            # The nearest-rank 90th percentile: 9th of 10.
            rows.append((f"warm, kernel start -> {what}: 90th percentile of {len(times)}", times[max(0, -(-9 * len(times) // 10) - 1)]))

    small = small_settings()
    os.environ.update(small)
    path = os.path.join(REPO, "notebooks", "ja", "loss_functions.ipynb")
    nb = nbformat.read(path, as_version=4)
    start = time.monotonic()
    rn.execute(nb, os.path.dirname(path))
    settings = ", ".join(f"{k}={v}" for k, v in small.items())
    rows.append((f"run all of ja/loss_functions.ipynb ({settings})", time.monotonic() - start))
    problems = [e for c in nb.cells if c.cell_type == "code" for e in rn.errors_in(c)]
    if problems:
        sys.exit(f"the notebook failed: {problems[0].evalue}")

    print("\n| | seconds |\n|---|---|")
    for label, seconds in rows:
        print(f"| {label} | {seconds:.1f} |")


if __name__ == "__main__":
    main()
