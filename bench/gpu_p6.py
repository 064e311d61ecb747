#!/usr/bin/env python
"""Figure P6: training images/s through `cassava_learner` on real JPEGs from disk ÷ timm's synthetic loop, on a GPU.

    .venv/bin/python bench/gpu_p6.py                       # on the GPU machine: ~5 min on one H200 (bench/gpu_check.sh)
    .venv/bin/python bench/gpu_p6.py --device cpu --models resnet10t:64:8 --n 48 --warmup 1 --batches 2 --workers 0 1 --tta-n 16
                                                          # a dry run of every step on a CPU (checks the script, not the figure)

For each `arch:size:bs` of `--models` (random init, `pretrained=False`):

- **ours**: `cassava_dls` over `--n` photo-like 800×600 JPEGs in the Kaggle layout (train.csv + train_images/,
  written by `bench/ensemble.py`'s generator), the full training augmentation at `size`, `num_workers` from
  `--workers` (default 2 and every core but one: a Kaggle box and the whole machine), and `cassava_learner(...,
  channels_last=True, cbs=AutoMixedPrecision('bf16'))`, fastai's Adam, `learn.fit(1)`. A callback times batches
  `warmup`..`warmup + batches` (a synchronize at both ends) and cancels the fit: images/s of the training loop fed
  from disk.
- **synthetic**: timm's `benchmark.py`-style train loop on the same model: random input already on the device, in
  channels-last, bf16 autocast, forward + cross-entropy + backward + `torch.optim.Adam` step, same batch size,
  the same warm-up and timed batch counts: images/s with no data loading at all.
- **P6** = ours ÷ synthetic (target ≥ 0.8: the data pipeline feeds the GPU).
- **inference**: `Ensemble([learn]).predict` with `--tta` rounds (decode once per image, each round augmented) on
  `--tta-n` images, `n_workers` = every core but one: images/s.

Prints a markdown table and appends JSON lines to `--results`. SAM's ratio on the GPU is `bench/sam_step.py
--device cuda` (run by `bench/gpu_check.sh` after this script)."""
import os, argparse, sys, tempfile, time, warnings, shutil
warnings.filterwarnings('ignore')
from pathlib import Path
import numpy as np, pandas as pd, torch, timm
import torch.nn.functional as F
sys.path.insert(0, str(Path(__file__).resolve().parent))
from ensemble import append_results, BENCH, write_photos
from fastai.callback.core import Callback, CancelFitException
from cassava_fa.data import read_cassava, cassava_dls
from cassava_fa.learner import cassava_learner
from cassava_fa.callbacks import AutoMixedPrecision
from cassava_fa.inference import Ensemble
from cassava_fa.testing import quiet

def sync(dev):
    if dev.type == 'cuda': torch.cuda.synchronize()

class TimeBatches(Callback):
    "Time batches `warmup`..`warmup+n` of the training fit (synchronized), then cancel the fit"
    order = 99
    def __init__(self, warmup, n, dev): self.warmup, self.n, self.dev, self.t = warmup, n, dev, None
    def before_fit(self): self.i = 0
    def after_batch(self):
        if not self.training: return
        self.i += 1
        if self.i == self.warmup: sync(self.dev); self.t0 = time.perf_counter()
        if self.i == self.warmup + self.n:
            sync(self.dev); self.t = time.perf_counter() - self.t0
            raise CancelFitException()

def ours(df, arch, size, bs, workers, a, dev):
    dls = cassava_dls(df, fold=None, size=size, bs=bs, num_workers=workers, device=dev)
    learn = quiet(cassava_learner(dls, arch, pretrained=False, channels_last=a.channels_last,
                                  cbs=[AutoMixedPrecision(a.amp)]*bool(a.amp) + [TimeBatches(a.warmup, a.batches, dev)]))
    learn.fit(1, 1e-3)
    t = learn.time_batches.t
    if t is None: raise SystemExit(f'--n {a.n} gives fewer than {a.warmup + a.batches} batches of {bs}: raise --n')
    return a.batches*bs/t, learn

def synthetic(arch, size, bs, a, dev):
    m = timm.create_model(arch, pretrained=False, num_classes=5).to(dev)
    if a.channels_last: m = m.to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(m.parameters(), lr=1e-3); m.train()
    x = torch.randn(bs, 3, size, size, device=dev)
    if a.channels_last: x = x.contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 5, (bs,), device=dev)
    ac = (lambda: torch.autocast(dev.type, dtype=torch.bfloat16 if a.amp == 'bf16' else torch.float16)) if a.amp else None
    def step():
        opt.zero_grad(set_to_none=True)
        if ac:
            with ac(): loss = F.cross_entropy(m(x), y)
        else: loss = F.cross_entropy(m(x), y)
        loss.backward(); opt.step()
    for _ in range(a.warmup): step()
    sync(dev); t0 = time.perf_counter()
    for _ in range(a.batches): step()
    sync(dev); return a.batches*bs/(time.perf_counter() - t0)

def main():
    cores = len(os.sched_getaffinity(0))
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--models', nargs='+', default=['efficientnet_b0:256:64', 'tf_efficientnet_b3:380:32'], help='arch:size:bs')
    ap.add_argument('--device', default='cuda'); ap.add_argument('--n', type=int, default=2400, help='JPEGs written')
    ap.add_argument('--workers', type=int, nargs='+', default=sorted({2, max(cores - 1, 1)}))
    ap.add_argument('--warmup', type=int, default=8); ap.add_argument('--batches', type=int, default=25)
    ap.add_argument('--amp', choices=['bf16', 'fp16', ''], default='bf16'); ap.add_argument('--no-channels-last', dest='channels_last', action='store_false')
    ap.add_argument('--tta', type=int, default=3); ap.add_argument('--tta-n', type=int, default=512)
    ap.add_argument('--results', default=str(BENCH/'results'/'gpu_p6.jsonl'), help="JSON lines appended here ('' : none)")
    a = ap.parse_args()
    dev = torch.device(a.device)
    if dev.type == 'cuda': torch.backends.cudnn.benchmark = True
    d = Path(tempfile.mkdtemp(prefix='cassava-p6-'))
    rows, out = [], []
    try:
        t0 = time.perf_counter()
        write_photos(d/'train_images', a.n, seed=0, n_distinct=min(a.n, 64))
        pd.DataFrame({'image_id': [f'{i:05d}.jpg' for i in range(a.n)], 'label': np.random.default_rng(0).integers(0, 5, a.n)}).to_csv(d/'train.csv', index=False)
        df = read_cassava(d)
        print(f'{a.n} JPEGs written in {time.perf_counter() - t0:.0f} s; {cores} cores; {torch.cuda.get_device_name() if dev.type == "cuda" else "CPU"}', flush=True)
        for spec in a.models:
            arch, size, bs = spec.split(':'); size, bs = int(size), int(bs)
            syn = synthetic(arch, size, bs, a, dev)
            out.append(f'| {arch} | {size} | {bs} | timm-style synthetic loop | — | {syn:.0f} | 1.000 |')
            for w in a.workers:
                ips, learn = ours(df, arch, size, bs, w, a, dev)
                out.append(f'| {arch} | {size} | {bs} | `cassava_learner` from JPEGs | {w} | {ips:.0f} | **{ips/syn:.3f}** |')
                rows.append({'figure': 'P6', 'name': f'{arch}@{size} bs{bs} workers {w}: ours / synthetic ({a.device})', 'value': ips/syn,
                             'unit': 'ratio', 'images_per_s': ips, 'synthetic_images_per_s': syn})
                print(out[-1], flush=True)
            files = df.file.tolist()[:a.tta_n]
            t0 = time.perf_counter()
            Ensemble([learn]).predict(files, tta=a.tta, bs=bs, n_workers=max(cores - 1, 1), progress=False); sync(dev)
            inf = len(files)/(time.perf_counter() - t0)
            out.append(f'| {arch} | {size} | {bs} | inference, TTA {a.tta} (1 + {a.tta} rounds, decode once) | {max(cores - 1, 1)} threads | {inf:.0f} | — |')
            rows.append({'figure': 'P6-inference', 'name': f'{arch}@{size} bs{bs}: predict, tta {a.tta} ({a.device})', 'value': inf, 'unit': 'images/s'})
            print(out[-1], flush=True)
            append_results(a.results, 'gpu_p6', rows, {k: v for k, v in vars(a).items() if k != 'results'}); rows = []   # kept if a later model times out
    finally: shutil.rmtree(d, ignore_errors=True)
    print(f'\n{a.device}, amp {a.amp or "off"}, channels_last {a.channels_last}, {a.warmup} warm-up + {a.batches} timed batches\n')
    print('| model | px | bs | loop | workers | images/s | ÷ synthetic (P6, target ≥ 0.8) |\n|---|---:|---:|---|---:|---:|---:|')
    print('\n'.join(out))

if __name__ == '__main__': main()
