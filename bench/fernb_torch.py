"""fernb's ResNet-18 (kernel/fer/resnet.ts) in PyTorch, layer for layer: TensorFlow's "same" padding
(asymmetric for stride 2, where torch pads both sides), fernb's layer names, and loading of weights
that bench/parity_step.ts or bench/parity.ts wrote from a fernb model (HWIO kernels → OIHW).
Used by bench/parity_step.py and by bench/recipe.py (net=fernb, init=<file>).
"""
import json
import math

import numpy as np
import torch
import torch.nn.functional as F


def same_pad(size, k, s):
    out = math.ceil(size / s)
    total = max((out - 1) * s + k - size, 0)
    return total // 2, total - total // 2


class Net(torch.nn.Module):
    """fernb's ResNet-18 (kernel/fer/resnet.ts) with its layer names, in NCHW."""

    def __init__(self, stem):
        super().__init__()
        self.stem = stem
        self.convs, self.bns = torch.nn.ModuleDict(), torch.nn.ModuleDict()
        self.strides = {}

        def conv(name, cin, cout, k, s):
            self.convs[name] = torch.nn.Conv2d(cin, cout, k, s, 0, bias=False)
            self.strides[name] = (k, s)

        def bn(name, c):
            self.bns[name] = torch.nn.BatchNorm2d(c, eps=1e-5, momentum=0.1)

        if stem == "imagenet":
            conv("conv1", 1, 64, 7, 2)
        else:
            conv("conv1", 1, 64, 3, 2 if stem == "stride2" else 1)
        bn("bn1", 64)
        self.blocks = []
        cin = 64
        for stage, width in enumerate([64, 128, 256, 512]):
            for block in range(2):
                n = f"layer{stage + 1}_{block}"
                stride = 2 if stage > 0 and block == 0 else 1
                conv(f"{n}_conv1", cin, width, 3, stride)
                bn(f"{n}_bn1", width)
                conv(f"{n}_conv2", width, width, 3, 1)
                bn(f"{n}_bn2", width)
                down = stride != 1 or cin != width
                if down:
                    conv(f"{n}_downsample_0", cin, width, 1, stride)
                    bn(f"{n}_downsample_1", width)
                self.blocks.append((n, down))
                cin = width
        self.fc = torch.nn.Linear(512, 7)

    def c(self, name, x):
        k, s = self.strides[name]
        ph, pw = same_pad(x.shape[2], k, s), same_pad(x.shape[3], k, s)
        return self.convs[name](F.pad(x, (pw[0], pw[1], ph[0], ph[1])))

    def forward(self, x):
        x = F.relu(self.bns["bn1"](self.c("conv1", x)))
        if self.stem == "imagenet":
            ph, pw = same_pad(x.shape[2], 3, 2), same_pad(x.shape[3], 3, 2)
            x = F.max_pool2d(F.pad(x, (pw[0], pw[1], ph[0], ph[1]), value=-math.inf), 3, 2)
        for n, down in self.blocks:
            y = F.relu(self.bns[f"{n}_bn1"](self.c(f"{n}_conv1", x)))
            y = self.bns[f"{n}_bn2"](self.c(f"{n}_conv2", y))
            sc = self.bns[f"{n}_downsample_1"](self.c(f"{n}_downsample_0", x)) if down else x
            x = F.relu(y + sc)
        return self.fc(x.mean((2, 3)))


def tensors(net, manifest):
    """(manifest entry, torch tensor, how to convert fernb's layout) for every fernb weight."""
    out = []
    for e in manifest:
        name, i = e["layer"], e["index"]
        if name == "fc":
            t = net.fc.weight if i == 0 else net.fc.bias
            out.append((e, t, "dense" if i == 0 else "id"))
        elif name in net.convs:
            out.append((e, net.convs[name].weight, "conv"))
        else:
            b = net.bns[name]
            out.append((e, [b.weight, b.bias, b.running_mean, b.running_var][i], "id"))
    return out


def to_torch(arr, shape, kind):
    a = arr.reshape(shape)
    if kind == "conv":
        a = a.transpose(3, 2, 0, 1)
    elif kind == "dense":
        a = a.transpose(1, 0)
    return torch.tensor(np.ascontiguousarray(a))


def load_fernb_weights(net, manifest, flat):
    """Copies fernb's weights (flat float32 array laid out as the manifest says) into `net`."""
    with torch.no_grad():
        for e, t, kind in tensors(net, manifest):
            n = int(np.prod(e["shape"]))
            t.copy_(to_torch(flat[e["offset"]:e["offset"] + n], e["shape"], kind))


def load_fernb_file(net, prefix):
    """Loads <prefix>.json (manifest) and <prefix>.bin (float32) into `net`."""
    load_fernb_weights(net, json.load(open(prefix + ".json")), np.fromfile(prefix + ".bin", np.float32))
