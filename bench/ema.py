#!/usr/bin/env python
"""EMA cost per optimizer step ÷ the step itself, for `EMA()` and `EMA(every=5)`, on the same model and the same batches.

    OMP_NUM_THREADS=1 .venv/bin/python bench/ema.py                   # resnet10t, 64 px, bs 32, CPU, 1 thread
    .venv/bin/python bench/ema.py --device cuda --size 224 --n-batches 50

Each variant trains a copy of one randomly initialised timm model (pretrained=False, Adam) on `--n-batches` fixed
random batches; the variants alternate within each of `--rounds` rounds, after one warm-up round. Two figures per
variant, both per optimizer step and as a ratio to the base learner's step *of the same round* (median and min–max
over the rounds): the whole step from `before_batch` to `after_batch` (forward, backward, optimizer step, and the EMA
update for the EMA variants), and the EMA update alone (`ModelEmaV3.update`, timed inside the callback). On the CPU
the clock is the process's CPU time (other jobs on a shared machine do not inflate it); on CUDA it is wall time after
a synchronize. Prints a markdown table and appends one JSON line per figure to `--results`."""
import os
os.environ.setdefault('OMP_NUM_THREADS', '1')
import argparse, copy, sys, time, warnings
warnings.filterwarnings('ignore', category=FutureWarning)                # torch.jit.script deprecation in timm
from pathlib import Path
import torch, timm
from torch import nn
from fastai.data.core import DataLoaders
from fastai.data.load import DataLoader
from fastai.learner import Learner
from fastai.callback.core import Callback
sys.path.insert(0, str(Path(__file__).resolve().parent))
from ensemble import append_results, med, mmm, BENCH
from cassava_fa.callbacks import EMA
from cassava_fa.testing import quiet

def now(dev:torch.device)->float:
    if dev.type != 'cuda': return time.process_time()
    torch.cuda.synchronize(); return time.perf_counter()

class StepTimer(Callback):
    "Sum the time of the training batches (forward, backward, step, EMA update) and count the optimizer steps"
    order,run_valid = -100,False
    def before_fit(self): self.t,self.n = 0.,0
    def before_batch(self): self.t0 = now(self.dls.device)
    def after_batch(self): self.t += now(self.dls.device)-self.t0; self.n += 1

def time_updates(cb:EMA, dev:torch.device):
    "Wrap the callback's `ModelEmaV3.update` (once it exists) to sum its time in `cb.t_update`"
    cb.t_update, cb.n_update = 0., 0
    orig = type(cb).before_fit
    def before_fit(self):
        orig(self)
        if self.model_ema is not None and not hasattr(self.model_ema, '_timed'):
            update = self.model_ema.update
            def timed(*a, **k):
                t0 = now(dev); update(*a, **k); self.t_update += now(dev)-t0; self.n_update += 1
            self.model_ema.update, self.model_ema._timed = timed, True
    cb.before_fit = before_fit.__get__(cb)

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--arch', default='resnet10t'); ap.add_argument('--size', type=int, default=64)
    ap.add_argument('--bs', type=int, default=32); ap.add_argument('--n-batches', type=int, default=10)
    ap.add_argument('--rounds', type=int, default=5); ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--device', default='cpu'); ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--results', default=str(BENCH/'results'/'ema.jsonl'), help="JSON lines appended here ('' : none)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads); torch.manual_seed(a.seed)
    dev = torch.device(a.device)
    x = torch.randn(a.n_batches*a.bs, 3, a.size, a.size); y = torch.randint(0, 5, (a.n_batches*a.bs,))
    ds = list(zip(x, y))
    model0 = timm.create_model(a.arch, pretrained=False, num_classes=5)
    variants = {'base': None, 'EMA()': EMA(), 'EMA(every=5)': EMA(every=5)}
    learners, timers = {}, {}
    for k, cb in variants.items():
        dls = DataLoaders(DataLoader(ds, bs=a.bs), DataLoader(ds[:a.bs], bs=a.bs), device=dev)
        timers[k] = StepTimer()
        if cb is not None: time_updates(cb, dev)
        learners[k] = quiet(Learner(dls, copy.deepcopy(model0), loss_func=nn.CrossEntropyLoss(),
                                    cbs=[timers[k]] + ([cb] if cb is not None else [])))
    step = {k: [] for k in variants}; upd = {k: [] for k in variants if variants[k] is not None}
    for r in range(a.rounds + 1):                      # round 0 warms up
        for k, learn in learners.items():
            cb = variants[k]
            if cb is not None: u0 = cb.t_update
            learn.fit(1, 1e-3)
            if not r: continue
            step[k].append(timers[k].t / timers[k].n)
            if cb is not None: upd[k].append((cb.t_update - u0) / timers[k].n)   # per optimizer step, averaged over `every`
    ratio = {k: [s / b for s, b in zip(step[k], step['base'])] for k in variants}
    uratio = {k: [u / b for u, b in zip(upd[k], step['base'])] for k in upd}
    n_par = sum(p.numel() for p in model0.parameters())
    clock = 'wall time' if dev.type == 'cuda' else 'CPU time'
    print(f'\n{a.arch} ({n_par/1e6:.1f} M parameters), {a.size} px, bs {a.bs}, {a.device} ({a.threads} thread{"s"*(a.threads>1)}, '
          f'{clock}), {a.n_batches} batches × {a.rounds} rounds, median (min–max) per optimizer step\n')
    print('| variant | ms / step | step ÷ base step (same round) | EMA update ms / step | EMA update ÷ base step |\n|---|---:|---:|---:|---:|')
    rows = []
    for k in variants:
        u = (mmm(upd[k], 1e3, '{:.2f}'), mmm(uratio[k], 1., '{:.4f}')) if k in upd else ('—', '—')
        print(f'| {k} | {mmm(step[k], 1e3)} | {mmm(ratio[k], 1., "{:.3f}")} | {u[0]} | {u[1]} |')
        rows.append({'figure': 'ema', 'name': f'ms/step: {k}', 'value': 1e3*med(step[k]), 'min': 1e3*min(step[k]),
                     'max': 1e3*max(step[k]), 'unit': 'ms'})
        rows.append({'figure': 'ema', 'name': f'step / base step: {k}', 'value': med(ratio[k]), 'min': min(ratio[k]),
                     'max': max(ratio[k]), 'unit': 'ratio'})
        if k in upd:
            rows.append({'figure': 'ema', 'name': f'EMA update / base step: {k}', 'value': med(uratio[k]),
                         'min': min(uratio[k]), 'max': max(uratio[k]), 'unit': 'ratio', 'update_ms': 1e3*med(upd[k])})
    append_results(a.results, 'ema', rows, {**{k: v for k, v in vars(a).items() if k != 'results'}, 'n_params': n_par})

if __name__ == '__main__': main()
