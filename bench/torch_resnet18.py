"""The same ResNet-18 as fernb's kernel/fer/resnet.ts, in PyTorch, timed the same way as
bench/bench.ts: train steps (forward + backward + SGD momentum) and predict batches per second.

Usage: python3 bench/torch_resnet18.py --threads 2 --batch 64 --height 48 --width 48 --channels 1
         --stem imagenet --train-steps 5 --predict-steps 5
Prints one JSON line: {"train_img_s": ..., "predict_img_s": ..., "torch": "1.13.1", "threads": 2, "peak_rss_mb": ...}
(peak_rss_mb: the process's resident high-water mark after the training steps)
"""
import argparse
import json
import resource
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + (x if self.downsample is None else self.downsample(x)))


class ResNet18(nn.Module):
    def __init__(self, channels, stem, classes=7):
        super().__init__()
        if stem not in ("imagenet", "imagenet-nopool", "stride2", "cifar"):
            raise SystemExit(f"unknown stem {stem!r}")
        if stem == "imagenet":
            self.stem = nn.Sequential(nn.Conv2d(channels, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(3, 2, 1))
        elif stem == "imagenet-nopool":
            self.stem = nn.Sequential(nn.Conv2d(channels, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU())
        else:
            self.stem = nn.Sequential(nn.Conv2d(channels, 64, 3, 2 if stem == "stride2" else 1, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU())
        layers, cin = [], 64
        for stage, width in enumerate([64, 128, 256, 512]):
            for block in range(2):
                layers.append(BasicBlock(cin, width, 2 if stage > 0 and block == 0 else 1))
                cin = width
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(512, classes)

    def forward(self, x):
        x = self.layers(self.stem(x))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--height", type=int, default=48)
    p.add_argument("--width", type=int, default=48)
    p.add_argument("--channels", type=int, default=1)
    p.add_argument("--stem", default="imagenet")
    p.add_argument("--train-steps", type=int, default=5)
    p.add_argument("--predict-steps", type=int, default=5)
    p.add_argument("--warmup", type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = ResNet18(a.channels, a.stem)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True, weight_decay=5e-4)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.1)
    x = torch.randn(a.batch, a.channels, a.height, a.width)
    y = torch.randint(0, 7, (a.batch,))

    def train_step():
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss.item()

    model.train()
    for _ in range(a.warmup):
        train_step()
    t = time.perf_counter()
    for _ in range(a.train_steps):
        train_step()
    train_s = time.perf_counter() - t
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KB on Linux

    model.eval()
    with torch.no_grad():
        for _ in range(a.warmup):
            model(x)
        t = time.perf_counter()
        for _ in range(a.predict_steps):
            F.softmax(model(x), dim=1).numpy()
        predict_s = time.perf_counter() - t
    print(json.dumps({
        "train_img_s": a.batch * a.train_steps / train_s,
        "predict_img_s": a.batch * a.predict_steps / predict_s,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "peak_rss_mb": peak_rss_mb,
    }))


if __name__ == "__main__":
    main()
