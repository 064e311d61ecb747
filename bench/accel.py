#!/usr/bin/env python
"""The accelerator options of `cassava_learner`, each against fp32 / contiguous / eager in the same run.

    OMP_NUM_THREADS=1 .venv/bin/python bench/accel.py                      # resnet10t @ 64, bs 32, CPU
    .venv/bin/python bench/accel.py --device cuda --models efficientnet_b0:256:64   # on a GPU machine

One randomly initialised timm model (pretrained=False) is copied into a fastai `Learner` per variant, each with the
callbacks `cassava_learner` adds for the option (so the same code path as `cassava_learner(..., channels_last=True,
compile=True)` and `cbs=AutoMixedPrecision()`), and trained with `learn.fit(1, lr)` over the same `--n-batches`
fixed in-memory batches (already collated: no data loading is timed) plus one validation batch:

- `fp32`: nothing added (the baseline);
- `bf16`: `AutoMixedPrecision('bf16')` (autocast on the model's device, no loss scaling);
- `channels_last`: fastai's `ChannelsLast` (the model's 4-d weights in NHWC);
- `bf16 + channels_last`;
- `compile`: `CompileModel()` (`torch.compile`, default `inductor` backend, in place). Its first fit compiles: the
  compile time is reported apart (the first fit's wall time minus a steady fit's: inductor compiles in worker
  processes, whose CPU time the process's does not count), and the steady per-batch time is
  the figure. `CompileModel` undoes the compilation after each fit; the next fit's `compile` finds dynamo's cache.

Variants alternate within each of `--rounds` rounds after one warm-up round (which also pays the compilation),
order reversed every other round; on the CPU the time is the process's CPU time, on CUDA wall time after a
synchronize; the ratio is taken against the `fp32` fit of the same round: median (min–max) over rounds. Appends
JSON lines to `--results`."""
import os
os.environ.setdefault('OMP_NUM_THREADS', '1')
import argparse, copy, sys, time, warnings
warnings.filterwarnings('ignore')
from pathlib import Path
import torch, timm
from torch import nn
from fastai.data.core import DataLoaders
from fastai.data.load import DataLoader
from fastai.learner import Learner
from fastai.callback.channelslast import ChannelsLast
sys.path.insert(0, str(Path(__file__).resolve().parent))
from ensemble import append_results, med, mmm, BENCH
from cassava_fa.testing import quiet
from cassava_fa.callbacks import AutoMixedPrecision
from cassava_fa.learner import CompileModel

VARIANTS = {'fp32': lambda: [], 'bf16': lambda: [AutoMixedPrecision('bf16')], 'channels_last': lambda: [ChannelsLast()],
            'bf16 + channels_last': lambda: [ChannelsLast(), AutoMixedPrecision('bf16')], 'compile': lambda: [CompileModel()]}

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--models', nargs='+', default=['resnet10t:64:32'], help='arch:size:bs')
    ap.add_argument('--variants', nargs='+', default=list(VARIANTS), choices=list(VARIANTS))
    ap.add_argument('--n-batches', type=int, default=8); ap.add_argument('--rounds', type=int, default=4)
    ap.add_argument('--lr', type=float, default=1e-3); ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--device', default='cpu')
    ap.add_argument('--results', default=str(BENCH/'results'/'accel.jsonl'), help="JSON lines appended here ('' : none)")
    a = ap.parse_args()
    dev = torch.device(a.device); cuda = dev.type == 'cuda'
    if dev.type == 'cpu': torch.set_num_threads(int(os.environ['OMP_NUM_THREADS']))
    torch.manual_seed(a.seed)
    clock = (lambda: (torch.cuda.synchronize(), time.perf_counter())[1]) if cuda else time.process_time
    load0, rows, out = os.getloadavg()[0], [], []
    for spec in a.models:
        arch, size, bs = spec.split(':'); size, bs = int(size), int(bs)
        batches = [(torch.randn(bs, 3, size, size, device=dev), torch.randint(0, 5, (bs,), device=dev)) for _ in range(a.n_batches)]
        valid = (torch.randn(bs, 3, size, size, device=dev), torch.randint(0, 5, (bs,), device=dev))
        model0 = timm.create_model(arch, pretrained=False, num_classes=5).to(dev)
        def learner(cbs):
            dls = DataLoaders(DataLoader(batches, bs=None), DataLoader([valid], bs=None), device=dev)
            return quiet(Learner(dls, copy.deepcopy(model0), loss_func=nn.CrossEntropyLoss(), cbs=cbs))
        learners = {k: learner(VARIANTS[k]()) for k in a.variants}
        times, walls, first = {k: [] for k in learners}, {k: [] for k in learners}, {}
        for r in range(a.rounds + 1):                      # round 0 warms up (and compiles)
            for k, l in (learners.items() if r % 2 else reversed(list(learners.items()))):
                t0, w0 = clock(), time.perf_counter(); l.fit(1, a.lr); t, w = clock() - t0, time.perf_counter() - w0
                if r: times[k].append(t/a.n_batches); walls[k].append(w)
                else: first[k] = w
        for k in learners:
            ratio = [t/b for t, b in zip(times[k], times['fp32'])]
            compile_s = first[k] - med(walls[k])   # wall: inductor compiles in worker processes
            out.append(f'| {arch} | {size} | {bs} | {k} | {mmm(times[k], 1e3)} | {mmm(ratio, 1., "{:.3f}")} | {compile_s:.1f} |')
            rows.append({'figure': 'accel', 'name': f'{arch}@{size} bs{bs}: {k} / fp32 ({a.device})', 'value': med(ratio),
                         'min': min(ratio), 'max': max(ratio), 'unit': 'ratio', 'ms_per_batch': 1e3*med(times[k]),
                         'first_fit_extra_s': compile_s})
    what = 'wall time after a synchronize' if cuda else f'CPU time, {os.environ["OMP_NUM_THREADS"]} thread(s)'
    print(f'\n{a.n_batches} in-memory batches + 1 validation batch per fit, {a.device}, {what}, {a.rounds} rounds, median (min–max) '
          f'per batch; 1-min load average {load0:.1f} at the start, {os.getloadavg()[0]:.1f} at the end\n')
    print('| model | px | bs | variant | ms / batch | ÷ fp32 (same round) | first fit: extra wall s (compilation) |\n|---|---:|---:|---|---:|---:|---:|')
    print('\n'.join(out))
    append_results(a.results, 'accel', rows, {**{k: v for k, v in vars(a).items() if k != 'results'}, 'loadavg_1min_start': load0})

if __name__ == '__main__': main()
