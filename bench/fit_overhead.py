#!/usr/bin/env python
"""`learn.fit` time per batch ÷ a plain PyTorch loop doing the same forward / loss / backward / step (figure P1).

    OMP_NUM_THREADS=1 .venv/bin/python bench/fit_overhead.py       # resnet10t @ 64 (bs 32), efficientnet_b0 @ 128 (bs 16)

For each model, one randomly initialised timm model (pretrained=False) is copied into three trainers that run over the
same `--n-batches` fixed in-memory batches (already collated tensors, so no collation is timed) and one validation
batch per epoch:

- `plain`: a bare PyTorch loop: `model.train()`, then per batch `opt.zero_grad()`, forward, `F.cross_entropy`,
  `backward()`, `opt.step()`; then `model.eval()` and the loss of the validation batch under `torch.no_grad()`;
- `learn.fit, same optimizer`: a fastai `Learner` with `opt_func=partial(OptimWrapper, opt=torch.optim.Adam)` (the
  same `torch.optim.Adam`, same lr, no weight decay) and `nn.CrossEntropyLoss()`, `learn.fit(1, lr)` over a
  `DataLoader(batches, bs=None)` (pre-batched), progress bar and logger off;
- `learn.fit, fastai Adam`: the same `Learner` with fastai's own `Adam` (what `cassava_learner` uses by default),
  for reference: a different optimizer implementation, so not the P1 figure;
- `learn.fit, same optimizer, TensorImage batches`: the same-optimizer `Learner` over the same batches cast to fastai's
  `TensorImage`, the type `cassava_dls` yields. fastai's default `CastToTensor` callback casts them back to `Tensor`
  before the model sees them, so this row is the row above measured again: a control for the noise.

The variants alternate within each of `--rounds` rounds after one warm-up round; each round times one epoch of each
(CPU time of the process, which other jobs on a shared machine do not inflate; wall time alongside), and the ratio is
taken against the plain loop *of the same round*: median (min–max) over rounds. Appends JSON lines to `--results`."""
import os
os.environ.setdefault('OMP_NUM_THREADS', '1')
import argparse, copy, sys, time, warnings
warnings.filterwarnings('ignore', category=FutureWarning)
from functools import partial
from pathlib import Path
import torch, timm
import torch.nn.functional as F
from torch import nn
from fastai.data.core import DataLoaders
from fastai.data.load import DataLoader
from fastai.learner import Learner
from fastai.optimizer import OptimWrapper, Adam
from fastai.torch_core import TensorImage
sys.path.insert(0, str(Path(__file__).resolve().parent))
from ensemble import append_results, med, mmm, BENCH
from cassava_fa.testing import quiet

def plain_epoch(model, opt, batches, valid):
    model.train()
    for xb, yb in batches:
        opt.zero_grad()
        loss = F.cross_entropy(model(xb), yb)
        loss.backward(); opt.step()
    model.eval()
    with torch.no_grad(): F.cross_entropy(model(valid[0]), valid[1]).item()

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--models', nargs='+', default=['resnet10t:64:32', 'efficientnet_b0:128:16'], help='arch:size:bs')
    ap.add_argument('--n-batches', type=int, default=6); ap.add_argument('--rounds', type=int, default=4)
    ap.add_argument('--lr', type=float, default=1e-3); ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--results', default=str(BENCH/'results'/'fit_overhead.jsonl'), help="JSON lines appended here ('' : none)")
    a = ap.parse_args()
    torch.set_num_threads(1); torch.manual_seed(a.seed)
    load0, rows, out = os.getloadavg()[0], [], []
    for spec in a.models:
        arch, size, bs = spec.split(':'); size, bs = int(size), int(bs)
        batches = [(torch.randn(bs, 3, size, size), torch.randint(0, 5, (bs,))) for _ in range(a.n_batches)]
        valid = (torch.randn(bs, 3, size, size), torch.randint(0, 5, (bs,)))
        model0 = timm.create_model(arch, pretrained=False, num_classes=5)
        m = copy.deepcopy(model0); opt = torch.optim.Adam(m.parameters(), lr=a.lr)
        def learner(opt_func, cast=lambda b: b):
            dls = DataLoaders(DataLoader([cast(b) for b in batches], bs=None), DataLoader([cast(valid)], bs=None))
            return quiet(Learner(dls, copy.deepcopy(model0), loss_func=nn.CrossEntropyLoss(), opt_func=opt_func, wd=0., wd_bn_bias=False, train_bn=True))
        l_same, l_fa = learner(partial(OptimWrapper, opt=torch.optim.Adam)), learner(partial(Adam, decouple_wd=True))
        l_ti = learner(partial(OptimWrapper, opt=torch.optim.Adam), cast=lambda b: (TensorImage(b[0]), b[1]))
        runs = {'plain PyTorch loop': lambda: plain_epoch(m, opt, batches, valid),
                'learn.fit, same optimizer (torch Adam)': lambda: l_same.fit(1, a.lr),
                'learn.fit, fastai Adam (reference)': lambda: l_fa.fit(1, a.lr),
                'learn.fit, same optimizer, TensorImage batches': lambda: l_ti.fit(1, a.lr)}
        cpu, wall = {k: [] for k in runs}, {k: [] for k in runs}
        for r in range(a.rounds + 1):                      # round 0 warms up
            for k, f in (runs.items() if r % 2 else reversed(list(runs.items()))):   # alternate the order too
                c0, w0 = time.process_time(), time.perf_counter(); f()
                if r: cpu[k].append((time.process_time()-c0)/a.n_batches); wall[k].append((time.perf_counter()-w0)/a.n_batches)
        base = 'plain PyTorch loop'
        for k in runs:
            ratio = [c/b for c, b in zip(cpu[k], cpu[base])]; wratio = [c/b for c, b in zip(wall[k], wall[base])]
            out.append(f'| {arch} | {size} | {bs} | {k} | {mmm(cpu[k], 1e3)} | {mmm(wall[k], 1e3)} | {mmm(ratio, 1., "{:.3f}")} | {mmm(wratio, 1., "{:.3f}")} |')
            rows.append({'figure': 'P1', 'name': f'{arch}@{size} bs{bs}: {k} / plain (CPU)', 'value': med(ratio), 'min': min(ratio),
                         'max': max(ratio), 'unit': 'ratio', 'ms_per_batch_cpu': 1e3*med(cpu[k]), 'wall_ratio': med(wratio)})
    print(f'\n{a.n_batches} in-memory batches + 1 validation batch per epoch, CPU, 1 thread, {a.rounds} rounds, '
          f'median (min–max) per batch; 1-min load average {load0:.1f} at the start, {os.getloadavg()[0]:.1f} at the end\n')
    print('| model | px | bs | trainer | ms / batch (CPU) | ms / batch (wall) | ÷ plain (CPU, same round) | ÷ plain (wall) |\n'
          '|---|---:|---:|---|---:|---:|---:|---:|')
    print('\n'.join(out))
    append_results(a.results, 'fit_overhead', rows, {**{k: v for k, v in vars(a).items() if k != 'results'}, 'loadavg_1min_start': load0})

if __name__ == '__main__': main()
