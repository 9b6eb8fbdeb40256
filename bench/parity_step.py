"""PyTorch half of bench/parity_step.ts: loads fernb's initial weights into a PyTorch ResNet-18 with
TensorFlow's "same" padding (so both compute the same function), repeats fernb's optimizer steps on
the same batches with torch.optim.SGD (Nesterov, weight decay on conv/linear weights only, as
bench/recipe.py) and nn.functional.cross_entropy(label_smoothing), and prints how far apart the two
are: loss per step, and per step the weights' distance relative to the size of the update (0.001 =
the two updates agree to 0.1%), batch-norm running statistics, and eval-mode logits; measured
against PyTorch in float64, next to PyTorch float32's own distance from it (float32 rounding in
batch-norm's backward pass grows from step to step: fernb should be no further than PyTorch is).

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
    # The same steps in PyTorch float32 (the reference trainer's precision) and float64 (the exact
    # answer): fernb is judged against float64 next to PyTorch's own float32 error.
    nets, opts = {}, {}
    for kind, dtype in (("torch32", torch.float32), ("torch64", torch.float64)):
        net = Net(meta["stem"])
        load_fernb_weights(net, manifest, load("w0"))
        net = net.to(dtype)
        decay = [p for p in net.parameters() if p.dim() > 1]
        other = [p for p in net.parameters() if p.dim() <= 1]
        nets[kind] = net
        opts[kind] = torch.optim.SGD([{"params": decay, "weight_decay": meta["weightDecay"]}, {"params": other, "weight_decay": 0}], lr=0.1, momentum=meta["momentum"], nesterov=True)
    pairs = {k: tensors(n, manifest) for k, n in nets.items()}

    def eval_gap(name):
        net = nets["torch64"]
        net.eval()
        with torch.no_grad():
            ref = net(x[:batch].double()).numpy()
        net.train()
        fer = load(name).reshape(batch, -1)
        return float(np.abs(fer - ref).max() / (np.abs(ref).max() + 1e-12)), float((fer.argmax(1) == ref.argmax(1)).mean())

    def kind_of(e, kind):
        if e["layer"] in nets["torch64"].bns:
            return ["gamma", "beta", "running_mean", "running_var"][e["index"]]
        return "kernel" if kind != "id" else "bias"

    rel, agree = eval_gap("eval0")
    print(f"backend: {meta['backend']}, stem {meta['stem']}, batch {batch}")
    print(f"eval-mode logits before training: max |fernb - torch64| / max|torch64| = {rel:.2e}, same argmax {agree:.3f}")
    prev = [t.detach().clone() for _, t, _ in pairs["torch64"]]
    for s in range(steps):
        losses = {}
        for k, net in nets.items():
            for g in opts[k].param_groups:
                g["lr"] = meta["lrs"][s]
            net.train()
            xb = x[s * batch:(s + 1) * batch].to(next(net.parameters()).dtype)
            loss = F.cross_entropy(net(xb), y[s * batch:(s + 1) * batch], label_smoothing=meta["labelSmoothing"])
            opts[k].zero_grad()
            loss.backward()
            opts[k].step()
            losses[k] = loss.item()
        ws = load(f"w{s + 1}")
        print(f"step {s + 1} (lr {meta['lrs'][s]:.4f}): loss torch64 {losses['torch64']:.7f} torch32 {losses['torch32']:.7f} fernb {meta['losses'][s]:.7f}")
        worst = {}
        turn = []
        for i, (e, t64, kind) in enumerate(pairs["torch64"]):
            n = int(np.prod(e["shape"]))
            ref = t64.detach()
            fer = to_torch(ws[e["offset"]:e["offset"] + n], e["shape"], kind).double()
            t32 = pairs["torch32"][i][1].detach().double()
            moved = max((ref - prev[i]).norm().item(), 1e-30)
            if kind == "conv":
                turn.append(moved / prev[i].norm().item())
            what = kind_of(e, kind)
            rf, rt = (fer - ref).norm().item() / moved, (t32 - ref).norm().item() / moved
            w = worst.setdefault(what, [0, "", 0, ""])
            if rf > w[0]:
                w[0], w[1] = rf, e["layer"]
            if rt > w[2]:
                w[2], w[3] = rt, e["layer"]
        turn.sort()
        print(f"  conv kernels: median relative update |dw|/|w| = {turn[len(turn) // 2]:.2e}")
        print("  worst |x - torch64| / |torch64 update|:      fernb              torch32")
        for what, (rf, lf, rt, lt) in sorted(worst.items()):
            print(f"  {what:13s} {rf:10.2e} {lf:22s} {rt:10.2e} {lt}")
        prev = [t.detach().clone() for _, t, _ in pairs["torch64"]]
    rel, agree = eval_gap(f"eval{steps}")
    print(f"eval-mode logits after {steps} steps: max |fernb - torch64| / max|torch64| = {rel:.2e}, same argmax {agree:.3f}")

if __name__ == "__main__":
    main()
