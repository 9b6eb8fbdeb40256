"""PyTorch half of bench/parity_step.ts: loads fernb's initial weights into a PyTorch ResNet-18 with
TensorFlow's "same" padding (so both compute the same function), repeats fernb's optimizer steps on
the same batches with torch.optim.SGD (Nesterov, weight decay on conv/linear weights only, as
bench/recipe.py) and nn.functional.cross_entropy(label_smoothing), and prints how far apart the two
are: loss per step, and per step the weights' distance relative to the size of the update (0.001 =
the two updates agree to 0.1%), batch-norm running statistics, and eval-mode logits.

Usage: python3 bench/parity_step.py <dir written by parity_step.ts>
"""
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
from fernb_torch import Net, load_fernb_weights, tensors, to_torch  # noqa: E402


def main():
    d = sys.argv[1]
    meta = json.load(open(os.path.join(d, "fernb.json")))
    torch.set_num_threads(2)
    torch.manual_seed(0)
    steps, batch, manifest = meta["steps"], meta["batch"], meta["manifest"]
    load = lambda name: np.fromfile(os.path.join(d, name + ".bin"), np.float32)  # noqa: E731
    x = torch.tensor(load("x").reshape(-1, 48, 48, 1).transpose(0, 3, 1, 2).copy())
    y = torch.tensor(np.fromfile(os.path.join(d, "y.bin"), np.uint8).astype(np.int64))
    net = Net(meta["stem"])
    pairs = tensors(net, manifest)
    load_fernb_weights(net, manifest, load("w0"))
    decay = [p for p in net.parameters() if p.dim() > 1]
    other = [p for p in net.parameters() if p.dim() <= 1]
    opt = torch.optim.SGD([{"params": decay, "weight_decay": meta["weightDecay"]}, {"params": other, "weight_decay": 0}], lr=0.1, momentum=meta["momentum"], nesterov=True)

    def eval_gap(name):
        net.eval()
        with torch.no_grad():
            ref = net(x[:batch]).numpy()
        net.train()
        fer = load(name).reshape(batch, -1)
        return float(np.abs(fer - ref).max() / (np.abs(ref).max() + 1e-12)), float((fer.argmax(1) == ref.argmax(1)).mean())

    rel, agree = eval_gap("eval0")
    print(f"backend: {meta['backend']}, stem {meta['stem']}, batch {batch}")
    print(f"eval-mode logits before training: max |fernb - torch| / max|torch| = {rel:.2e}, same argmax {agree:.3f}")
    prev = {id(t): t.detach().clone() for _, t, _ in pairs}
    for s in range(steps):
        for g in opt.param_groups:
            g["lr"] = meta["lrs"][s]
        net.train()
        loss = F.cross_entropy(net(x[s * batch:(s + 1) * batch]), y[s * batch:(s + 1) * batch], label_smoothing=meta["labelSmoothing"])
        opt.zero_grad()
        loss.backward()
        opt.step()
        ws = load(f"w{s + 1}")
        print(f"step {s + 1} (lr {meta['lrs'][s]:.4f}): loss torch {loss.item():.6f} fernb {meta['losses'][s]:.6f}")
        worst = {}
        for e, t, kind in pairs:
            n = int(np.prod(e["shape"]))
            fer = to_torch(ws[e["offset"]:e["offset"] + n], e["shape"], kind)
            ref = t.detach()
            moved = (ref - prev[id(t)]).norm().item()
            gap = (fer - ref).norm().item()
            what = "running_mean" if e["layer"] in net.bns and e["index"] == 2 else "running_var" if e["layer"] in net.bns and e["index"] == 3 else "gamma" if e["layer"] in net.bns and e["index"] == 0 else "beta" if e["layer"] in net.bns else "kernel" if kind != "id" else "bias"
            r = gap / max(moved, 1e-12)
            if what not in worst or r > worst[what][0]:
                worst[what] = (r, e["layer"], gap, moved)
        for what, (r, layer, gap, moved) in sorted(worst.items()):
            print(f"  {what:13s} worst |fernb - torch| / |torch update| = {r:.2e} ({layer}: {gap:.3e} / {moved:.3e})")
        prev = {id(t): t.detach().clone() for _, t, _ in pairs}
    rel, agree = eval_gap(f"eval{steps}")
    print(f"eval-mode logits after {steps} steps: max |fernb - torch| / max|torch| = {rel:.2e}, same argmax {agree:.3f}")


if __name__ == "__main__":
    main()
