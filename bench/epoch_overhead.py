#!/usr/bin/env python
"""EMA / SnapshotCheckpoint / fsync overhead per epoch ÷ the same epoch without them (figure P7).

    OMP_NUM_THREADS=1 .venv/bin/python bench/epoch_overhead.py     # resnet10t, 64 px, bs 32, 8 batches an epoch, CPU, 1 thread

Copies of one randomly initialised timm model (pretrained=False, fastai Adam) train one epoch per `learn.fit(1)` on
the same `--n-batches` fixed in-memory batches (plus 2 validation batches) with: nothing (`base`), `EMA()`,
`SnapshotCheckpoint(keep=2)` (weights, optimizer and RNG state and the manifest written every epoch through
`atomic_write`, which fsyncs the file and its folder), the same with the fsyncs off (`atomic_write(fsync=False)`
patched into `cassava_fa.snapshots` for that fit only), and `EMA()` + `SnapshotCheckpoint(keep=2)` (the EMA weights
are saved too). Snapshots go to `--dir` (default a temporary folder on the disk of `/tmp`).

Two figures per variant, each ÷ the base epoch *of the same round*, median (min–max) over `--rounds` rounds after
one warm-up round, variants alternating (order reversed every other round): the whole epoch (wall time: a snapshot's
cost is partly waiting on the disk, which CPU time would not see; CPU time alongside), and the time spent inside the
added callbacks' event methods alone (wall), which a loaded machine's epoch-to-epoch noise does not swamp. The epoch
here is a few seconds, so the ratios are upper bounds for a real epoch of minutes. Appends JSON lines to `--results`."""
import os
os.environ.setdefault('OMP_NUM_THREADS', '1')
import argparse, copy, shutil, sys, tempfile, time, warnings
warnings.filterwarnings('ignore')
from functools import partial
from pathlib import Path
from unittest import mock
import torch, timm
from torch import nn
from fastai.data.core import DataLoaders
from fastai.data.load import DataLoader
from fastai.learner import Learner
from fastai.callback.core import _events
sys.path.insert(0, str(Path(__file__).resolve().parent))
from ensemble import append_results, med, mmm, BENCH
import cassava_fa.snapshots as snapshots
from cassava_fa.core import atomic_write
from cassava_fa.callbacks import EMA
from cassava_fa.snapshots import SnapshotCheckpoint
from cassava_fa.testing import quiet

def timed(cb):
    "Wrap the event methods `cb`'s class defines, summing their wall time in `cb.t_in`"
    cb.t_in = 0.
    for name in _events:
        if not any(name in k.__dict__ for k in type(cb).__mro__ if k.__module__.startswith('cassava_fa')): continue
        f = getattr(cb, name)
        def w(*a, f=f, **k):
            t0 = time.perf_counter()
            try: return f(*a, **k)
            finally: cb.t_in += time.perf_counter() - t0
        setattr(cb, name, w)
    return cb

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--arch', default='resnet10t'); ap.add_argument('--size', type=int, default=64)
    ap.add_argument('--bs', type=int, default=32); ap.add_argument('--n-batches', type=int, default=8)
    ap.add_argument('--rounds', type=int, default=4); ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--dir', default=None, help='where the snapshots go (default: a temporary folder)')
    ap.add_argument('--results', default=str(BENCH/'results'/'epoch_overhead.jsonl'), help="JSON lines appended here ('' : none)")
    a = ap.parse_args()
    torch.set_num_threads(1); torch.manual_seed(a.seed); load0 = os.getloadavg()[0]
    x = torch.randn(a.n_batches*a.bs, 3, a.size, a.size); y = torch.randint(0, 5, (a.n_batches*a.bs,))
    ds, vs = list(zip(x, y)), list(zip(x[:2*a.bs], y[:2*a.bs]))
    model0 = timm.create_model(a.arch, pretrained=False, num_classes=5)
    root = Path(tempfile.mkdtemp(prefix='cassava-epoch-', dir=a.dir))
    variants = {'base': lambda: [], 'EMA()': lambda: [EMA()], 'SnapshotCheckpoint (fsync)': lambda: [SnapshotCheckpoint(keep=2)],
                'SnapshotCheckpoint, fsync off': lambda: [SnapshotCheckpoint(keep=2)],
                'EMA() + SnapshotCheckpoint (fsync)': lambda: [EMA(), SnapshotCheckpoint(keep=2)]}
    learners, added = {}, {}
    for i, (k, mk) in enumerate(variants.items()):
        added[k] = [timed(cb) for cb in mk()]
        dls = DataLoaders(DataLoader(ds, bs=a.bs), DataLoader(vs, bs=a.bs))
        learners[k] = quiet(Learner(dls, copy.deepcopy(model0), loss_func=nn.CrossEntropyLoss(), cbs=added[k], path=root/f'v{i}'))
    no_fsync = partial(atomic_write, fsync=False)
    wall, cpu, inside = ({k: [] for k in variants} for _ in range(3))
    try:
        for r in range(a.rounds + 1):                      # round 0 warms up
            for k, learn in (learners.items() if r % 2 else reversed(list(learners.items()))):
                t_in0 = sum(cb.t_in for cb in added[k])
                with mock.patch.object(snapshots, 'atomic_write', no_fsync) if 'fsync off' in k else mock.MagicMock():
                    c0, w0 = time.process_time(), time.perf_counter(); learn.fit(1, 1e-3)
                    w, c = time.perf_counter() - w0, time.process_time() - c0
                if r: wall[k].append(w); cpu[k].append(c); inside[k].append(sum(cb.t_in for cb in added[k]) - t_in0)
        mb = sum(f.stat().st_size for f in (root/'v2').rglob('epoch_*.safetensors')) / 2 / 2**20   # 2 epochs kept
    finally: shutil.rmtree(root, ignore_errors=True)
    print(f'\n{a.arch} ({sum(p.numel() for p in model0.parameters())/1e6:.1f} M parameters), {a.size} px, bs {a.bs}, {a.n_batches} '
          f'training + 2 validation batches an epoch, CPU, 1 thread, {a.rounds} rounds, median (min–max); a snapshot {mb:.0f} MB '
          f'(weights + optimizer state); 1-min load average {load0:.1f} at the start, {os.getloadavg()[0]:.1f} at the end\n')
    print('| variant | epoch s (wall) | epoch s (CPU) | epoch ÷ base (wall, same round) | epoch ÷ base (CPU) | in the added callbacks, ms / epoch (wall) | callbacks ÷ base epoch |\n'
          '|---|---:|---:|---:|---:|---:|---:|')
    rows = []
    for k in variants:
        rw = [v/b for v, b in zip(wall[k], wall['base'])]; rc = [v/b for v, b in zip(cpu[k], cpu['base'])]
        ri = [1 + v/b for v, b in zip(inside[k], wall['base'])]
        print(f'| {k} | {mmm(wall[k], 1., "{:.2f}")} | {mmm(cpu[k], 1., "{:.2f}")} | {mmm(rw, 1., "{:.3f}")} | {mmm(rc, 1., "{:.3f}")} | '
              f'{mmm(inside[k], 1e3)} | {mmm(ri, 1., "{:.4f}")} |')
        rows.append({'figure': 'P7', 'name': f'epoch / base epoch (wall): {k}', 'value': med(rw), 'min': min(rw), 'max': max(rw), 'unit': 'ratio',
                     'cpu_ratio': med(rc), 'callbacks_ratio': med(ri), 'callbacks_ms': 1e3*med(inside[k])})
    append_results(a.results, 'epoch_overhead', rows, {**{k: v for k, v in vars(a).items() if k != 'results'}, 'loadavg_1min_start': load0,
                                                       'snapshot_mb': mb})

if __name__ == '__main__': main()
