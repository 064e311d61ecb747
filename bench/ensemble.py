#!/usr/bin/env python
"""Figure P4: a decode-once `Ensemble.predict` of k members × TTA against the naive loop that re-decodes per member.

    OMP_NUM_THREADS=1 .venv/bin/python bench/ensemble.py        # 4 members, tta 3, 64 synthetic 800×600 JPEGs, 1 thread

The ensemble has 4 members: two architectures at two input sizes (resnet10t at 64 px, test_convnext at 96 px,
`pretrained=False`), two snapshots of each, taken from a 2-epoch `SnapshotCheckpoint` run on the bundled sample data
that trains on `--train-pct` of each epoch's batches (the weights barely matter: only time is measured), and rebuilt
with `Ensemble.from_snapshots(dirs, epochs=[0, 1])`. There is no real cassava data here, so `--n` photo-like 800×600
JPEGs are written (seeded) to a temporary folder with `decode.py`'s generator (`write_photos`).

Variants, interleaved over `--rounds` rounds after one warm-up round:

- *decode-once*: `ens.predict(items, tta=T, bs=bs)`: each image is decoded once per round (clean + T augmented) and
  every member predicts on the same decoded image;
- *naive, Ensemble per member*: `Ensemble([m]).predict(items, tta=T, bs=bs)` for each member in turn (same code, so
  the only difference is that every member decodes and augments for itself);
- *naive, learn.tta per learner* (unless `--no-learn-tta`): `learn.tta(dl=learn.dls.test_dl(items), n=T)` for a
  `cassava_learner` of each member with its snapshot weights loaded: fastai's DataLoader path;
- *decode only*: `cassava_fa.data.load_image` on every file once, the single-decode time of the bound below.

Decodes are counted in the warm-up round by wrapping `cassava_fa.data.load_image` (as the notebook's test does) and
`cv2.imread` (fastai's pipeline holds its own reference to `load_image`, so only the `cv2.imread` count sees its
decodes). The *decode-once bound* of a round is `decodes × single-decode time + Σ members' forward time` (the forward
times from `ens.timings` of the same decode-once run); the table gives the decode-once time ÷ that bound, with the
rest of `ens.timings` (augmentation) and what no timer covers (the validation resizes, stacking) beside it, and
the same ratio with the run's own decode time in place of the separate single-decode one (less noisy on a shared
machine, since both sides come from the same run).
One thread (`torch.set_num_threads(1)`, `cv2.setNumThreads(1)`, `OMP_NUM_THREADS=1`), CPU. Wall time
(`perf_counter`, what `ens.timings` uses) is the figure; the process's CPU time is printed alongside. Median and
min–max over the rounds. Prints a markdown table and appends one JSON line per figure to `--results`."""
import os
os.environ.setdefault('OMP_NUM_THREADS', '1')
import argparse, datetime, json, platform, statistics, subprocess, sys, tempfile, time, warnings
warnings.filterwarnings('ignore', category=FutureWarning)                # torch.jit.script deprecation in timm
from pathlib import Path
from unittest import mock
import numpy as np, cv2, torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from decode import photo                                                    # the photo-like image generator
import cassava_fa
from cassava_fa import data as _data

BENCH = Path(__file__).resolve().parent
MEMBERS = [('resnet10t', 64), ('test_convnext', 96)]                    # (arch, input size); 2 snapshots of each

def write_photos(d, n:int, seed:int=0, n_distinct:int=64, quality:int=90)->list:
    """`n` photo-like 800×600 JPEGs in `d`: the first `min(n, n_distinct)` from `decode.photo` (~0.45 s each), the rest
    variants of those (flipped, rolled, fresh sensor noise; ~30 ms each), all saved at `quality`, 4:2:0"""
    rng, d, files, base = np.random.default_rng(seed), Path(d), [], []
    d.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        if i < n_distinct: img = photo(rng); base.append(img)
        else:
            t, img = i // len(base), base[i % len(base)]
            img = np.roll(img[::-1 if t & 1 else 1, ::-1 if t & 2 else 1], (37*t % 600, 53*t % 800), (0, 1))
            img = (img + rng.normal(0, 3, img.shape)).clip(0, 255).astype(np.uint8)
        f = d/f'{i:05d}.jpg'; Image.fromarray(img).save(f, quality=quality, subsampling='4:2:0'); files.append(f)
    return files

def make_runs(d, train_pct:float=0.1, seed:int=0)->list:
    "A `SnapshotCheckpoint` run folder (2 epochs, `train_pct` of each epoch's batches) for each of `MEMBERS`"
    from fastai.callback.training import ShortEpochCallback
    try: from cassava_fa.learner import write_model_card       # moved here from cassava_fa.inference
    except ImportError: from cassava_fa.inference import write_model_card
    from cassava_fa.snapshots import SnapshotCheckpoint
    from cassava_fa.testing import sample_learner
    runs = []
    for arch, size in MEMBERS:
        run = Path(d)/f'{arch}_{size}'
        learn = sample_learner(arch, size=size, seed=seed,
                               cbs=[SnapshotCheckpoint(dir=run), ShortEpochCallback(pct=train_pct, short_valid=True)])
        learn.fit(2, 1e-3)
        if not (run/'model.json').exists(): write_model_card(learn, run)
        runs.append(run)
    return runs

def members_learners(ens, runs)->list:
    "A `cassava_learner` for each member of `ens` (made `from_snapshots(runs, epochs=[0, 1])`), its weights loaded"
    from cassava_fa.snapshots import load_snapshot
    from cassava_fa.inference import snapshot_files
    from cassava_fa.testing import sample_learner
    out = []
    for (arch, size), run in zip(MEMBERS, runs):
        for f in snapshot_files(run, epochs=[0, 1]):
            learn = sample_learner(arch, size=size); load_snapshot(learn.model, f); out.append(learn)
    assert len(out) == len(ens.members)
    return out

def set_threads(n:int=1):
    torch.set_num_threads(n); cv2.setNumThreads(n)

def versions()->dict:
    import fastai, timm, albumentations
    return {'python': platform.python_version(), 'torch': torch.__version__, 'timm': timm.__version__,
            'fastai': fastai.__version__, 'albumentations': albumentations.__version__, 'opencv': cv2.__version__,
            'numpy': np.__version__}

def machine()->dict:
    cpu = next((l.split(':', 1)[1].strip() for l in Path('/proc/cpuinfo').read_text().splitlines()
                if l.startswith('model name')), platform.processor()) if Path('/proc/cpuinfo').exists() else platform.processor()
    return {'cpu': cpu, 'cores': os.cpu_count(), 'system': platform.system()}

def commit()->str|None:
    "HEAD, with '+dirty' when the package's sources differ from it (other work in progress in the checkout)"
    try:
        git = lambda *a: subprocess.run(['git', *a], cwd=BENCH, capture_output=True, text=True).stdout.strip()
        head = git('rev-parse', '--short', 'HEAD')
        return (head + ('+dirty' if git('status', '--porcelain', '--', '../cassava_fa') else '')) or None
    except OSError: return None

def append_results(path, bench:str, rows:list, args:dict):
    "One JSON line per figure (`rows`: dicts with at least `figure`, `name`, `value`, `unit`) appended to `path`"
    if not path: return
    path = Path(path); path.parent.mkdir(parents=True, exist_ok=True)
    meta = {'bench': bench, 'date': datetime.datetime.now().astimezone().isoformat(timespec='seconds'),
            'commit': commit(), 'machine': machine(), 'loadavg_1min_end': round(os.getloadavg()[0], 2), 'versions': versions(), 'args': args}
    with open(path, 'a') as f:
        for r in rows: f.write(json.dumps({**meta, **r}) + '\n')

def med(v): return statistics.median(v)
def mmm(v, scale=1., fmt='{:.1f}'): return f'{fmt.format(scale*med(v))} ({fmt.format(scale*min(v))}–{fmt.format(scale*max(v))})'

class Counter:
    "Count calls of `cassava_fa.data.load_image` and of `cv2.imread` inside the block"
    def __enter__(self):
        self.load, self.imread = 0, 0
        real_load, real_imread = _data.load_image, cv2.imread
        def load(f): self.load += 1; return real_load(f)
        def imread(*a, **k): self.imread += 1; return real_imread(*a, **k)
        self.ps = [mock.patch.object(_data, 'load_image', side_effect=load), mock.patch.object(cv2, 'imread', side_effect=imread)]
        for p in self.ps: p.start()
        return self
    def __exit__(self, *exc):
        for p in reversed(self.ps): p.stop()

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--n', type=int, default=64, help='number of images'); ap.add_argument('--tta', type=int, default=3)
    ap.add_argument('--bs', type=int, default=32); ap.add_argument('--rounds', type=int, default=5)
    ap.add_argument('--train-pct', type=float, default=0.1, help="share of each epoch's batches the snapshot runs train on")
    ap.add_argument('--no-learn-tta', action='store_true', help='leave out the learn.tta variant')
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--results', default=str(BENCH/'results'/'ensemble.jsonl'), help="JSON lines appended here ('' : none)")
    a = ap.parse_args()
    set_threads(1); torch.manual_seed(a.seed); load0 = os.getloadavg()[0]
    from cassava_fa.inference import Ensemble
    t_setup = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix='cassava-ensemble-') as d:
        items = write_photos(Path(d)/'images', a.n, a.seed)
        runs = make_runs(Path(d)/'runs', a.train_pct, a.seed)
        ens = Ensemble.from_snapshots(runs, epochs=[0, 1], device='cpu')
        singles = [Ensemble([m], device='cpu') for m in ens.members]
        learners = [] if a.no_learn_tta else members_learners(ens, runs)
        t_setup = time.perf_counter() - t_setup
        kw = dict(tta=a.tta, bs=a.bs, progress=False)
        def decode_only():
            for f in items: _data.load_image(f)
        def decode_once(): return ens.predict(items, **kw)
        def naive_ens():
            ps = [s.predict(items, **kw) for s in singles]
            return sum(w*p for w, p in zip(ens.weights, ps))
        def naive_tta():
            return sum(w*l.tta(dl=l.dls.test_dl(items), n=a.tta)[0].numpy() for w, l in zip(ens.weights, learners))
        variants = {'decode-once `Ensemble(members).predict(items, tta)`': decode_once,
                    'naive: `Ensemble([m]).predict(items, tta)` for each member': naive_ens}
        if learners: variants['naive: `learn.tta(dl=learn.dls.test_dl(items), n)` for each learner'] = naive_tta
        variants['decode only: `load_image` on every file'] = decode_only
        K = list(variants)
        wall, cpu, counts = {k: [] for k in K}, {k: [] for k in K}, {}
        fwd, parts = [], []                                   # decode-once: Σ forward, and all of ens.timings, per round
        for r in range(a.rounds + 1):                         # round 0 warms up and counts the decodes
            for k, fn in variants.items():
                if r == 0:
                    with Counter() as c: out = fn()
                    counts[k] = (c.load / a.n, c.imread / a.n)
                    if out is not None: assert out.shape == (a.n, len(ens.vocab)) and np.allclose(out.sum(1), 1, atol=1e-4), k
                    continue
                c0, w0 = time.process_time(), time.perf_counter()
                fn()
                wall[k].append((time.perf_counter() - w0)/a.n); cpu[k].append((time.process_time() - c0)/a.n)
                if fn is decode_once:
                    fwd.append(sum(v for n, v in ens.timings.items() if n.startswith('forward'))/a.n)
                    parts.append({n: v/a.n for n, v in ens.timings.items()})
    k_ens, k_naive = K[0], K[1]
    dec = wall[K[-1]]                                         # single-decode time of each round
    n_dec = counts[k_ens][0]
    bound = [n_dec*t + f for t, f in zip(dec, fwd)]
    tb = [t/b for t, b in zip(wall[k_ens], bound)]
    aug = [p.get('augment', 0.) for p in parts]; dec_in = [p.get('decode', 0.) for p in parts]
    other = [t - sum(p.values()) for t, p in zip(wall[k_ens], parts)]
    tb_own = [t/(dd + f) for t, dd, f in zip(wall[k_ens], dec_in, fwd)]   # the run's own decode time, not decode-only's
    names = ', '.join(f'{m.name} ({m.size[0]} px)' for m in ens.members)
    print(f'\n{len(ens.members)} members ({names}), tta {a.tta} (+1 clean round), bs {a.bs}, {a.n} synthetic 800×600 JPEGs, '
          f'CPU, 1 thread, {a.rounds} rounds after a warm-up, median (min–max); setup {t_setup:.0f} s; '
          f'1-min load average {load0:.1f} at the start, {os.getloadavg()[0]:.1f} at the end; '
          f'torch {torch.__version__}, OpenCV {cv2.__version__}, CPython {platform.python_version()}\n')
    print('| variant | decodes / image (`load_image`) | decodes / image (`cv2.imread`) | ms / image (wall) | ms / image (CPU) '
          '| ÷ decode-once (wall) | ÷ decode-once (CPU) |')
    print('|---|---:|---:|---:|---:|---:|---:|')
    for k in K:
        ratio = [x/y for x, y in zip(wall[k], wall[k_ens])]; rc = [x/y for x, y in zip(cpu[k], cpu[k_ens])]
        print(f'| {k} | {counts[k][0]:g} | {counts[k][1]:g} | {mmm(wall[k], 1e3)} | {mmm(cpu[k], 1e3)} | '
              f'{mmm(ratio, 1, "{:.2f}")} | {mmm(rc, 1, "{:.2f}")} |')
    print(f'\nDecode-once bound (per image): {n_dec:g} decodes × {1e3*med(dec):.2f} ms + Σ forward {1e3*med(fwd):.1f} ms '
          f'= {1e3*med(bound):.1f} ms; measured {1e3*med(wall[k_ens]):.1f} ms; measured ÷ bound = {mmm(tb, 1, "{:.3f}")} '
          f'(target ≤ 1.05)')
    print(f'Same, with the run\'s own decode time (`ens.timings["decode"]`) in place of the separate single-decode '
          f'measurement: measured ÷ (decode + Σ forward) = {mmm(tb_own, 1, "{:.3f}")}')
    print(f'Decode-once run, `ens.timings` per image: decode {1e3*med(dec_in):.1f} ms, augment {1e3*med(aug):.1f} ms, '
          f'forward {1e3*med(fwd):.1f} ms, untimed (validation resizes, stacking, combining) {1e3*med(other):.1f} ms')
    rows = [{'figure': 'P4', 'name': f'ms/image wall: {k}', 'value': 1e3*med(wall[k]), 'min': 1e3*min(wall[k]),
             'max': 1e3*max(wall[k]), 'unit': 'ms', 'cpu_ms': 1e3*med(cpu[k]), 'decodes_per_image': counts[k][1]} for k in K]
    for k, name in [(K[1], 'naive (Ensemble per member) / decode-once')] + ([(K[2], 'naive (learn.tta per learner) / decode-once')] if learners else []):
        rw = [x/y for x, y in zip(wall[k], wall[k_ens])]; rc = [x/y for x, y in zip(cpu[k], cpu[k_ens])]
        rows.append({'figure': 'P4', 'name': name, 'value': med(rw), 'min': min(rw), 'max': max(rw), 'unit': 'ratio (wall)',
                     'cpu_ratio': med(rc), 'cpu_min': min(rc), 'cpu_max': max(rc)})
    rows.append({'figure': 'P4', 'name': 'decode-once time / decode-once bound', 'value': med(tb), 'min': min(tb), 'max': max(tb),
                 'unit': 'ratio', 'target': '<= 1.05', 'bound_ms': 1e3*med(bound), 'single_decode_ms': 1e3*med(dec),
                 'own_decode_ratio': med(tb_own), 'forward_ms': 1e3*med(fwd), 'augment_ms': 1e3*med(aug), 'untimed_ms': 1e3*med(other)})
    append_results(a.results, 'ensemble', rows, {k: v for k, v in vars(a).items() if k != 'results'})

if __name__ == '__main__': main()
