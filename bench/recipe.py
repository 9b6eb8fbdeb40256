"""Recipe comparison in PyTorch, as a fast stand-in for fernb's own trainer (PyTorch trains this
ResNet-18 ~6x faster on CPU): one config = one short cosine run of the same ResNet-18
(bench/torch_resnet18.py) on raw 48x48 faces written by bench/recipe.ts, scored on a held-out
part of the TRAINING split (never on val, which is what the project reports).

Usage (from bench/recipe.ts): python3 bench/recipe.py <dir> epochs=1 opt=sgd lr=0.05 bal=none ls=0.1 warm=0.3
Prints one JSON line per config.
For the trainer comparison (bench/parity.ts): net=fernb trains fernb's exact network (TensorFlow's
"same" padding, bench/fernb_torch.py) instead of torch_resnet18.py, init=<prefix> starts from the
initial weights of a fernb model (<prefix>.json + .bin).
"""
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
from torch_resnet18 import ResNet18  # noqa: E402
from fernb_torch import Net, load_fernb_file  # noqa: E402


def main():
    folder = sys.argv[1]
    a = dict(x.split("=", 1) for x in sys.argv[2:])
    opt_kind, lr, bal = a.get("opt", "sgd"), float(a.get("lr", 0.05)), a.get("bal", "none")
    smoothing, warm, epochs = float(a.get("ls", 0.1)), float(a.get("warm", 0.3)), float(a.get("epochs", 1))
    torch.set_num_threads(int(a.get("threads", 2)))
    torch.manual_seed(int(a.get("seed", 0)))
    np.random.seed(int(a.get("seed", 0)))

    def load(name):
        x = np.fromfile(os.path.join(folder, name + ".x"), np.uint8).reshape(-1, 1, 48, 48).astype(np.float32) / 255
        y = np.fromfile(os.path.join(folder, name + ".y"), np.uint8).astype(np.int64)
        return x, y

    x, y = load("train")
    xh, yh = load("heldout")
    mean, std = x.mean(), x.std()
    x, xh = torch.tensor((x - mean) / std), torch.tensor((xh - mean) / std)
    y, yh = torch.tensor(y), torch.tensor(yh)
    counts = torch.bincount(y, minlength=7).float()
    weight = len(y) / (7 * counts) if bal == "loss" else None
    net = Net(a.get("stem", "imagenet")) if a.get("net") == "fernb" else ResNet18(1, a.get("stem", "imagenet"))
    if "init" in a:
        if a.get("net") != "fernb":
            raise SystemExit("init=<prefix> needs net=fernb (fernb's layer names)")
        load_fernb_file(net, a["init"])
    decay = [p for p in net.parameters() if p.dim() > 1]
    other = [p for p in net.parameters() if p.dim() <= 1]
    wd = 5e-4 if opt_kind == "sgd" else 0.05
    groups = [{"params": decay, "weight_decay": wd}, {"params": other, "weight_decay": 0}]
    opt = torch.optim.SGD(groups, lr=lr, momentum=0.9, nesterov=True) if opt_kind == "sgd" else torch.optim.AdamW(groups, lr=lr)
    batch = 64
    per_epoch = len(y) // batch
    total, warmup = int(per_epoch * epochs), int(warm * per_epoch)

    def lr_at(i):
        if i < warmup:
            return lr * (i + 1) / warmup
        return lr * 0.5 * (1 + math.cos(math.pi * (i - warmup) / max(1, total - warmup)))

    def held_out_accuracy():
        net.eval()
        with torch.no_grad():
            correct = sum((net(xh[i:i + 256]).argmax(1) == yh[i:i + 256]).sum().item() for i in range(0, len(yh), 256))
        net.train()
        return correct / len(yh)

    fernb_aug = a.get("aug") == "fernb"
    t0 = time.time()
    for i in range(total):
        if i % per_epoch == 0:
            order = torch.randperm(len(y))
            if fernb_aug:
                # This epoch's faces as fernb's augmenter produced them (bench/recipe.ts), normalised alike.
                raw = np.fromfile(os.path.join(folder, f"train_fernb_aug_{i // per_epoch}.x"), np.uint8).reshape(-1, 1, 48, 48).astype(np.float32) / 255
                xa = torch.tensor((raw - mean) / std)
        idx = order[(i % per_epoch) * batch:(i % per_epoch + 1) * batch]
        yb = y[idx]
        if fernb_aug:
            xb = xa[idx]
        else:
            xb = x[idx]
            flip = torch.rand(len(idx)) < 0.5
            xb = torch.where(flip[:, None, None, None], xb.flip(3), xb)
            dx, dy = np.random.randint(0, 9, 2)
            xb = F.pad(xb, (4, 4, 4, 4), mode="reflect")[:, :, dy:dy + 48, dx:dx + 48]
        for g in opt.param_groups:
            g["lr"] = lr_at(i)
        loss = F.cross_entropy(net(xb), yb, weight=weight, label_smoothing=smoothing)
        if a.get("progress") and (i + 1) % 100 == 0:
            print(f"[recipe.py] step {i + 1}/{total} loss {loss.item():.3f}", file=sys.stderr, flush=True)
        opt.zero_grad()
        loss.backward()
        opt.step()
    print(json.dumps({**a, "heldOutAccuracy": round(held_out_accuracy(), 4), "seconds": round(time.time() - t0)}), flush=True)


if __name__ == "__main__":
    main()
