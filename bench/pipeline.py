#!/usr/bin/env python
"""Training pipeline images/s per core: the `cassava_dls` training DataLoader ÷ a bare OpenCV + albumentations loop (figure P3).

    OMP_NUM_THREADS=1 .venv/bin/python bench/pipeline.py          # 96 photo-like 800×600 JPEGs → 380 px, bs 16, 1 thread

`--n` photo-like 800×600 JPEGs (`decode.photo`, via `ensemble.write_photos`: quality 90, 4:2:0) are written in the
Kaggle layout (`train_images/`, `train.csv`) and read with `read_cassava`. Every variant runs the full training preset
`train_aug(--size)` over all of them once per round, in batches of `--bs`, and yields what the model would get
(float tensors in [0, 1], `bs × 3 × size × size`, and the labels):

- `bare loop`: the baseline: per image `cv2.imread` + `cvtColor`, the same albumentations pipeline (seeded per item
  from torch as `AlbumentationsTransform` seeds it), `torch.from_numpy(...).permute(2, 0, 1)`; per batch `torch.stack`
  and `.float().div_(255)`. Its first batch is checked bit-identical to the DataLoader's (`shuffle=False`, same seed);
- `cassava_dls`: `for xb, yb in dls.train` of `cassava_dls(df, fold=None, size, bs)` (num_workers=0);
- `cassava_dls, df.attrs kept (before)`: the same DataLoader with the table's `attrs['classes']` put back on the
  frames fastai reads, i.e. the behaviour before commit d55cd86 (pandas deep-copies `attrs` on every row read);
- `cassava_dls(cache=...)`: reading from `cache_resized` copies (short side `round(1.15 × size)`, JPEG q95), made
  once before the rounds (their cost printed separately);
- `cassava_dls on cache_resized(scale=1.0, quality=90)`: the smallest copies the crops can use (short side = size);
- `bare loop from the cache`: the baseline over the 1.15 × size copies, for the cache's gain without fastai.

One thread (`torch.set_num_threads(1)`, `cv2.setNumThreads(1)`), no workers: images per CPU-second of the process is
images/s per core. Each round runs one epoch of every variant, the variants alternating *batch by batch* (the order
reversed every other batch), so that a loaded machine's swings hit them alike; `--rounds` rounds after a warm-up one; ratios are taken against the bare loop *of the same round*, then median (min–max). With `--workers`,
wall-time images/s of `cassava_dls` with those `num_workers` (a separate, wall-clock table). Also printed: the cost
of building the cache, of a call that finds it all cached (read + hash every file), of `os.stat` alone (what an
mtime key would cost), and a decode / augment split of the bare loop. Appends JSON lines to `--results`."""
import os
os.environ.setdefault('OMP_NUM_THREADS', '1')
import argparse, shutil, sys, tempfile, time, warnings
warnings.filterwarnings('ignore')
from pathlib import Path
import numpy as np, pandas as pd, cv2, torch
sys.path.insert(0, str(Path(__file__).resolve().parent))
from ensemble import append_results, med, mmm, BENCH, write_photos
from cassava_fa.data import read_cassava, cassava_dls, cache_resized, load_image
from cassava_fa.augment import train_aug

def bare_batches(files, labels, aug, bs, split=None):
    "The baseline: decode, augment (seeded per item like `AlbumentationsTransform`), tensor, stack, float / 255"
    t_dec = t_aug = 0.
    for s in range(0, len(files) - bs + 1, bs):                       # whole batches only, like the training DataLoader
        xs = []
        for f in files[s:s+bs]:
            c0 = time.process_time()
            img = cv2.cvtColor(cv2.imread(f, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
            c1 = time.process_time()
            seed = int(torch.randint(0, 2**31 - 1, ()).item())
            aug.set_random_state(np.random.default_rng(seed), __import__('random').Random(seed))
            xs.append(torch.from_numpy(np.ascontiguousarray(aug(image=img)['image'])).permute(2, 0, 1))
            t_dec += c1 - c0; t_aug += time.process_time() - c1
        if split is not None: split[0] += t_dec; split[1] += t_aug; t_dec = t_aug = 0.
        yield torch.stack(xs).float().div_(255.), torch.as_tensor(labels[s:s+bs])

def check_identical(df, files, labels, size, bs)->bool:
    dl = cassava_dls(df, fold=None, size=size, bs=bs).train.new(shuffle=False)
    torch.manual_seed(7); xb, yb = next(iter(dl))
    torch.manual_seed(7); torch.empty((), dtype=torch.int64).random_()   # torch's DataLoader draws its base seed first
    xr, yr = next(bare_batches(files, labels, train_aug(size), bs))
    return bool(torch.equal(xb.cpu().as_subclass(torch.Tensor), xr) and torch.equal(yb.as_subclass(torch.Tensor), yr))

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--n', type=int, default=96, help='number of images'); ap.add_argument('--size', type=int, default=380)
    ap.add_argument('--bs', type=int, default=16); ap.add_argument('--rounds', type=int, default=5)
    ap.add_argument('--workers', type=int, nargs='*', default=[], help='also time cassava_dls with these num_workers (wall)')
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--results', default=str(BENCH/'results'/'pipeline.jsonl'), help="JSON lines appended here ('' : none)")
    a = ap.parse_args()
    torch.set_num_threads(1); cv2.setNumThreads(1); torch.manual_seed(a.seed); load0 = os.getloadavg()[0]
    d = Path(tempfile.mkdtemp(prefix='cassava-pipeline-'))
    try:
        write_photos(d/'train_images', a.n, seed=a.seed, n_distinct=min(a.n, 24))
        rng = np.random.default_rng(a.seed)
        pd.DataFrame({'image_id': [f'{i:05d}.jpg' for i in range(a.n)], 'label': rng.integers(0, 5, a.n)}).to_csv(d/'train.csv', index=False)
        df = read_cassava(d)
        files, labels = df.file.tolist(), df.label.values
        identical = check_identical(df, files, labels, a.size, a.bs)
        c0 = time.process_time(); w0 = time.perf_counter()
        cdf = cache_resized(df, size=a.size, dest=d/'cache')                 # the one-time build
        build = ((time.process_time() - c0)/a.n, (time.perf_counter() - w0)/a.n)
        hit, stat = [], []
        for _ in range(3):
            c0 = time.process_time(); cache_resized(df, size=a.size, dest=d/'cache'); hit.append((time.process_time() - c0)/a.n)
            c0 = time.process_time(); [os.stat(f) for f in files]; stat.append((time.process_time() - c0)/a.n)
        cfiles = cdf.file.tolist()
        kb = np.mean([os.path.getsize(f) for f in files])/1024; ckb = np.mean([os.path.getsize(f) for f in cfiles])/1024
        cshape = load_image(cfiles[0]).shape
        dls = cassava_dls(df, fold=None, size=a.size, bs=a.bs)
        old = cassava_dls(df, fold=None, size=a.size, bs=a.bs)
        for tl in old.train.dataset.tls: tl.items.attrs = dict(df.attrs)     # the frames as they were before d55cd86
        cached = cassava_dls(df, fold=None, size=a.size, bs=a.bs, cache=d/'cache')
        rows_new = dls.train.dataset.tls[0].items; rows_old = old.train.dataset.tls[0].items
        row_read = {'attrs emptied (now)': [], 'attrs kept (before)': []}
        for _ in range(5):                                                   # one row read, as fastai does per get_x / get_y
            for k, t in (('attrs emptied (now)', rows_new), ('attrs kept (before)', rows_old)):
                c0 = time.process_time()
                for i in range(1000): t.iloc[i % len(t)]
                row_read[k].append((time.process_time() - c0)/1000)
        small = cache_resized(df, size=a.size, scale=1.0, quality=90, dest=d/'cache')    # the smallest useful cache
        small_dls = cassava_dls(small, fold=None, size=a.size, bs=a.bs)
        aug, split = train_aug(a.size), [0., 0.]
        n_used = (a.n // a.bs) * a.bs
        variants = {'bare loop (cv2.imread + train_aug + tensor)': lambda: bare_batches(files, labels, aug, a.bs, split),
                    'cassava_dls training DataLoader': lambda: dls.train,
                    'cassava_dls, df.attrs kept (before)': lambda: old.train,
                    'cassava_dls(cache=True): 1.15 × size, JPEG q95': lambda: cached.train,
                    'cassava_dls on cache_resized(scale=1.0, quality=90)': lambda: small_dls.train,
                    'bare loop from the 1.15 × size, q95 cache': lambda: bare_batches(cfiles, labels, aug, a.bs)}
        cpu, wall = {k: [] for k in variants}, {k: [] for k in variants}
        for r in range(a.rounds + 1):                                        # round 0 warms up
            if r == 1: split[:] = [0., 0.]
            its, c_r, w_r = {}, dict.fromkeys(variants, 0.), dict.fromkeys(variants, 0.)
            for b in range(a.n // a.bs + 1):                                 # variants alternate batch by batch
                for k in (list(variants) if (r + b) % 2 else list(variants)[::-1]):
                    c0, w0 = time.process_time(), time.perf_counter()
                    if k not in its: its[k] = iter(variants[k]())
                    xb = next(its[k], None)
                    c_r[k] += time.process_time() - c0; w_r[k] += time.perf_counter() - w0
                    assert (xb is None) == (b == a.n // a.bs) and (xb is None or xb[0].shape == (a.bs, 3, a.size, a.size)), (k, b)
            if r:
                for k in variants: cpu[k].append(c_r[k]); wall[k].append(w_r[k])
        def run(it):
            for xb, yb in it: assert xb.shape == (a.bs, 3, a.size, a.size)
        wk = {}
        for nw in a.workers:
            dw = cassava_dls(df, fold=None, size=a.size, bs=a.bs, num_workers=nw); run(dw.train)   # warm-up
            wk[nw] = []
            for _ in range(2):
                w0 = time.perf_counter(); run(dw.train); wk[nw].append(n_used/(time.perf_counter() - w0))
    finally: shutil.rmtree(d, ignore_errors=True)
    base = 'bare loop (cv2.imread + train_aug + tensor)'
    ips = {k: [n_used/c for c in v] for k, v in cpu.items()}
    print(f'\n{a.n} photo-like 800×600 JPEGs ({kb:.0f} KB) → {a.size} px, train_aug({a.size}), bs {a.bs}, 1 thread, no workers, '
          f'{a.rounds} rounds, median (min–max); 1-min load average {load0:.1f} at the start, {os.getloadavg()[0]:.1f} at the end. '
          f'First batch bit-identical to the bare loop\'s: {identical}\n')
    print('| pipeline | images / s per core (CPU) | ms / image (CPU) | ms / image (wall) | ÷ bare loop (images/s, same round) |\n|---|---:|---:|---:|---:|')
    rows = []
    for k in variants:
        ratio = [b/c for c, b in zip(cpu[k], cpu[base])]
        print(f'| {k} | {mmm(ips[k])} | {mmm([c/n_used for c in cpu[k]], 1e3, "{:.2f}")} | {mmm([w/n_used for w in wall[k]], 1e3, "{:.2f}")} | {mmm(ratio, 1., "{:.3f}")} |')
        rows.append({'figure': 'P3', 'name': f'{k} / bare loop (images/s per core)', 'value': med(ratio), 'min': min(ratio), 'max': max(ratio),
                     'unit': 'ratio', 'images_per_cpu_s': med(ips[k])})
    n_base = n_used * a.rounds
    print(f'\nBare loop split (CPU, per image): decode {1e3*split[0]/n_base:.2f} ms, train_aug + tensor {1e3*split[1]/n_base:.2f} ms.')
    print(f'Cache: {cshape[1]}×{cshape[0]} JPEG q95 copies ({ckb:.0f} KB vs {kb:.0f} KB); building it {1e3*build[0]:.2f} ms / image CPU '
          f'({1e3*build[1]:.2f} wall, fsync included); a call that finds it all cached (read + BLAKE2b every file) '
          f'{1e3*med(hit):.3f} ms / image; os.stat alone {1e3*med(stat):.4f} ms / image.')
    print('One row read of the frame fastai reads (`df.iloc[i]`, CPU, median (min–max) of 5 × 1000): '
          + ', '.join(f'{k} {mmm(v, 1e3, "{:.4f}")} ms' for k, v in row_read.items()) + '; fastai reads two rows an item.')
    for k, v in row_read.items(): rows.append({'figure': 'P3-rows', 'name': f'row read ms: {k}', 'value': 1e3*med(v), 'min': 1e3*min(v), 'max': 1e3*max(v), 'unit': 'ms'})
    rows.append({'figure': 'P3-cache', 'name': 'cache build ms/image (CPU)', 'value': 1e3*build[0], 'unit': 'ms', 'wall_ms': 1e3*build[1]})
    rows.append({'figure': 'P3-cache', 'name': 'cache hit check ms/image (read + hash)', 'value': 1e3*med(hit), 'unit': 'ms', 'stat_ms': 1e3*med(stat)})
    if wk:
        print(f'\n`cassava_dls(num_workers=k)` on this {os.cpu_count()}-core machine, wall images/s (median of 2 epochs after a warm-up one):\n')
        print('| num_workers | images / s (wall) |\n|---:|---:|')
        for nw, v in wk.items():
            print(f'| {nw} | {mmm(v)} |')
            rows.append({'figure': 'P3-workers', 'name': f'num_workers={nw} images/s (wall)', 'value': med(v), 'min': min(v), 'max': max(v), 'unit': 'images/s'})
    append_results(a.results, 'pipeline', rows, {**{k: v for k, v in vars(a).items() if k != 'results'}, 'loadavg_1min_start': load0,
                                                 'bit_identical': identical})

if __name__ == '__main__': main()
