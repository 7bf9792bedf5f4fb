"""Executes the lesson's notebooks with the "Rust (lossviz)" kernel, headless.

  run_notebooks.py --prebuild REPO   build lossviz inside the kernel once; print start times
  run_notebooks.py --test REPO       run every notebook and check it (kernel-setup.sh test
                                     sets LOSSVIZ_* to small settings first)
  run_notebooks.py --prefill REPO quick|full|both
                                     run the lesson and the exercise at those settings, so
                                     that every training their cells do lands in LOSSVIZ_RUNS
                                     (a class's cache: kernel-setup.sh prefill)
  run_notebooks.py --budget REPO [--class DIR] [--side-by-side] [--full] [--every-cell]
                   [--only lesson|exercise]
                                     time the class's core path (quick settings, no cell
                                     tagged "optional") with empty caches, then with the
                                     cache that filled as the class's; with --class, only
                                     the latter, against DIR; side by side, the lesson and
                                     the exercise at once (with OMP_NUM_THREADS=1: the hub's
                                     one thread per kernel, two students on two cores);
                                     --full: at the full settings; --every-cell: the
                                     optional cells too; --only: one of the two notebooks

A notebook runs with its own folder as the working directory (so its relative `:dep` path
resolves), and its executed copy is written to a temporary folder, never into git.
"""
import glob
import json
import os
import re
import sys
import tempfile
import time

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError

KERNEL = "lossviz-rust"
CELL_TIMEOUT = 900
# A notebook run as a student runs it (the prefill and the budget) waits for each cell as long
# as the student would: one training of the lesson at the original's settings takes 18 minutes
# on two cores, past CELL_TIMEOUT, which is for the tests' small settings.
STUDENT_CELL_TIMEOUT = 6 * 3600
# A kernel answers kernel_info within seconds; one that has not after a minute has stalled
# (issue 23: evcxr's start-up stall), and waiting longer never helped.
START_TIMEOUT = 60
# Kernels started again after such a stall, each printed. The notebooks still run to the end,
# but the test fails: with zeromq 0.7 under evcxr no start stalled in hundreds
# (BENCHMARKS.md "Kernel starts"), so one that does is a regression.
stalled_starts = []


def stall_problems():
    return [f"a kernel started for {cwd} did not answer in {START_TIMEOUT} s and was restarted "
            "(evcxr's start-up stall, issue 23)" for cwd in stalled_starts]


def code_notebook(*cells):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    return nb


def execute(nb, cwd, allow_errors=False, timeout=CELL_TIMEOUT):
    """Runs every cell in a new kernel. A kernel that never answers its first request is
    shut down and started once more, as a student would restart it. What lossviz's run cache
    loaded and trained while a cell ran (the JSON lines it appends to LOSSVIZ_EVENTS) lands in
    that cell's metadata as `lossviz_runs`: what the checks and the budget count."""
    fd, events = tempfile.mkstemp(prefix="lossviz-events-", suffix=".jsonl")
    os.close(fd)
    os.environ["LOSSVIZ_EVENTS"] = events
    read_to = 0

    def collect_runs(cell, **_):
        nonlocal read_to
        with open(events) as f:
            f.seek(read_to)
            new = f.read()
            read_to = f.tell()
        cell.metadata["lossviz_runs"] = [json.loads(line) for line in new.splitlines() if line.strip()]

    try:
        for attempt in (1, 2):
            client = NotebookClient(
                nb, kernel_name=KERNEL, timeout=timeout, startup_timeout=START_TIMEOUT,
                allow_errors=allow_errors, resources={"metadata": {"path": cwd}},
                on_cell_executed=collect_runs,
            )
            try:
                client.execute()
                return nb
            except RuntimeError as e:
                # nbclient has shut the silent kernel down already; no cell has run.
                if attempt == 2 or "didn't respond" not in str(e):
                    raise
                stalled_starts.append(cwd)
                print(f"a new kernel did not answer in {START_TIMEOUT} s (start-up stall); "
                      f"starting another (restart {len(stalled_starts)})", flush=True)
    finally:
        os.unlink(events)


def text_of(cell):
    parts = []
    for out in cell.get("outputs", []):
        if out.output_type == "stream":
            parts.append(out.text)
        elif out.output_type == "error":
            parts.append(f"{out.ename}: {out.evalue}\n" + "\n".join(out.get("traceback", [])))
        elif "text/plain" in out.get("data", {}):
            parts.append(out.data["text/plain"])
    return "".join(parts)


def errors_in(cell):
    return [o for o in cell.get("outputs", []) if o.output_type == "error"]


def runs_of(cells, event):
    """How many runs the cells' kernel `event`-ed ("trained" or "loaded"), from `lossviz_runs`."""
    return sum(run["event"] == event for c in cells for run in c.get("metadata", {}).get("lossviz_runs", []))


def load_lossviz(repo):
    """The first cell of a generated notebook: lossviz from this checkout."""
    crate = os.path.join(repo, "crate")
    return f':dep lossviz = {{ path = "{crate}" }}\nuse lossviz::prelude::*;'


def time_start(repo, label):
    """Seconds from starting a fresh kernel to `lossviz` loaded and usable."""
    nb = code_notebook(load_lossviz(repo) + '\nprintln!("lossviz loaded");')
    start = time.monotonic()
    execute(nb, repo)
    seconds = time.monotonic() - start
    out = text_of(nb.cells[0])
    if "lossviz loaded" not in out:
        sys.exit(f"the kernel did not load lossviz:\n{out}")
    print(f"kernel start -> lossviz loaded ({label}): {seconds:.1f} s", flush=True)
    return seconds


def locked_versions(lock_path):
    """{crate name: set of versions} from a Cargo.lock."""
    import tomllib
    with open(lock_path, "rb") as f:
        packages = tomllib.load(f).get("package", [])
    versions = {}
    for package in packages:
        versions.setdefault(package["name"], set()).add(package["version"])
    return versions


def lock_disagreements(repo, build_dir):
    """Crates both locks hold at different versions, and how many agree."""
    kernel_lock = os.path.join(build_dir, "Cargo.lock")
    if not os.path.isfile(kernel_lock):
        return [f"the kernel's build folder {build_dir} has no Cargo.lock"], 0
    ours, kernels = locked_versions(os.path.join(repo, "Cargo.lock")), locked_versions(kernel_lock)
    shared = sorted(set(ours) & set(kernels))
    wrong = [f"{name}: kernel {sorted(kernels[name])}, Cargo.lock {sorted(ours[name])}"
             for name in shared if kernels[name] != ours[name]]
    if "lossviz" not in kernels:
        wrong.append(f"the kernel's lock in {build_dir} does not hold lossviz at all")
    return wrong, len(shared)


def check_locked_versions(repo):
    """The kernel compiles the versions Cargo.lock pins, also after a cell adds a `:dep` of
    its own (evcxr then rewrites the lock from scratch, so only the kernel's registry holds
    the versions: see install_kernel_registry in scripts/kernel.sh)."""
    nb = code_notebook(
        load_lossviz(repo),
        ':dep itoa = "1"',
        'println!("{}", itoa::Buffer::new().format(42));\n'
        'println!("build folder: {}", std::env::var("EVCXR_TMPDIR").unwrap_or_default());',
    )
    execute(nb, repo)
    out = text_of(nb.cells[2])
    if "42" not in out or "build folder: /" not in out:
        return [f"the kernel did not build lossviz with an added `:dep itoa`:\n{out}"]
    build_dir = out.split("build folder: ", 1)[1].strip()
    wrong, agreeing = lock_disagreements(repo, build_dir)
    if wrong:
        return ["the kernel compiled other versions than Cargo.lock pins:\n  " + "\n  ".join(wrong)]
    print(f"kernel's Cargo.lock after a `:dep` of a cell's own agrees with the repository's "
          f"for all {agreeing} crates both hold: ok", flush=True)
    return []


def check_recovery(repo, failing_cells=10):
    """Cells given a bad setting print lossviz's error, every time; later cells keep the
    variables. Several failing cells, because a lost error message was intermittent: before
    the kernel's prelude sent stderr through stdout, 10-20 % of them came back empty."""
    bad_call = "Experiment::new(TrainConfig { lr: -1.0, ..config.clone() }, device)"
    nb = code_notebook(
        load_lossviz(repo),
        "let config = TrainConfig::default();\nlet device = Device::Cpu;\n"
        # What the error says, asked of lossviz rather than written here.
        f"println!(\"{{:?}}\", {bad_call}.err().expect(\"lr = -1 was accepted\"));",
        *[f"let broken = {bad_call}?;"] * failing_cells,
        "println!(\"still here: epochs = {}\", config.epochs);",
    )
    execute(nb, repo, allow_errors=True)
    expected, bad, after = text_of(nb.cells[1]).strip(), nb.cells[2:-1], nb.cells[-1]
    if not expected or errors_in(nb.cells[1]):
        return [f"lossviz did not refuse lr = -1:\n{text_of(nb.cells[1])}"]
    silent = [i for i, cell in enumerate(bad) if expected not in text_of(cell)]
    if silent:
        shown = "\n".join(f"  failing cell {i}: {text_of(bad[i])!r}" for i in silent)
        return [f"{len(silent)} of {failing_cells} bad-setting cells did not print lossviz's error:\n{shown}"]
    if any("panicked" in text_of(cell) for cell in bad):
        return ["a bad-setting cell panicked instead of returning an error"]
    if errors_in(after) or "still here: epochs = 20" not in text_of(after):
        return [f"the cell after the errors lost the earlier variables:\n{text_of(after)}"]
    print(f"failing cells keep the lesson alive and show their errors ({failing_cells} of {failing_cells}): ok", flush=True)
    return []


def check_verdict(cell):
    """What a cell tagged "check" showed: lossviz's comparison marks its HTML with
    data-lossviz-check="pass" or "fail"; "no verdict" when the cell showed neither (it
    stopped before, e.g. on an error, which evcxr prints without failing the cell)."""
    for out in cell.get("outputs", []):
        found = re.search(r'data-lossviz-check="(\w+)"', out.get("data", {}).get("text/html", ""))
        if found:
            return found.group(1)
    return "no verdict"


# Cells tagged so must show this kind of output.
TAGGED_OUTPUTS = {"scatter": "image/png", "animation": "image/gif", "table": "text/html"}


def check_restart(path, name, first):
    """The notebook again in a new kernel, as after a restart: every cell tagged "kept" must
    load from the run cache the first run (`first`, executed) filled every run it had then,
    and train none."""
    nb = nbformat.read(path, as_version=4)
    start = time.monotonic()
    try:
        execute(nb, os.path.dirname(path))
    except (CellExecutionError, CellTimeoutError) as e:
        return [f"{name}, run again: a cell failed:\n{e}"]
    problems, kept = [], 0
    for i, (before, again) in enumerate(zip(first.cells, nb.cells)):
        if "kept" not in again.metadata.get("tags", []):
            continue
        had = runs_of([before], "trained") + runs_of([before], "loaded")
        loaded, trained = runs_of([again], "loaded"), runs_of([again], "trained")
        kept += loaded
        if had == 0 or loaded != had or trained:
            problems.append(f"{name} cell {i}, run again: {loaded} of {had} runs loaded, {trained} trained again")
    if not problems:
        print(f"{name} after a restart: all {kept} runs of its cells tagged \"kept\" loaded from the "
              f"cache, whole notebook in {time.monotonic() - start:.0f} s", flush=True)
    return problems


def check_notebook(path, out_dir):
    """Runs one notebook; returns a list of problems."""
    nb = nbformat.read(path, as_version=4)
    name = os.path.relpath(path, os.path.dirname(os.path.dirname(path)))
    # A run cache per notebook, away from the student's: each notebook trains its own runs.
    os.environ["LOSSVIZ_RUNS"] = os.path.join(out_dir, "runs-" + name.replace(os.sep, "-"))
    start = time.monotonic()
    problems = []
    try:
        execute(nb, os.path.dirname(path))
    except CellTimeoutError as e:
        problems.append(f"{name}: a cell timed out after {CELL_TIMEOUT} s: {e}")
    except CellExecutionError as e:
        problems.append(f"{name}: a cell failed:\n{e}")
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        for err in errors_in(cell):
            problems.append(f"{name} cell {i}: error output {err.ename}: {err.evalue}")
        for tag, mime in TAGGED_OUTPUTS.items():
            if tag in cell.metadata.get("tags", []):
                if not any(mime in o.get("data", {}) for o in cell.get("outputs", [])):
                    problems.append(f"{name} cell {i}: a {tag} cell produced no {mime} output")
        if "check" in cell.metadata.get("tags", []) and check_verdict(cell) != "pass":
            problems.append(f"{name} cell {i}: its check did not pass ({check_verdict(cell)}):\n{text_of(cell)}")
        if "repeats" in cell.metadata.get("tags", []) and runs_of([cell], "loaded") == 0:
            problems.append(f"{name} cell {i}: it repeats earlier cells' configurations, but loaded none "
                            f"of its runs from the cache ({runs_of([cell], 'trained')} trained)")
    if any("kept" in c.metadata.get("tags", []) for c in nb.cells) and not problems:
        problems += check_restart(path, name, nb)
    target = os.path.join(out_dir, name.replace(os.sep, "__"))
    nbformat.write(nb, target)
    print(f"{name}: {'ok' if not problems else 'FAILED'} in {time.monotonic() - start:.0f} s "
          f"(executed copy: {target})", flush=True)
    return problems


# The line of each notebook that chooses between its quick settings and the original's,
# and that line for each choice: the prefill runs the notebooks as a student would, with
# that line changed.
MODE_LINES = {
    "loss_functions.ipynb": {"quick": "let quick = true;", "full": "let quick = false;"},
    "exercise.ipynb": {"quick": "let quick = true;", "full": "let quick = false;"},
}


NOTEBOOK_WORDS = {"loss_functions.ipynb": "lesson", "exercise.ipynb": "exercise"}


def cell_seconds(cell):
    """How long a cell ran, from the timing nbclient records in its metadata."""
    from datetime import datetime
    timing = cell.get("metadata", {}).get("execution", {})
    begin, end = timing.get("iopub.execute_input"), timing.get("shell.execute_reply")
    if not (begin and end):
        return None
    parse = lambda t: datetime.fromisoformat(t.replace("Z", "+00:00"))
    return (parse(end) - parse(begin)).total_seconds()


def with_mode(repo, name, mode, core_only=False):
    """The Japanese notebook `name` with its mode line set to `mode`; without the cells tagged
    "optional" when only the class's core path is wanted."""
    lines = MODE_LINES[name]
    path = os.path.join(repo, "notebooks", "ja", name)
    nb = nbformat.read(path, as_version=4)
    chooser = [c for c in nb.cells if c.cell_type == "code" and any(l in c.source for l in lines.values())]
    if len(chooser) != 1:
        sys.exit(f"{path}: expected one cell with `{lines['quick']}` or `{lines['full']}`, found {len(chooser)}")
    for line in lines.values():
        chooser[0].source = chooser[0].source.replace(line, lines[mode])
    if core_only:
        nb.cells = [c for c in nb.cells if "optional" not in c.metadata.get("tags", [])]
    return nb, path


def run_timed(repo, name, mode, label, core_only=False):
    """Runs a notebook as a student would, printing what each cell took; its seconds."""
    nb, path = with_mode(repo, name, mode, core_only)
    start = time.monotonic()
    try:
        execute(nb, os.path.dirname(path), timeout=STUDENT_CELL_TIMEOUT)
    except (CellExecutionError, CellTimeoutError) as e:
        # What ran until then still tells how long it took, and the copy shows why it stopped.
        print_cells(nb, label, mode, name)
        shown = "".join(text_of(c) for c in nb.cells if c.cell_type == "code" and errors_in(c))
        sys.exit(f"{label}: {name} ({mode}) failed:\n{e}\n{shown[-3000:]}")
    seconds = time.monotonic() - start
    print(f"{label}: {name} ({mode}) in {seconds:.0f} s: {runs_of(nb.cells, 'trained')} training(s), "
          f"{runs_of(nb.cells, 'loaded')} loaded", flush=True)
    print_cells(nb, label, mode, name)
    return seconds


def print_cells(nb, label, mode, name):
    """Each cell's seconds, and where the executed copy is kept."""
    for i, cell in enumerate(nb.cells):
        cell_s = cell_seconds(cell)
        if cell.cell_type == "code" and cell_s is not None and cell_s >= 1:
            runs = f"{runs_of([cell], 'trained')} trained, {runs_of([cell], 'loaded')} loaded"
            print(f"  cell {i:>2}: {cell_s:6.0f} s  ({runs})  {cell.source.splitlines()[0][:60]}", flush=True)
    copy = os.path.join(tempfile.gettempdir(), f"lossviz-{label}-{mode}-{name}")
    nbformat.write(nb, copy)
    print(f"  executed copy: {copy}", flush=True)


def prefill(repo, modes):
    """Every training of the (Japanese) lesson and exercise, into LOSSVIZ_RUNS. The English
    notebooks train the same configurations, so their cells find these entries too."""
    runs = os.environ.get("LOSSVIZ_RUNS")
    if not runs:
        sys.exit("--prefill needs LOSSVIZ_RUNS: the folder to fill")
    for mode in modes:
        for name in MODE_LINES:
            run_timed(repo, name, mode, "prefill")
    print(f"prefill: the runs are in {runs}", flush=True)


def budget(repo, class_runs=None, side_by_side=False, mode="quick", core_only=True, names=tuple(MODE_LINES)):
    """What a class's core path (the lesson and the exercise at quick settings, without the
    cells tagged "optional") costs on this machine: first with empty caches, which fills one
    that then serves as the class's cache for the second pass. With `class_runs`, only the
    second pass, against that class cache. Side by side, the two notebooks run at once in two
    kernels, as two students on a hub share its cores (with OMP_NUM_THREADS=1 and two cores:
    each notebook's time is what it takes there at one thread per kernel)."""
    import platform
    threads = os.environ.get("OMP_NUM_THREADS", str(os.cpu_count()))
    machine = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.machine())
    passes = [] if class_runs else [("without a cache", None)]
    filled = class_runs or tempfile.mkdtemp(prefix="lossviz-budget-class-")
    passes.append(("with the class's cache", filled))
    results = []
    for pass_name, class_dir in passes:
        os.environ["LOSSVIZ_RUNS"] = tempfile.mkdtemp(prefix="lossviz-budget-own-") if class_dir else filled
        if class_dir:
            os.environ["LOSSVIZ_CLASS_RUNS"] = class_dir
        else:
            os.environ.pop("LOSSVIZ_CLASS_RUNS", None)
        label = "budget-" + ("class-cache" if class_dir else "no-cache")
        jobs = [(repo, name, mode, label, core_only) for name in names]
        if side_by_side:
            import multiprocessing
            with multiprocessing.Pool(len(jobs)) as pool:
                parts = pool.starmap(run_timed, jobs)
        else:
            parts = [run_timed(*job) for job in jobs]
        each = " + ".join(f"{NOTEBOOK_WORDS[name]} {s:.0f} s" for name, s in zip(names, parts))
        results.append(f"{pass_name}: {each} = {sum(parts) / 60:.1f} min")
    path = "core path" if core_only else "every cell"
    print(f"class budget ({path} at {mode} settings; {machine}, {os.cpu_count()} cores, "
          f"{threads} thread(s) per kernel{', the two notebooks side by side' if side_by_side else ''}):\n  "
          + "\n  ".join(results), flush=True)
    if not class_runs:
        print(f"  the class's cache it filled: {filled}", flush=True)


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "--prefill" and sys.argv[3] in ("quick", "full", "both"):
        return prefill(os.path.abspath(sys.argv[2]), ["quick", "full"] if sys.argv[3] == "both" else [sys.argv[3]])
    if sys.argv[1:2] == ["--budget"] and len(sys.argv) >= 3:
        import argparse
        parser = argparse.ArgumentParser(prog="run_notebooks.py --budget REPO", usage=__doc__)
        parser.add_argument("--class", dest="class_runs")
        parser.add_argument("--side-by-side", action="store_true")
        parser.add_argument("--full", action="store_true")
        parser.add_argument("--every-cell", action="store_true")
        parser.add_argument("--only", choices=sorted(NOTEBOOK_WORDS.values()))
        args = parser.parse_args(sys.argv[3:])
        names = [n for n, word in NOTEBOOK_WORDS.items() if args.only in (None, word)]
        return budget(os.path.abspath(sys.argv[2]), args.class_runs and os.path.abspath(args.class_runs),
                      args.side_by_side, "full" if args.full else "quick", not args.every_cell, names)
    if len(sys.argv) != 3 or sys.argv[1] not in ("--prebuild", "--test"):
        sys.exit(__doc__)
    mode, repo = sys.argv[1], os.path.abspath(sys.argv[2])
    if mode == "--prebuild":
        time_start(repo, "first start after a change")
        time_start(repo, "warm")
        if stalled_starts:
            sys.exit("\n".join(stall_problems()))
        return
    problems = check_locked_versions(repo) + check_recovery(repo)
    out_dir = tempfile.mkdtemp(prefix="lossviz-notebooks-")
    notebooks = sorted(glob.glob(os.path.join(repo, "notebooks", "**", "*.ipynb"), recursive=True))
    if not notebooks:
        problems.append("no notebooks found under notebooks/")
    for path in notebooks:
        problems += check_notebook(path, out_dir)
    print(f"kernel starts that stalled and were restarted: {len(stalled_starts)}", flush=True)
    problems += stall_problems()
    if problems:
        print("\n".join(["", "notebook problems:"] + problems), file=sys.stderr)
        sys.exit(1)
    print(f"all {len(notebooks)} notebooks ran cleanly", flush=True)


if __name__ == "__main__":
    main()
