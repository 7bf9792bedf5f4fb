"""Starts the installed "Rust (lossviz)" kernel many times and counts the starts whose first
cell never begins (issue 23: evcxr's start-up stall). Needs ./kernel-setup.sh install first.

usage: ~/.cache/lossviz/venv/bin/python bench/kernel_starts.py [--starts N] [--at-once K]
           [--via server|client|both] [--out DIR]
           [--notebook PATH --cells C] [--setting KEY=VALUE ...] [--init COMMAND ...]
           [--evcxr PATH]

Each start is what JupyterLab does: through a Jupyter server (POST /api/kernels, the
server's own start-up connections, a websocket that asks kernel_info, then one
execute_request), or straight through jupyter_client (kernel_info, then the cell). K starts
run at once (three students opening the lesson together). A start stalls when the cell's
`busy` has not come 60 s after it was sent, or kernel_info not 60 s after the start; then
the kernel's threads are saved to DIR (gdb's backtraces and `top -H`) before it is killed.
Prints, per way of starting: starts, stalls, and seconds to kernel_info and to the cell's
reply (p50, p90).

What the first cells cost (issue 23's point 4): --notebook runs that notebook's first C code
cells instead of the one-line cell (the kernel starts in the notebook's folder, so its `:dep`
path resolves) and prints each cell's own seconds; --setting adds KEY = VALUE to the kernel's
evcxr.toml and --init a command to its init.evcxr (e.g. ":linker system"), and --evcxr runs
another evcxr_jupyter binary (e.g. an older build, for a before/after), all in a copy of the
kernel spec that only this run sees.
"""
import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid

KERNEL = "lossviz-rust"
STALL_AFTER = 60
CELLS = ['println!("first cell ran");']
CELL_LIMIT = 300


class Stall(Exception):
    pass


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))] if ordered else float("nan")


def descendants(pid):
    """pid and every process under it: the kernel's wrapper script, evcxr_jupyter and the
    child that runs the cells."""
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        out = subprocess.run(["pgrep", "-P", str(p)], capture_output=True, text=True).stdout
        todo += [int(c) for c in out.split()]
    return found


def kernel_pids(kernel_id):
    """The processes of a server's kernel: its command line names its connection file."""
    out = subprocess.run(["pgrep", "-f", f"kernel-{kernel_id}.json"], capture_output=True, text=True).stdout
    return [p for root in out.split() for p in descendants(int(root))]


def save_threads(pids, out_dir, label):
    """Each process's threads, as the stall left them: where they wait is the cause."""
    path = os.path.join(out_dir, f"stall-{label}-{int(time.time())}.txt")
    with open(path, "w") as f:
        for pid in pids:
            try:
                cmd = open(f"/proc/{pid}/cmdline").read().replace("\0", " ")
            except OSError:
                continue
            f.write(f"===== process {pid}: {cmd}\n")
            f.write(subprocess.run(["top", "-H", "-b", "-n", "1", "-p", str(pid)], capture_output=True, text=True).stdout)
            if shutil.which("gdb"):
                bt = subprocess.run(["gdb", "-p", str(pid), "-batch", "-ex", "thread apply all bt"],
                                    capture_output=True, text=True, timeout=120)
                f.write(bt.stdout + bt.stderr)
            else:
                f.write("(no gdb on this machine: apt-get install gdb for the backtraces)\n")
    print(f"  stall: threads saved to {path}", flush=True)
    return path


def message(msg_type, content, session):
    return {
        "header": {"msg_id": uuid.uuid4().hex, "msg_type": msg_type, "session": session,
                   "username": "bench", "version": "5.3", "date": ""},
        "parent_header": {}, "metadata": {}, "content": content, "buffers": [], "channel": "shell",
    }


class Server:
    """A Jupyter server of its own, on a free port of 127.0.0.1, stopped by process id."""

    def __init__(self, python, notebook):
        self.dir = tempfile.mkdtemp(prefix="lossviz-starts-")
        root = os.path.dirname(os.path.abspath(notebook)) if notebook else self.dir
        self.notebook = os.path.basename(notebook) if notebook else ""
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.token = uuid.uuid4().hex
        env = dict(os.environ, JUPYTER_RUNTIME_DIR=os.path.join(self.dir, "runtime"))
        self.log = open(os.path.join(self.dir, "server.log"), "w")
        self.proc = subprocess.Popen(
            [python, "-m", "jupyter_server", "--no-browser", f"--port={self.port}", "--ip=127.0.0.1",
             f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={root}",
             "--ServerApp.allow_root=True"],
            stdout=self.log, stderr=subprocess.STDOUT, env=env)

    async def ready(self):
        from tornado.httpclient import AsyncHTTPClient
        for _ in range(120):
            if self.proc.poll() is not None:
                raise SystemExit(f"the Jupyter server exited ({self.proc.returncode}); its log: {self.log.name}")
            try:
                await AsyncHTTPClient().fetch(self.url("/api/status"))
                return
            except Exception:
                await asyncio.sleep(0.5)
        raise SystemExit(f"the Jupyter server did not come up; its log: {self.log.name}")

    def url(self, path, scheme="http"):
        return f"{scheme}://127.0.0.1:{self.port}{path}?token={self.token}"

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


async def start_via_server(server, out_dir, label):
    """(seconds to kernel_info's reply, seconds to the first cell's reply, each cell's seconds)."""
    from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest
    from tornado.websocket import websocket_connect
    http = AsyncHTTPClient()
    t0 = time.monotonic()
    # The path JupyterLab sends: the server starts the kernel in that notebook's folder.
    reply = await http.fetch(server.url("/api/kernels"), method="POST", body=json.dumps({"name": KERNEL, "path": server.notebook}),
                             request_timeout=STALL_AFTER)
    kernel_id = json.loads(reply.body)["id"]
    session = uuid.uuid4().hex
    ws = None
    try:
        # The server answers the websocket only once the kernel has answered its own kernel_info
        # (or its 60 s kernel_info_timeout passed), so a stall can show here first.
        url = server.url(f"/api/kernels/{kernel_id}/channels", "ws") + f"&session_id={session}"
        try:
            ws = await websocket_connect(HTTPRequest(url, connect_timeout=STALL_AFTER + 10, request_timeout=STALL_AFTER + 10))
        except (HTTPClientError, TimeoutError) as e:
            raise Stall(f"kernel_info (the websocket did not open: {e})") from None
        info = message("kernel_info_request", {}, session)
        await ws.write_message(json.dumps(info))
        await until(ws, lambda m: m["msg_type"] == "kernel_info_reply" and m["parent_header"].get("msg_id") == info["header"]["msg_id"],
                    t0, "kernel_info")
        t_info = time.monotonic() - t0
        first, each = None, []
        for code in CELLS:
            cell = message("execute_request", {"code": code, "silent": False, "store_history": True,
                                               "user_expressions": {}, "allow_stdin": False, "stop_on_error": True}, session)
            sent = time.monotonic()
            await ws.write_message(json.dumps(cell))
            mine = lambda m: m["parent_header"].get("msg_id") == cell["header"]["msg_id"]
            await until(ws, lambda m: mine(m) and m["msg_type"] == "status" and m["content"]["execution_state"] == "busy", sent, "busy")
            reply = await until(ws, lambda m: mine(m) and m["msg_type"] == "execute_reply", sent, "execute_reply", limit=CELL_LIMIT)
            check_reply(reply["content"], code)
            each.append(time.monotonic() - sent)
            first = first or time.monotonic() - t0
        return t_info, first, each
    except Stall:
        save_threads(kernel_pids(kernel_id), out_dir, label)
        raise
    finally:
        if ws is not None:
            ws.close()
        await http.fetch(server.url(f"/api/kernels/{kernel_id}"), method="DELETE", raise_error=False)


async def until(ws, wanted, since, what, limit=STALL_AFTER):
    while True:
        left = limit - (time.monotonic() - since)
        if left <= 0:
            raise Stall(what)
        try:
            raw = await asyncio.wait_for(ws.read_message(), left)
        except asyncio.TimeoutError:
            raise Stall(what) from None
        if raw is None:
            raise Stall(f"{what} (the server closed the websocket)")
        msg = json.loads(raw)
        if wanted(msg):
            return msg


def check_reply(content, code):
    """A cell that fails makes its timing meaningless: stop with its error."""
    if content.get("status") != "ok":
        raise SystemExit(f"the cell {code[:60]!r} failed: {json.dumps(content)[:2000]}")


async def start_via_client(out_dir, label, cwd):
    from jupyter_client.manager import AsyncKernelManager
    km = AsyncKernelManager(kernel_name=KERNEL)
    t0 = time.monotonic()
    await km.start_kernel(cwd=cwd)
    kc = km.client()
    kc.start_channels()
    try:
        try:
            await kc.wait_for_ready(timeout=STALL_AFTER)
        except RuntimeError:
            raise Stall("kernel_info") from None
        t_info = time.monotonic() - t0
        first, each = None, []
        for code in CELLS:
            msg_id = kc.execute(code)
            sent = time.monotonic()
            busy = False
            while True:
                limit = STALL_AFTER if not busy else CELL_LIMIT
                left = limit - (time.monotonic() - sent)
                try:
                    msg = await kc.get_iopub_msg(timeout=max(left, 0.01))
                except Exception:
                    raise Stall("busy" if not busy else "execute_reply") from None
                if msg["parent_header"].get("msg_id") != msg_id:
                    continue
                if msg["msg_type"] == "error":
                    check_reply(dict(msg["content"], status="error"), code)
                if msg["msg_type"] != "status":
                    continue
                if msg["content"]["execution_state"] == "busy":
                    busy = True
                elif busy and msg["content"]["execution_state"] == "idle":
                    break
            each.append(time.monotonic() - sent)
            first = first or time.monotonic() - t0
        return t_info, first, each
    except Stall:
        save_threads(descendants(km.provisioner.pid), out_dir, label)
        raise
    finally:
        kc.stop_channels()
        await km.shutdown_kernel(now=True)


async def measure(via, starts, at_once, out_dir, server, cwd):
    infos, replies, per_cell, stalls = [], [], [[] for _ in CELLS], []
    done = 0
    while done < starts:
        batch = min(at_once, starts - done)
        labels = [f"{via}-{done + i + 1}" for i in range(batch)]
        jobs = [start_via_server(server, out_dir, l) if via == "server" else start_via_client(out_dir, l, cwd) for l in labels]
        for label, result in zip(labels, await asyncio.gather(*jobs, return_exceptions=True)):
            if isinstance(result, Stall):
                stalls.append(f"{label} ({result})")
            elif isinstance(result, BaseException):
                raise result
            else:
                infos.append(result[0])
                replies.append(result[1])
                for seconds, cell in zip(result[2], per_cell):
                    cell.append(seconds)
        done += batch
        print(f"{via}: {done}/{starts} starts, {len(stalls)} stalled", flush=True)
    print(f"{via}, {at_once} at once: {starts} starts, {len(stalls)} stalled"
          + (f" ({', '.join(stalls)})" if stalls else "")
          + f"; kernel_info p50 {percentile(infos, 50):.1f} s, p90 {percentile(infos, 90):.1f} s;"
          f" first cell's reply p50 {percentile(replies, 50):.1f} s, p90 {percentile(replies, 90):.1f} s", flush=True)
    if len(CELLS) > 1:
        for code, seconds in zip(CELLS, per_cell):
            print(f"  cell {code.splitlines()[0][:50]!r}: p50 {percentile(seconds, 50):.1f} s, p90 {percentile(seconds, 90):.1f} s", flush=True)
    return len(stalls)


def kernel_variant(settings, init, evcxr, out_dir):
    """A copy of the installed kernel spec whose evcxr config has `settings` and `init` added,
    and which runs `evcxr` when given, put first on JUPYTER_PATH for this process and the
    servers it starts."""
    from jupyter_client.kernelspec import KernelSpecManager
    spec = KernelSpecManager().get_kernel_spec(KERNEL)
    root = tempfile.mkdtemp(prefix="lossviz-kernel-variant-", dir=out_dir)
    config = os.path.join(root, "evcxr-config")
    os.makedirs(config)
    toml = open(os.path.join(spec.env["EVCXR_CONFIG_DIR"], "evcxr.toml")).read()
    if toml.count("[evcxr]\n") != 1:
        sys.exit(f"{spec.env['EVCXR_CONFIG_DIR']}/evcxr.toml has no single [evcxr] table to add settings to")
    added = "".join(f"{key.strip()} = {value.strip()}\n" for key, value in (s.split("=", 1) for s in settings))
    with open(os.path.join(config, "evcxr.toml"), "w") as f:
        f.write(toml.replace("[evcxr]\n", "[evcxr]\n" + added))
    if init:
        with open(os.path.join(config, "init.evcxr"), "w") as f:
            f.write("".join(line + "\n" for line in init))
    kernel_dir = os.path.join(root, "kernels", KERNEL)
    shutil.copytree(spec.resource_dir, kernel_dir)
    with open(os.path.join(kernel_dir, "kernel.json")) as f:
        kernel = json.load(f)
    kernel["env"]["EVCXR_CONFIG_DIR"] = config
    if evcxr:
        if not os.access(evcxr, os.X_OK):
            sys.exit(f"--evcxr {evcxr}: not an executable file")
        kernel["env"]["LOSSVIZ_EVCXR"] = os.path.abspath(evcxr)
    with open(os.path.join(kernel_dir, "kernel.json"), "w") as f:
        json.dump(kernel, f, indent=1)
    os.environ["JUPYTER_PATH"] = os.pathsep.join(filter(None, [root, os.environ.get("JUPYTER_PATH")]))
    print(f"kernel variant: evcxr.toml adds {added.strip() or 'nothing'!r}; init.evcxr {init or 'empty'};"
          f" evcxr_jupyter {kernel['env']['LOSSVIZ_EVCXR']}", flush=True)


def first_code_cells(path, count):
    import nbformat
    cells = [c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"][:count]
    if len(cells) < count:
        sys.exit(f"{path} has only {len(cells)} code cells, not {count}")
    return cells


async def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--starts", type=int, default=100)
    parser.add_argument("--at-once", type=int, default=1)
    parser.add_argument("--via", choices=["server", "client", "both"], default="both")
    parser.add_argument("--out", default=os.path.join(tempfile.gettempdir(), "lossviz-kernel-starts"))
    parser.add_argument("--notebook")
    parser.add_argument("--cells", type=int, default=1)
    parser.add_argument("--setting", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--init", action="append", default=[], metavar="COMMAND")
    parser.add_argument("--evcxr", metavar="PATH")
    args = parser.parse_args()
    if args.starts < 1 or args.at_once < 1 or args.cells < 1:
        sys.exit("--starts, --at-once and --cells must be at least 1")
    if any("=" not in s for s in args.setting):
        sys.exit("--setting takes KEY=VALUE, e.g. --setting preserve_vars_on_panic=false")
    os.makedirs(args.out, exist_ok=True)
    # A TERM (a timeout, `kill`) still stops the server below, and with it its kernels.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    cwd = None
    if args.notebook:
        CELLS[:] = first_code_cells(args.notebook, args.cells)
        cwd = os.path.dirname(os.path.abspath(args.notebook))
    if args.setting or args.init or args.evcxr:
        kernel_variant(args.setting, args.init, args.evcxr, args.out)
    server = None
    stalled = 0
    try:
        for via in (["server", "client"] if args.via == "both" else [args.via]):
            if via == "server" and server is None:
                server = Server(sys.executable, args.notebook)
                await server.ready()
            stalled += await measure(via, args.starts, args.at_once, args.out, server, cwd)
    finally:
        if server is not None:
            server.stop()
    sys.exit(1 if stalled else 0)


if __name__ == "__main__":
    asyncio.run(main())
