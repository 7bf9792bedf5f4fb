"""Starts the installed "Rust (lossviz)" kernel many times and counts the starts whose first
cell never begins (issue 23: evcxr's start-up stall). Needs ./kernel-setup.sh install first.

usage: ~/.cache/lossviz/venv/bin/python bench/kernel_starts.py [--starts N] [--at-once K]
           [--via server|client|both] [--out DIR]

Each start is what JupyterLab does: through a Jupyter server (POST /api/kernels, the
server's own start-up connections, a websocket that asks kernel_info, then one
execute_request), or straight through jupyter_client (kernel_info, then the cell). K starts
run at once (three students opening the lesson together). A start stalls when the cell's
`busy` has not come 60 s after it was sent, or kernel_info not 60 s after the start; then
the kernel's threads are saved to DIR (gdb's backtraces and `top -H`) before it is killed.
Prints, per way of starting: starts, stalls, and seconds to kernel_info and to the cell's
reply (p50, p90).
"""
import argparse
import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid

KERNEL = "lossviz-rust"
STALL_AFTER = 60
FIRST_CELL = 'println!("first cell ran");'


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

    def __init__(self, python):
        self.dir = tempfile.mkdtemp(prefix="lossviz-starts-")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.token = uuid.uuid4().hex
        env = dict(os.environ, JUPYTER_RUNTIME_DIR=os.path.join(self.dir, "runtime"))
        self.log = open(os.path.join(self.dir, "server.log"), "w")
        self.proc = subprocess.Popen(
            [python, "-m", "jupyter_server", "--no-browser", f"--port={self.port}", "--ip=127.0.0.1",
             f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={self.dir}",
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
    """(seconds to kernel_info's reply, seconds to the first cell's reply)."""
    from tornado.httpclient import AsyncHTTPClient
    from tornado.websocket import websocket_connect
    http = AsyncHTTPClient()
    t0 = time.monotonic()
    reply = await http.fetch(server.url("/api/kernels"), method="POST", body=json.dumps({"name": KERNEL}),
                             request_timeout=STALL_AFTER)
    kernel_id = json.loads(reply.body)["id"]
    session = uuid.uuid4().hex
    ws = None
    try:
        ws = await websocket_connect(server.url(f"/api/kernels/{kernel_id}/channels", "ws") + f"&session_id={session}")
        info = message("kernel_info_request", {}, session)
        await ws.write_message(json.dumps(info))
        await until(ws, lambda m: m["msg_type"] == "kernel_info_reply" and m["parent_header"].get("msg_id") == info["header"]["msg_id"],
                    t0, "kernel_info")
        t_info = time.monotonic() - t0
        cell = message("execute_request", {"code": FIRST_CELL, "silent": False, "store_history": True,
                                           "user_expressions": {}, "allow_stdin": False, "stop_on_error": True}, session)
        sent = time.monotonic()
        await ws.write_message(json.dumps(cell))
        mine = lambda m: m["parent_header"].get("msg_id") == cell["header"]["msg_id"]
        await until(ws, lambda m: mine(m) and m["msg_type"] == "status" and m["content"]["execution_state"] == "busy", sent, "busy")
        await until(ws, lambda m: mine(m) and m["msg_type"] == "execute_reply", sent, "execute_reply", limit=300)
        return t_info, time.monotonic() - t0
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
        if wanted(json.loads(raw)):
            return


async def start_via_client(out_dir, label):
    from jupyter_client.manager import AsyncKernelManager
    km = AsyncKernelManager(kernel_name=KERNEL)
    t0 = time.monotonic()
    await km.start_kernel()
    kc = km.client()
    kc.start_channels()
    try:
        try:
            await kc.wait_for_ready(timeout=STALL_AFTER)
        except RuntimeError:
            raise Stall("kernel_info") from None
        t_info = time.monotonic() - t0
        msg_id = kc.execute(FIRST_CELL)
        sent = time.monotonic()
        busy = False
        while True:
            limit = STALL_AFTER if not busy else 300
            left = limit - (time.monotonic() - sent)
            try:
                msg = await kc.get_iopub_msg(timeout=max(left, 0.01))
            except Exception:
                raise Stall("busy" if not busy else "execute_reply") from None
            if msg["parent_header"].get("msg_id") != msg_id or msg["msg_type"] != "status":
                continue
            if msg["content"]["execution_state"] == "busy":
                busy = True
            elif busy and msg["content"]["execution_state"] == "idle":
                return t_info, time.monotonic() - t0
    except Stall:
        save_threads(descendants(km.provisioner.pid), out_dir, label)
        raise
    finally:
        kc.stop_channels()
        await km.shutdown_kernel(now=True)


async def measure(via, starts, at_once, out_dir, server):
    infos, replies, stalls = [], [], []
    done = 0
    while done < starts:
        batch = min(at_once, starts - done)
        labels = [f"{via}-{done + i + 1}" for i in range(batch)]
        jobs = [start_via_server(server, out_dir, l) if via == "server" else start_via_client(out_dir, l) for l in labels]
        for label, result in zip(labels, await asyncio.gather(*jobs, return_exceptions=True)):
            if isinstance(result, Stall):
                stalls.append(f"{label} ({result})")
            elif isinstance(result, BaseException):
                raise result
            else:
                infos.append(result[0])
                replies.append(result[1])
        done += batch
        print(f"{via}: {done}/{starts} starts, {len(stalls)} stalled", flush=True)
    print(f"{via}, {at_once} at once: {starts} starts, {len(stalls)} stalled"
          + (f" ({', '.join(stalls)})" if stalls else "")
          + f"; kernel_info p50 {percentile(infos, 50):.1f} s, p90 {percentile(infos, 90):.1f} s;"
          f" first cell's reply p50 {percentile(replies, 50):.1f} s, p90 {percentile(replies, 90):.1f} s", flush=True)
    return len(stalls)


async def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--starts", type=int, default=100)
    parser.add_argument("--at-once", type=int, default=1)
    parser.add_argument("--via", choices=["server", "client", "both"], default="both")
    parser.add_argument("--out", default=os.path.join(tempfile.gettempdir(), "lossviz-kernel-starts"))
    args = parser.parse_args()
    if args.starts < 1 or args.at_once < 1:
        sys.exit("--starts and --at-once must be at least 1")
    os.makedirs(args.out, exist_ok=True)
    server = None
    stalled = 0
    try:
        for via in (["server", "client"] if args.via == "both" else [args.via]):
            if via == "server" and server is None:
                server = Server(sys.executable)
                await server.ready()
            stalled += await measure(via, args.starts, args.at_once, args.out, server)
    finally:
        if server is not None:
            server.stop()
    sys.exit(1 if stalled else 0)


if __name__ == "__main__":
    asyncio.run(main())
