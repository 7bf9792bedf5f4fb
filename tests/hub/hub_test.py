"""A class on one server: JupyterHub from `./kernel-setup.sh hub`, three real students at once.

usage (as root, with the hub's virtualenv's Python):
    PREFIX/cache/venv/bin/python tests/hub/hub_test.py REPO PREFIX [--slurm]

PREFIX must hold the shared set-up (`./kernel-setup.sh hub --prefix PREFIX --install-only`).
The test makes three Unix users, starts `./kernel-setup.sh hub` on free loopback ports with
a password authenticator for them (PAM in production), and drives the hub's REST API and each
student's Jupyter server (kernels over their websocket) as JupyterLab would:

1. three students log in and run the lesson notebook from their own homes, all at once, at
   the small settings: every cell must finish without an error output, the `scatter` cells
   with a PNG; the notebooks are saved back with their outputs;
2. one student runs it again alone (after clearing their run cache): the wall-time baseline;
3. that student's kernel is killed mid-training: the other two kernels must still answer with
   their variables, and their run caches must be untouched;
4. one student logs out and in again: their notebook (with outputs) and their cached runs are
   there, and the lesson's trainings load from the cache;
5. isolation: a student cannot read another's notebooks or run cache, nor the hub's secrets;
   a third kernel for one student is refused (the limit is 2), and kernels run with the
   configured one libtorch thread;
6. the class's cache: filled while the hub runs, then every lesson training of all three
   students loads from it, none can write to it, and a changed setting trains into the
   student's own cache;
7. the set-up refuses to run over the running hub's files, and stopping the hub (TERM)
   leaves no process of any student.
Prints each student's memory and disk and the wall times. Every process it started, and the
users, are removed at the end, also on failure.

With --slurm (run by tests/hub/slurm_spawner_test.sh inside a one-node Slurm cluster, with
SLURM_CONF set): one student's server is started by `./kernel-setup.sh hub --slurm` as a Slurm
job (batchspawner's SlurmSpawner); the job must run as the student, the lesson's first cells
(lossviz loaded, the device) must run on it, and stopping the server must end the job.
"""
import asyncio
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest
from tornado.websocket import websocket_connect

REPO, PREFIX = (os.path.abspath(a) for a in sys.argv[1:3])
ON_SLURM = "--slurm" in sys.argv[3:]
STUDENTS = ["lvslurm1"] if ON_SLURM else ["lvstudent1", "lvstudent2", "lvstudent3"]
NOTEBOOK = "lossviz/notebooks/ja/loss_functions.ipynb"
SMALL = {"LOSSVIZ_DATASET": "mnist", "LOSSVIZ_EPOCHS": "1", "LOSSVIZ_LIMIT": "1000"}
CELL_TIMEOUT = 900
TOKEN = secrets.token_hex(32)
MARK = "lossviz hub test"
HEADERS = {"Authorization": f"token {TOKEN}"}
http = AsyncHTTPClient(defaults={"request_timeout": 120})


def say(*args):
    print("[hub-test]", *args, file=sys.stderr, flush=True)


class Failed(Exception):
    pass


class Stalled(Exception):
    """The kernel never started a cell: not even the "busy" status that evcxr publishes on
    receiving a request came within a minute. evcxr 0.22 does this now and then at start-up
    (its first cell stays [*]; seen in one of the hub test's CI runs, one kernel of three,
    and once in the browser test); Kernel > Restart cures it, so the test does what a student
    would, once, and says so."""


STALLS = []


def free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


PORT, API_PORT, PROXY_API_PORT = free_ports(3)
BASE = f"http://127.0.0.1:{PORT}"


async def api(method, path, body=None, expect=(200, 201, 202, 204)):
    req = HTTPRequest(BASE + path, method=method, headers=HEADERS, body=None if body is None else json.dumps(body),
                      allow_nonstandard_methods=True)
    try:
        resp = await http.fetch(req, raise_error=False)
    except OSError as e:
        raise Failed(f"{method} {path}: {e}")
    if resp.code not in expect:
        raise Failed(f"{method} {path}: HTTP {resp.code} {resp.body[:400]!r}")
    return json.loads(resp.body) if resp.body else None


def home(user):
    return pwd.getpwnam(user).pw_dir


def as_user(user, *cmd):
    return subprocess.run(["runuser", "-u", user, "--", *cmd], capture_output=True, text=True)


def user_memory_mb(user):
    out = subprocess.run(["ps", "-u", user, "-o", "rss="], capture_output=True, text=True).stdout
    return sum(int(x) for x in out.split()) / 1024


def disk_mb(path):
    out = subprocess.run(["du", "-sm", path], capture_output=True, text=True).stdout.split()
    return int(out[0]) if out else 0


async def start_server(user):
    await api("POST", f"/hub/api/users/{user}/server", expect=(201, 202, 400))
    for _ in range(240):
        info = await api("GET", f"/hub/api/users/{user}")
        if info["servers"].get("", {}).get("ready"):
            return
        await asyncio.sleep(0.5)
    raise Failed(f"{user}'s server did not become ready in 120 s")


async def stop_server(user):
    await api("DELETE", f"/hub/api/users/{user}/server", expect=(202, 204))
    for _ in range(120):
        info = await api("GET", f"/hub/api/users/{user}")
        if "" not in info["servers"]:
            return
        await asyncio.sleep(0.5)
    raise Failed(f"{user}'s server did not stop")


class Kernel:
    """A kernel of a student's server, driven over its websocket as JupyterLab does."""

    def __init__(self, user, kernel_id):
        self.user, self.id, self.session = user, kernel_id, uuid.uuid4().hex

    @classmethod
    async def open(cls, user, path=NOTEBOOK):
        body = {"path": path, "type": "notebook", "name": "", "kernel": {"name": "lossviz-rust"}}
        session = await api("POST", f"/user/{user}/api/sessions", body)
        kernel = cls(user, session["kernel"]["id"])
        await kernel.connect()
        return kernel

    async def connect(self):
        url = f"ws://127.0.0.1:{PORT}/user/{self.user}/api/kernels/{self.id}/channels?session_id={self.session}"
        self.ws = await websocket_connect(HTTPRequest(url, headers=HEADERS))

    async def restart(self):
        self.ws.close()
        await api("POST", f"/user/{self.user}/api/kernels/{self.id}/restart")
        await self.connect()

    async def run(self, code, timeout=CELL_TIMEOUT):
        """Executes one cell; returns its outputs in nbformat's shape."""
        msg_id = uuid.uuid4().hex
        msg = {
            "header": {"msg_id": msg_id, "msg_type": "execute_request", "session": self.session, "username": self.user,
                       "version": "5.3", "date": ""},
            "parent_header": {}, "metadata": {}, "channel": "shell",
            "content": {"code": code, "silent": False, "store_history": True, "user_expressions": {}, "allow_stdin": False,
                        "stop_on_error": True},
        }
        await self.ws.write_message(json.dumps(msg))
        outputs, deadline, started = [], time.monotonic() + timeout, False
        start_by = time.monotonic() + 60
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise Failed(f"{self.user}: a cell ran past {timeout} s:\n{code[:200]}")
            if not started:
                left = min(left, start_by - time.monotonic())
                if left <= 0:
                    raise Stalled(f"{self.user}: the kernel did not start a cell in 60 s:\n{code[:200]}")
            try:
                raw = await asyncio.wait_for(self.ws.read_message(), left)
            except asyncio.TimeoutError:
                continue
            if raw is None:
                raise Failed(f"{self.user}: the kernel's connection closed during:\n{code[:200]}")
            m = json.loads(raw)
            if m.get("parent_header", {}).get("msg_id") != msg_id or m.get("channel") != "iopub":
                continue
            started = True
            kind, content = m["msg_type"], m["content"]
            if kind == "stream":
                outputs.append({"output_type": "stream", "name": content["name"], "text": content["text"]})
            elif kind in ("display_data", "execute_result"):
                out = {"output_type": kind, "data": content["data"], "metadata": content.get("metadata", {})}
                if kind == "execute_result":
                    out["execution_count"] = content.get("execution_count")
                outputs.append(out)
            elif kind == "error":
                outputs.append({"output_type": "error", "ename": content["ename"], "evalue": content["evalue"],
                                "traceback": content["traceback"]})
            elif kind == "status" and content["execution_state"] == "idle":
                return outputs


async def run_cells(kernel, codes):
    """Runs cells in a fresh kernel, restarting it once if it stalls at the start (see Stalled)."""
    try:
        return [await kernel.run(c) for c in codes]
    except Stalled as stall:
        say(f"{stall}; restarting the kernel")
        STALLS.append(f"{kernel.user}, cell of {codes[0][:30]!r}")
        await kernel.restart()
        return [await kernel.run(c) for c in codes]


def text_of(outputs):
    return "".join(o.get("text", "") for o in outputs if o["output_type"] == "stream") + "".join(
        o["data"].get("text/plain", "") for o in outputs if "data" in o)


async def run_notebook(user, label):
    """Runs every code cell of the student's own copy of the lesson; saves it with outputs.
    Returns (seconds, seconds until the `:dep` cell had loaded lossviz, all stream text)."""
    model = await api("GET", f"/user/{user}/api/contents/{NOTEBOOK}?content=1")
    nb = model["content"]
    start = time.monotonic()
    kernel = await Kernel.open(user)
    first_cell, texts, restarted = None, [], False
    i = -1
    while i + 1 < len(nb["cells"]):
        i += 1
        cell = nb["cells"][i]
        if cell["cell_type"] != "code":
            continue
        try:
            outputs = await kernel.run(cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"]))
        except Stalled as stall:
            if restarted:
                raise Failed(f"{stall} (again, after a restart)")
            say(f"{user} ({label}): {stall}; restarting the kernel and running the notebook from the top")
            STALLS.append(f"{user} ({label}), cell {i}")
            await kernel.restart()
            restarted, first_cell, texts, i = True, None, [], -1
            continue
        first_cell = first_cell or time.monotonic() - start
        cell["outputs"] = outputs
        errors = [o for o in outputs if o["output_type"] == "error"]
        if errors:
            raise Failed(f"{user} ({label}) cell {i}: {errors[0]['ename']}: {errors[0]['evalue']}\n{text_of(outputs)[-800:]}")
        if "scatter" in cell.get("metadata", {}).get("tags", []) and not any("image/png" in o.get("data", {}) for o in outputs):
            raise Failed(f"{user} ({label}) cell {i} is tagged scatter but shows no PNG:\n{text_of(outputs)[-800:]}")
        texts.append(text_of(outputs))
    await api("PUT", f"/user/{user}/api/contents/{NOTEBOOK}", {"type": "notebook", "format": "json", "content": nb})
    seconds = time.monotonic() - start
    say(f"{user} ({label}): lesson ran in {seconds:.0f} s, lossviz loaded after {first_cell:.1f} s")
    return seconds, first_cell, "\n".join(texts), kernel


def runs_of(user):
    runs = os.path.join(home(user), ".cache", "lossviz", "runs")
    return sorted(d for d in os.listdir(runs) if os.path.isfile(os.path.join(runs, d, "run.json"))) if os.path.isdir(runs) else []


async def scenario():
    # 1. three students at once.
    t0 = time.monotonic()
    await asyncio.gather(*(start_server(u) for u in STUDENTS))
    say(f"three servers ready in {time.monotonic() - t0:.1f} s")
    t0 = time.monotonic()
    results = await asyncio.gather(*(run_notebook(u, "together") for u in STUDENTS))
    together = time.monotonic() - t0
    kernels = {u: r[3] for u, r in zip(STUDENTS, results)}
    memory = {u: user_memory_mb(u) for u in STUDENTS}
    for u in STUDENTS:
        if len(runs_of(u)) < 3:
            raise Failed(f"{u}'s run cache holds {len(runs_of(u))} runs, expected the lesson's 3 or more")

    # 2. one alone, from an empty run cache, as the baseline.
    first = STUDENTS[0]
    shutil.rmtree(os.path.join(home(first), ".cache", "lossviz", "runs"))
    for k in await api("GET", f"/user/{first}/api/sessions"):
        await api("DELETE", f"/user/{first}/api/sessions/{k['id']}")
    alone, _, _, _ = await run_notebook(first, "alone")

    # 3. killed mid-training: the others keep their kernels, variables and runs.
    for k in await api("GET", f"/user/{first}/api/sessions"):
        await api("DELETE", f"/user/{first}/api/sessions/{k['id']}")
    shutil.rmtree(os.path.join(home(first), ".cache", "lossviz", "runs"))
    before = {u: runs_of(u) for u in STUDENTS[1:]}
    victim = await Kernel.open(first)
    nb = (await api("GET", f"/user/{first}/api/contents/{NOTEBOOK}?content=1"))["content"]
    code = ["".join(c["source"]) if not isinstance(c["source"], str) else c["source"] for c in nb["cells"] if c["cell_type"] == "code"]
    training = next(i for i, c in enumerate(code) if "train" in c and "Experiment::new" in c)
    await run_cells(victim, code[:training])
    running = asyncio.ensure_future(victim.run(code[training], timeout=120))
    for _ in range(100):
        await asyncio.sleep(0.2)
        if subprocess.run(["pgrep", "-u", first, "-f", "evcxr"], capture_output=True).returncode == 0:
            break
    await asyncio.sleep(2)
    subprocess.run(["pkill", "-KILL", "-u", first, "-f", "evcxr"])
    say(f"killed {first}'s kernel in the middle of its first training")
    try:
        await running
    except (Failed, asyncio.TimeoutError):
        pass
    for u in STUDENTS[1:]:
        out = text_of(await kernels[u].run('println!("still here: {} test images", data.test.len());'))
        if "still here: 1000 test images" not in out:
            raise Failed(f"{u}'s kernel lost its variables after {first}'s was killed: {out!r}")
        if runs_of(u) != before[u]:
            raise Failed(f"{u}'s run cache changed when {first}'s kernel was killed")
    say("the other two kernels kept running with their variables and runs")

    # 4. log out and in again.
    second = STUDENTS[1]
    await stop_server(second)
    await start_server(second)
    model = await api("GET", f"/user/{second}/api/contents/{NOTEBOOK}?content=1")
    saved = sum(len(c.get("outputs", [])) for c in model["content"]["cells"] if c["cell_type"] == "code")
    if saved == 0:
        raise Failed(f"{second}'s notebook came back without the outputs saved before logging out")
    _, relogin_first, texts, _ = await run_notebook(second, "after logging in again")
    if texts.count("loaded from the cache") < 3:
        raise Failed(f"after logging in again {second}'s trainings did not load from the cache:\n{texts[-1500:]}")

    # 5. limits and isolation.
    third = STUDENTS[2]
    threads = text_of(await kernels[third].run('println!("threads {}", tch::get_num_threads());'))
    if "threads 1" not in threads:
        raise Failed(f"a kernel runs with {threads!r}, not the configured 1 thread")
    await Kernel.open(third, "lossviz/notebooks/ja/exercise.ipynb")  # its second kernel
    refused = await api("POST", f"/user/{third}/api/sessions",
                        {"path": "lossviz/notebooks/en/exercise.ipynb", "type": "notebook", "name": "", "kernel": {"name": "lossviz-rust"}},
                        expect=(403, 500))
    del refused
    for reader, owner in [(STUDENTS[0], STUDENTS[1]), (STUDENTS[2], STUDENTS[0])]:
        for path in [os.path.join(home(owner), NOTEBOOK), os.path.join(home(owner), ".cache", "lossviz", "runs")]:
            r = as_user(reader, "ls", "-l", path)
            if r.returncode == 0:
                raise Failed(f"{reader} can read {path}:\n{r.stdout}")
    # The check can fail: with the owner's folders opened to all, it must see the files.
    owner = STUDENTS[1]
    opened = [os.path.join(home(owner), "lossviz"), os.path.join(home(owner), ".cache")]
    subprocess.run(["chmod", "-R", "a+rX", home(owner), *opened], check=True)
    if as_user(STUDENTS[0], "ls", "-l", os.path.join(home(owner), NOTEBOOK)).returncode != 0:
        raise Failed("with the homes opened to all the isolation check still saw nothing: it cannot fail")
    subprocess.run(["chmod", "-R", "go-rwx", *opened], check=True)
    for secret in ["jupyterhub_cookie_secret", "proxy_auth_token"]:
        if as_user(STUDENTS[0], "cat", os.path.join(PREFIX, "hub", secret)).returncode == 0:
            raise Failed(f"a student can read the hub's {secret}")
    say("students cannot read each other's notebooks or run caches, nor the hub's secrets; a third kernel is refused")

    for u in STUDENTS:
        say(f"{u}: memory {memory[u]:.0f} MB with its lesson kernel, home {disk_mb(home(u))} MB on disk")
    say(f"wall time of the lesson: three students at once {together:.0f} s (each: "
        + ", ".join(f"{r[0]:.0f} s" for r in results) + f"), one alone {alone:.0f} s")
    await class_cache_scenario()
    if STALLS:
        say(f"kernels that never started a cell and were restarted (evcxr's start-up stall): {', '.join(STALLS)}")
    say("first kernel start of a new student (lossviz loaded): " + ", ".join(f"{r[1]:.1f} s" for r in results)
        + f"; after logging in again {relogin_first:.1f} s")


async def class_cache_scenario():
    """The lecturer fills the class's cache while the hub runs (`--prefill-only`, at the test's
    small settings); then the three students, their own caches emptied, run the lesson: every
    training must load from the class's cache and write nothing; none of them can write to it;
    and a setting a student changes trains into their own cache."""
    class_runs = os.path.join(PREFIX, "class-runs")
    t0 = time.monotonic()
    filled = subprocess.run([os.path.join(REPO, "kernel-setup.sh"), "hub", "--prefix", PREFIX, "--prefill-only", "quick"],
                            env=dict(os.environ, **SMALL), capture_output=True, text=True, timeout=3600)
    if filled.returncode != 0:
        raise Failed(f"filling the class's cache failed ({filled.returncode}):\n{(filled.stdout + filled.stderr)[-1500:]}")
    entries = [d for d in os.listdir(class_runs) if os.path.isfile(os.path.join(class_runs, d, "run.json"))]
    say(f"class's cache filled in {time.monotonic() - t0:.0f} s while the hub ran: {len(entries)} runs")
    nb = (await api("GET", f"/user/{STUDENTS[0]}/api/contents/{NOTEBOOK}?content=1"))["content"]
    trainings = sum("train_or_load(" in "".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
    for u in STUDENTS:
        for k in await api("GET", f"/user/{u}/api/sessions"):
            await api("DELETE", f"/user/{u}/api/sessions/{k['id']}")
        shutil.rmtree(os.path.join(home(u), ".cache", "lossviz", "runs"), ignore_errors=True)
    results = await asyncio.gather(*(run_notebook(u, "with the class's cache") for u in STUDENTS))
    for u, (seconds, _, texts, _) in zip(STUDENTS, results):
        loaded = texts.count("loaded from the class's cache (trained on ")
        if loaded != trainings or runs_of(u):
            raise Failed(f"{u}: {loaded} of the lesson's {trainings} trainings loaded from the class's cache, "
                         f"{len(runs_of(u))} runs written to their own:\n{texts[-1500:]}")
        for attempt in [["touch", os.path.join(class_runs, "mine")], ["rm", "-rf", os.path.join(class_runs, entries[0])]]:
            if as_user(u, *attempt).returncode == 0 or not os.path.isdir(os.path.join(class_runs, entries[0])):
                raise Failed(f"{u} could change the class's cache: {' '.join(attempt)} succeeded")
    say("three students loaded all " + str(trainings) + " lesson trainings from the class's cache ("
        + ", ".join(f"{r[0]:.0f} s" for r in results) + " for the whole lesson) and could not write to it")
    kernel = results[0][3]
    out = text_of(await kernel.run(
        "let mut mine = Experiment::new(TrainConfig { seed: 7, ..model_xent.config().clone() }, device)?;\n"
        "train_or_load(&mut mine, &data, print_progress)?;"))
    if "kept in the run cache" not in out or len(runs_of(STUDENTS[0])) != 1 or "class" in out:
        raise Failed(f"a changed setting did not train into the student's own cache:\n{out[-800:]}")
    say("a setting the student changed trained into their own cache")


def processes_of(user):
    out = subprocess.run(["ps", "-u", user, "-o", "pid=,args="], capture_output=True, text=True).stdout
    return [line.strip() for line in out.splitlines() if line.strip()]


def stop_hub(hub):
    """Re-running the set-up on the running hub's prefix is refused; then the hub is stopped
    as a service manager stops it (TERM to its process), and every student's server and
    kernel must go with it."""
    again = subprocess.run([os.path.join(REPO, "kernel-setup.sh"), "hub", "--prefix", PREFIX, "--install-only"],
                           capture_output=True, text=True, timeout=120)
    if again.returncode == 0 or "is running" not in again.stderr:
        raise Failed(f"the set-up ran over the running hub's prefix (exit {again.returncode}):\n{again.stderr[-800:]}")
    say("the set-up refuses to replace the files of a running hub: " + again.stderr.strip().splitlines()[-1][:160])
    with_kernels = [u for u in STUDENTS if any("evcxr" in p for p in processes_of(u))]
    if len(with_kernels) < 2:
        raise Failed(f"before stopping the hub only {with_kernels} run a kernel: the check needs students' kernels running")
    hub.send_signal(signal.SIGTERM)
    hub.wait(timeout=90)
    for _ in range(30):
        left = {u: processes_of(u) for u in STUDENTS if processes_of(u)}
        if not left:
            break
        time.sleep(1)
    else:
        raise Failed("30 s after the hub stopped, students' processes are still running:\n"
                     + "\n".join(f"  {u}: {p}" for u, ps in left.items() for p in ps))
    say(f"stopping the hub (TERM) ended every student's server and kernel ({', '.join(with_kernels)} had kernels running)")


async def slurm_scenario():
    user = STUDENTS[0]
    t0 = time.monotonic()
    await start_server(user)
    started = time.monotonic() - t0
    jobs = subprocess.run(["squeue", "-h", "-o", "%i %u %j %T"], capture_output=True, text=True).stdout.split("\n")
    job = [j for j in jobs if f" {user} spawner-jupyterhub RUNNING" in j]
    if not job:
        raise Failed(f"no running Slurm job of {user} serves the student: squeue says {jobs}")
    say(f"{user}'s server runs as Slurm job {job[0].split()[0]} (ready {started:.1f} s after the request)")
    nb = (await api("GET", f"/user/{user}/api/contents/{NOTEBOOK}?content=1"))["content"]
    code = ["".join(c["source"]) if not isinstance(c["source"], str) else c["source"] for c in nb["cells"] if c["cell_type"] == "code"]
    kernel = await Kernel.open(user)
    t0 = time.monotonic()
    loaded, device = (text_of(o) for o in await run_cells(kernel, code[:2]))
    first = time.monotonic() - t0
    if "lossviz loaded" not in loaded or "Use CUDA" not in device:
        raise Failed(f"the lesson's first cells on the Slurm job printed {loaded!r} and {device!r}")
    say(f"the lesson's first cells ran on the job: lossviz loaded in {first:.1f} s; {device.strip()}")
    await stop_server(user)
    for _ in range(60):
        if not any(f" {user} " in j for j in subprocess.run(["squeue", "-h", "-o", "%i %u"], capture_output=True, text=True).stdout.split("\n")):
            break
        time.sleep(1)
    else:
        raise Failed(f"{user}'s Slurm job still runs after the server was stopped")
    say("stopping the server ended its Slurm job")
    if STALLS:
        say(f"kernels that never started a cell and were restarted (evcxr's start-up stall): {', '.join(STALLS)}")


def main():
    if os.geteuid() != 0:
        sys.exit("the hub test makes Unix users and runs the hub as root: run it as root")
    # A TERM (a CI timeout, Ctrl-C's cousin) still runs the clean-up below.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    password = secrets.token_hex(16)
    state = os.path.join(PREFIX, "hub")
    os.makedirs(state, mode=0o700, exist_ok=True)
    token_file = os.path.join(state, "test_api_token")
    fd = os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.write(fd, TOKEN.encode())
    os.close(fd)
    # Leftovers of an earlier run of this test (marked by their comment) are removed; an
    # account of the same name that this test did not make is never touched.
    for u in STUDENTS:
        try:
            if pwd.getpwnam(u).pw_gecos != MARK:
                sys.exit(f"[hub-test] a user {u} exists and was not made by this test: not touching it")
            subprocess.run(["userdel", "-r", u], capture_output=True)
        except KeyError:
            pass
    extra = dict(SMALL, **({"SLURM_CONF": os.environ["SLURM_CONF"]} if ON_SLURM else {}))
    env = dict(os.environ, LOSSVIZ_HUB_TEST_USERS=",".join(STUDENTS), LOSSVIZ_HUB_TEST_PASSWORD=password,
               LOSSVIZ_HUB_TEST_TOKEN_FILE=token_file, LOSSVIZ_HUB_API_PORT=str(API_PORT),
               LOSSVIZ_HUB_PROXY_API_PORT=str(PROXY_API_PORT), LOSSVIZ_HUB_EXTRA_ENV=json.dumps(extra))
    log = open(os.path.join(state, "hub-test.log"), "w")
    hub = subprocess.Popen([os.path.join(REPO, "kernel-setup.sh"), "hub", "--prefix", PREFIX, "--port", str(PORT),
                            "--config", os.path.join(REPO, "tests", "hub", "test_config.py")]
                           + (["--slurm"] if ON_SLURM else []),
                           env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    status = 1
    try:
        for u in STUDENTS:
            subprocess.run(["useradd", "-m", "-s", "/bin/bash", "-c", MARK, u], check=True)
        for _ in range(600):
            if hub.poll() is not None:
                raise Failed(f"the hub exited ({hub.returncode})")
            try:
                asyncio.run(api("GET", "/hub/api/"))
                break
            except Failed:
                time.sleep(1)
        else:
            raise Failed("the hub did not answer in 10 minutes")
        say(f"hub up on {BASE}")
        asyncio.run(login_checks(password))
        asyncio.run(slurm_scenario() if ON_SLURM else scenario())
        if not ON_SLURM:
            stop_hub(hub)
        if STALLS:
            # The restart let every scenario finish; with zeromq 0.7 under evcxr no start has
            # stalled in hundreds (BENCHMARKS.md "Kernel starts"), so one that did is a regression.
            raise Failed(f"{len(STALLS)} kernel(s) never started a cell and needed a restart: {', '.join(STALLS)}")
        say("passed")
        status = 0
    except Failed as e:
        say(f"FAILED: {e}")
        log.flush()
        with open(os.path.join(state, "hub-test.log")) as f:
            say("the hub's log (last 60 lines):\n" + "".join(f.readlines()[-60:]))
    finally:
        try:
            os.killpg(hub.pid, signal.SIGTERM)
            hub.wait(timeout=30)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(hub.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        # The proxy runs in a session of its own: stopped by its pid file.
        try:
            with open(os.path.join(state, "proxy.pid")) as f:
                os.kill(int(f.read().strip()), signal.SIGTERM)
        except (OSError, ValueError):
            pass
        for u in STUDENTS:
            subprocess.run(["pkill", "-KILL", "-u", u], capture_output=True)
        time.sleep(1)
        for u in STUDENTS:
            subprocess.run(["userdel", "-r", u], capture_output=True)
        os.remove(token_file)
    sys.exit(status)


async def login_checks(password):
    """The login form: right password in, wrong password out."""
    for pw, want in [(password, 302), ("wrong" + password, 403)]:
        page = await http.fetch(BASE + "/hub/login", raise_error=False)
        xsrf = page.body.decode().split('name="_xsrf" value="')[1].split('"')[0]
        cookies = "; ".join(c.split(";")[0] for c in page.headers.get_list("Set-Cookie"))
        body = f"username={STUDENTS[0]}&password={pw}&_xsrf={xsrf}"
        resp = await http.fetch(BASE + "/hub/login", method="POST", body=body, follow_redirects=False, raise_error=False,
                                headers={"Cookie": cookies})
        if resp.code != want:
            raise Failed(f"login with {'the right' if pw == password else 'a wrong'} password: HTTP {resp.code}, expected {want}")
    say("login: the right password is let in, a wrong one is not")


if __name__ == "__main__":
    try:
        main()
    except HTTPClientError as e:
        sys.exit(f"[hub-test] HTTP error: {e}")
