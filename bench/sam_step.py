#!/usr/bin/env python
"""SAM step time ÷ base step time, for `SAM(every=1)` and `SAM(every=5)`, on the same model and the same batches.

    OMP_NUM_THREADS=1 .venv/bin/python bench/sam_step.py              # resnet10t, 64 px, bs 32, CPU, 1 thread
    .venv/bin/python bench/sam_step.py --device cuda --size 224 --n-batches 50

Each variant trains a copy of one randomly initialised timm model (pretrained=False, Adam) for `--n-batches` fixed
random batches; the variants are interleaved over `--rounds` rounds after one warm-up round, and the median time per
optimizer step is reported (from `before_batch` to `after_batch`: data collation and validation are left out). On
the CPU the clock is the process's CPU time (all its threads), which other jobs on a shared machine do not inflate;
on CUDA it is wall time after a synchronize. Each ratio is taken against the base step *of the same round* (the
variants alternate, the order reversed every other round), then median (min–max) over rounds. Prints a markdown
table and appends one JSON line per variant to `--results`."""
import argparse, copy, os, sys, time
from pathlib import Path
import torch, timm
from torch import nn
from fastai.data.core import DataLoaders
from fastai.data.load import DataLoader
from fastai.learner import Learner
from fastai.callback.core import Callback
sys.path.insert(0, str(Path(__file__).resolve().parent))
from ensemble import append_results, med, mmm, BENCH
from cassava_fa.optim import SAM
from cassava_fa.testing import quiet

class StepTimer(Callback):
    "Sum the wall time of the training batches (forward, backward, SAM, step) and count forward passes"
    order,run_valid = -100,False
    def before_fit(self): self.t,self.n,self.fwd = 0.,0,0
    def before_batch(self): self.t0 = self._now()
    def after_batch(self): self.t += self._now()-self.t0; self.n += 1
    def _now(self):
        if self.dls.device is None or self.dls.device.type != 'cuda': return time.process_time()
        torch.cuda.synchronize(); return time.perf_counter()

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--arch', default='resnet10t'); ap.add_argument('--size', type=int, default=64)
    ap.add_argument('--bs', type=int, default=32); ap.add_argument('--n-batches', type=int, default=10)
    ap.add_argument('--rounds', type=int, default=3); ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--device', default='cpu'); ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--results', default=str(BENCH/'results'/'sam_step.jsonl'), help="JSON lines appended here ('' : none)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads); torch.manual_seed(a.seed); load0 = os.getloadavg()[0]
    dev = torch.device(a.device)
    x = torch.randn(a.n_batches*a.bs, 3, a.size, a.size); y = torch.randint(0, 5, (a.n_batches*a.bs,))
    ds = list(zip(x, y))
    model0 = timm.create_model(a.arch, pretrained=False, num_classes=5)
    variants = {'base': [], 'SAM every=1': [SAM()], 'SAM every=5': [SAM(every=5)]}
    learners, timers = {}, {}
    for k, cbs in variants.items():
        dls = DataLoaders(DataLoader(ds, bs=a.bs), DataLoader(ds[:a.bs], bs=a.bs), device=dev)
        timers[k] = StepTimer()
        learn = quiet(Learner(dls, copy.deepcopy(model0), loss_func=nn.CrossEntropyLoss(), cbs=cbs+[timers[k]]))
        learn.model.register_forward_pre_hook(lambda m, i, t=timers[k]: setattr(t, 'fwd', t.fwd + m.training))
        learners[k] = learn
    times = {k: [] for k in variants}
    for r in range(a.rounds + 1):                      # round 0 warms up
        for k, learn in (learners.items() if r % 2 else reversed(list(learners.items()))):
            learn.fit(1, 1e-3)
            if r: times[k].append(timers[k].t / timers[k].n)
    clock = 'wall time' if dev.type == 'cuda' else 'CPU time'
    print(f'\n{a.arch}, {a.size} px, bs {a.bs}, {a.device} ({a.threads} thread{"s"*(a.threads>1)}, {clock}), '
          f'{a.n_batches} batches × {a.rounds} rounds, median (min–max) per step; 1-min load average {load0:.1f} at the start, '
          f'{os.getloadavg()[0]:.1f} at the end\n')
    print('| variant | ms / step | ÷ base (same round) | forward passes / step |\n|---|---:|---:|---:|')
    rows = []
    for k in variants:
        ratio = [t/b for t, b in zip(times[k], times['base'])]
        print(f'| {k} | {mmm(times[k], 1e3)} | {mmm(ratio, 1., "{:.3f}")} | {timers[k].fwd/timers[k].n:.1f} |')
        rows.append({'figure': 'P2', 'name': f'step / base step: {k}', 'value': med(ratio), 'min': min(ratio), 'max': max(ratio),
                     'unit': 'ratio', 'ms_per_step': 1e3*med(times[k])})
    append_results(a.results, 'sam_step', rows, {**{k: v for k, v in vars(a).items() if k != 'results'}, 'loadavg_1min_start': load0})

if __name__ == '__main__': main()
