#!/usr/bin/env python
"""Batch augmentation on the device (`cassava_dls(batch_aug=True)`): what the CPU still has to do, and the augmentation's own cost (figure P3).

    OMP_NUM_THREADS=1 .venv/bin/python bench/batch_aug.py                  # 96 photo-like 800×600 JPEGs → 380 px, bs 16, 1 thread
    OMP_NUM_THREADS=1 .venv/bin/python bench/batch_aug.py --device cuda    # also time the augmentation on the GPU

The same photos and baseline as `pipeline.py` (`--n` photo-like 800×600 JPEGs from `decode.photo`, Kaggle layout, read
with `read_cassava`; the resize cache built once before the rounds, 437×583 JPEG q95 copies at 380 px). Variants, each
over all the photos once per round in batches of `--bs`, one thread, no workers (images per CPU-second = images/s per core):

- `bare loop`: the baseline of `pipeline.py`: per image `cv2.imread` + `cvtColor` + `train_aug(size)` + tensor, per
  batch `torch.stack` + `.float().div_(255)`;
- `cassava_dls(cache=True)`: the training DataLoader with the CPU preset, from the cache (for reference);
- `cassava_dls(cache=True, batch_aug=True)`, CPU part: the same DataLoader with its batch transforms left out, i.e.
  what the CPU must still do when the GPU augments: decode the cached copy, resize it to `batch_input_size(size)`,
  collate uint8 batches (fastai moves a batch to the DataLoader's device *before* its batch transforms, so on a GPU
  `IntToFloatTensor`, `BatchAugment` and `Normalize` run there). This is the feed rate a GPU would see, as long as it
  keeps up; also with `IntToFloatTensor` kept on the CPU (as when the DataLoader's device is the CPU);
- `batch_aug(size)` on the CPU: the kornia pipeline alone on those collated batches (CPU time per image);
- `cassava_dls(cache=True, batch_aug=True)`, all on the CPU: the DataLoader with the augmentation in it (what a
  CPU-only machine would get from turning it on);
- `cassava_dls(batch_aug=True)`, CPU part, no cache: decoding the 800×600 originals and resizing them.

Each round runs every variant over all the photos once, the variants alternating batch by batch (order reversed every
other batch), `--rounds` rounds after a warm-up one; each ratio is against the bare loop of the same round, then the
median (min–max) over rounds. With `--device cuda` the kornia pipeline is also timed on the GPU (wall time after
`torch.cuda.synchronize()`: the uint8 batches copied to the GPU, timed apart, then `float() / 255` + the pipeline). Appends JSON lines to
`--results`."""
import os
os.environ.setdefault('OMP_NUM_THREADS', '1')
import argparse, shutil, sys, tempfile, time, warnings
warnings.filterwarnings('ignore')
from pathlib import Path
import numpy as np, pandas as pd, cv2, torch
sys.path.insert(0, str(Path(__file__).resolve().parent))
from ensemble import append_results, med, mmm, BENCH, write_photos
from pipeline import bare_batches
from cassava_fa.data import read_cassava, cassava_dls, cache_resized
from cassava_fa.augment import train_aug, BatchAugment, batch_input_size

def without_batch_aug(dl, uint8=False):
    "`dl` with its `BatchAugment` left out of `after_batch` (and `IntToFloatTensor` too with `uint8`): the CPU's part of the work"
    return dl.new(after_batch=[] if uint8 else [t for t in dl.after_batch.fs if not isinstance(t, BatchAugment)])

def augmented(dl, aug):
    "The batches of `dl` through `aug` (timed on their own)"
    for xb, yb in dl:
        with torch.no_grad(): yield aug(xb.as_subclass(torch.Tensor)), yb

def sync(device):
    if device.type == 'cuda': torch.cuda.synchronize()

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--n', type=int, default=96, help='number of images'); ap.add_argument('--size', type=int, default=380)
    ap.add_argument('--bs', type=int, default=16); ap.add_argument('--rounds', type=int, default=5)
    ap.add_argument('--device', default='cpu', help="also time the kornia pipeline on this device, e.g. 'cuda'")
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--results', default=str(BENCH/'results'/'batch_aug.jsonl'), help="JSON lines appended here ('' : none)")
    a = ap.parse_args()
    torch.set_num_threads(1); cv2.setNumThreads(1); torch.manual_seed(a.seed); load0 = os.getloadavg()[0]
    device = torch.device(a.device)
    d = Path(tempfile.mkdtemp(prefix='cassava-batch-aug-'))
    try:
        write_photos(d/'train_images', a.n, seed=a.seed, n_distinct=min(a.n, 24))
        rng = np.random.default_rng(a.seed)
        pd.DataFrame({'image_id': [f'{i:05d}.jpg' for i in range(a.n)], 'label': rng.integers(0, 5, a.n)}).to_csv(d/'train.csv', index=False)
        df = read_cassava(d)
        files, labels = df.file.tolist(), df.label.values
        cache_resized(df, size=a.size, dest=d/'cache')                        # built once, before the rounds
        cpu_aug = cassava_dls(df, fold=None, size=a.size, bs=a.bs, cache=d/'cache')
        ba = cassava_dls(df, fold=None, size=a.size, bs=a.bs, cache=d/'cache', batch_aug=True)
        ba_nocache = cassava_dls(df, fold=None, size=a.size, bs=a.bs, batch_aug=True)
        kaug = next(t for t in ba.train.after_batch.fs if isinstance(t, BatchAugment)).aug
        feed, feed_float = without_batch_aug(ba.train, uint8=True), without_batch_aug(ba.train)
        feed_nocache, alone = without_batch_aug(ba_nocache.train, uint8=True), without_batch_aug(ba.train)
        xb0 = next(iter(feed))[0]
        assert tuple(xb0.shape[-2:]) == batch_input_size(a.size) and xb0.dtype == torch.uint8, (xb0.shape, xb0.dtype)
        aug, n_used = train_aug(a.size), (a.n // a.bs) * a.bs
        base = 'bare loop (cv2.imread + train_aug + tensor)'
        variants = {base: lambda: bare_batches(files, labels, aug, a.bs),
                    'cassava_dls(cache=True): CPU train_aug (P3 row)': lambda: cpu_aug.train,
                    'cassava_dls(cache=True, batch_aug=True), CPU part (decode + resize + collate)': lambda: feed,
                    'the same + IntToFloatTensor on the CPU': lambda: feed_float,
                    'cassava_dls(batch_aug=True), CPU part, no cache (800×600 decode + resize)': lambda: feed_nocache,
                    'cassava_dls(cache=True, batch_aug=True), all on the CPU': lambda: ba.train}
        aug_cpu = []                                                          # the kornia pipeline alone, CPU s per round
        cpu = {k: [] for k in variants}
        for r in range(a.rounds + 1):                                         # round 0 warms up
            its, c_r, t_aug = {}, dict.fromkeys(variants, 0.), 0.
            batches = iter(alone)
            for b in range(a.n // a.bs + 1):                                  # variants alternate batch by batch
                for k in (list(variants) + ['aug'] if (r + b) % 2 else ['aug'] + list(variants)[::-1]):
                    if k == 'aug':                                            # kornia alone, on a collated batch
                        xb = next(batches, None)
                        if xb is None: continue
                        c0 = time.process_time()
                        with torch.no_grad(): out = kaug(xb[0].as_subclass(torch.Tensor))
                        t_aug += time.process_time() - c0
                        assert out.shape == (a.bs, 3, a.size, a.size)
                        continue
                    c0 = time.process_time()
                    if k not in its: its[k] = iter(variants[k]())
                    xb = next(its[k], None)
                    c_r[k] += time.process_time() - c0
                    assert (xb is None) == (b == a.n // a.bs), (k, b)
                    assert xb is None or tuple(xb[0].shape[-2:]) in {(a.size, a.size), batch_input_size(a.size)}, (k, xb[0].shape)
            if r:
                for k in variants: cpu[k].append(c_r[k])
                aug_cpu.append(t_aug)
        dev = {}
        if device.type != 'cpu':                                              # the kornia pipeline on the device
            xs = [x for x, _ in feed]                                         # uint8 batches, as the CPU hands them over
            def on_device(x): return kaug(x.as_subclass(torch.Tensor).to(device).float().div_(255))
            with torch.no_grad():
                for x in xs[:2]: on_device(x)                                 # warm-up (kernels, allocator)
            for _ in range(a.rounds):
                sync(device); w0 = time.perf_counter()
                moved = [x.as_subclass(torch.Tensor).to(device) for x in xs]
                sync(device); w1 = time.perf_counter()
                with torch.no_grad():
                    for x in moved: kaug(x.float().div_(255))
                sync(device); w2 = time.perf_counter()
                dev.setdefault('copy', []).append((w1 - w0)/n_used); dev.setdefault('aug', []).append((w2 - w1)/n_used)
    finally: shutil.rmtree(d, ignore_errors=True)
    ips = {k: [n_used/c for c in v] for k, v in cpu.items()}
    print(f'\n{a.n} photo-like 800×600 JPEGs → {a.size} px (CPU resize to {batch_input_size(a.size)[0]}×{batch_input_size(a.size)[1]} for batch_aug), '
          f'bs {a.bs}, 1 thread, no workers, {a.rounds} rounds, median (min–max); 1-min load average {load0:.1f} at the start, '
          f'{os.getloadavg()[0]:.1f} at the end\n')
    print('| pipeline | images / s per core (CPU) | ms / image (CPU) | ÷ bare loop (images/s, same round) |\n|---|---:|---:|---:|')
    rows = []
    for k in variants:
        ratio = [b/c for c, b in zip(cpu[k], cpu[base])]
        print(f'| {k} | {mmm(ips[k])} | {mmm([c/n_used for c in cpu[k]], 1e3, "{:.2f}")} | {mmm(ratio, 1., "{:.3f}")} |')
        rows.append({'figure': 'P3-batch-aug', 'name': f'{k} / bare loop (images/s per core)', 'value': med(ratio), 'min': min(ratio),
                     'max': max(ratio), 'unit': 'ratio', 'images_per_cpu_s': med(ips[k])})
    per = [t/n_used for t in aug_cpu]
    share = [t/c for t, c in zip(aug_cpu, cpu[base])]
    print(f'\n`batch_aug({a.size})` alone on the CPU (kornia, float32, bs {a.bs}): {mmm(per, 1e3, "{:.2f}")} ms / image, '
          f'{mmm(share, 1., "{:.2f}")}× the whole bare loop\'s time.')
    rows.append({'figure': 'P3-batch-aug', 'name': 'batch_aug alone on the CPU, ms/image', 'value': 1e3*med(per), 'min': 1e3*min(per),
                 'max': 1e3*max(per), 'unit': 'ms'})
    if dev:
        print(f'`float() / 255` + `batch_aug({a.size})` on {a.device} (wall, after synchronize): {mmm(dev["aug"], 1e3, "{:.3f}")} ms / image; '
              f'the host-to-device copy of the uint8 batch {mmm(dev["copy"], 1e3, "{:.3f}")} ms / image.')
        for k, v in dev.items():
            rows.append({'figure': 'P3-batch-aug', 'name': f'batch_aug on {a.device}: {k} ms/image (wall)', 'value': 1e3*med(v),
                         'min': 1e3*min(v), 'max': 1e3*max(v), 'unit': 'ms'})
    else: print(f'(the GPU figures need --device cuda on a machine with one)')
    append_results(a.results, 'batch_aug', rows, {**{k: v for k, v in vars(a).items() if k != 'results'}, 'loadavg_1min_start': load0})

if __name__ == '__main__': main()
