"""The PyTorch side of bench/run.sh: the original notebook's training loop and its
batch-1 evaluation, on the same IDX files lossviz reads, timed, as one JSON line.

Written for this benchmark (not copied from the notebook): the same model (conv 32/64/128
5x5, each + ReLU + 2x2 max-pool, global average pool, fc 128->2, fc 2->10), SGD lr 0.001 momentum 0.9,
batch 100, a DataLoader with 2 workers converting one image at a time (as
`transforms.ToTensor()` does), and evaluation with batch_size=1.

usage: reference.py --data DIR [--limit N] [--threads N] [--loss xent|center]
"""
import argparse, gzip, json, os, resource, struct, time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def read_idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def find(folder, base):
    for name in (base, base + ".gz"):
        if os.path.exists(os.path.join(folder, name)):
            return os.path.join(folder, name)
    raise SystemExit(f"{base}(.gz) not found in {folder}")


class IdxDataset(torch.utils.data.Dataset):
    """Per-item uint8 -> float tensor in [0, 1], like torchvision's MNIST + ToTensor."""

    def __init__(self, images, labels):
        self.images, self.labels = images, labels

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        x = torch.from_numpy(self.images[i].copy()).float().div(255.0).unsqueeze(0)
        return x, int(self.labels[i])


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 5, padding=2)
        self.conv2 = nn.Conv2d(32, 64, 5, padding=2)
        self.conv3 = nn.Conv2d(64, 128, 5, padding=2)
        self.fc1 = nn.Linear(128, 2)
        self.fc2 = nn.Linear(2, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = F.max_pool2d(F.relu(self.conv3(x)), 2)
        x = F.adaptive_avg_pool2d(x, 1).flatten(1)
        h = self.fc1(x)
        return self.fc2(h), h


def center_loss(h, y, centers):
    d = (h.pow(2).sum(1, keepdim=True) + centers.pow(2).sum(1).unsqueeze(0) - 2 * h @ centers.t())
    mask = F.one_hot(y, centers.shape[0]).float()
    return (d * mask).clamp(1e-12, 1e12).sum() / h.shape[0]


def peak_rss_mib():
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return own / 1024.0, workers / 1024.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--limit", type=int)
    ap.add_argument("--threads", type=int)
    ap.add_argument("--loss", choices=["xent", "center"], default="xent")
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    split = lambda img, lab: IdxDataset(read_idx(find(a.data, img))[: a.limit], read_idx(find(a.data, lab))[: a.limit])
    train = split("train-images-idx3-ubyte", "train-labels-idx1-ubyte")
    test = split("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
    train_loader = torch.utils.data.DataLoader(train, batch_size=100, shuffle=True, num_workers=2)
    test_loader = torch.utils.data.DataLoader(test, batch_size=1, shuffle=False)

    model = Net()
    opt = torch.optim.SGD(model.parameters(), lr=0.001, momentum=0.9)
    centers = nn.Parameter(torch.randn(10, 2))
    center_opt = torch.optim.SGD([centers], lr=0.5)

    model.train()
    start = time.perf_counter()
    correct = seen = 0
    for x, y in train_loader:
        out, h = model(x)
        loss = F.cross_entropy(out, y)
        if a.loss == "center":
            loss = loss + center_loss(h, y, centers)
        opt.zero_grad()
        center_opt.zero_grad()
        loss.backward()
        opt.step()
        if a.loss == "center":
            center_opt.step()
        correct += (out.argmax(1) == y).sum().item()
        seen += y.shape[0]
    train_s = time.perf_counter() - start

    model.eval()
    start = time.perf_counter()
    test_correct = 0
    with torch.no_grad():
        for x, y in test_loader:
            out, _ = model(x)
            test_correct += (out.argmax(1) == y).sum().item()
    eval_s = time.perf_counter() - start
    own, workers = peak_rss_mib()
    print(json.dumps({
        "side": "pytorch",
        "threads": torch.get_num_threads(),
        "train_images": len(train),
        "train_seconds": train_s,
        "train_images_per_s": len(train) / train_s,
        "train_accuracy": 100.0 * correct / seen,
        "eval_images": len(test),
        "eval_seconds": eval_s,
        "eval_images_per_s": len(test) / eval_s,
        "test_accuracy": 100.0 * test_correct / len(test),
        "peak_rss_mib": own,
        "worker_peak_rss_mib": workers,
    }))


if __name__ == "__main__":
    main()
