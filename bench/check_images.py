#!/usr/bin/env python
"""Cost per image of `read_cassava`'s image checks: header only, header + JPEG end-of-image marker (the default now),
and a full decode (`check_images='full'`), on photo-like 800×600 JPEGs.

    OMP_NUM_THREADS=1 .venv/bin/python bench/check_images.py          # --n 200 --rounds 5

Writes `--n` JPEGs with `bench/decode.py`'s generator, then times each check over all of them, alternating the
order each round, one warm-up round; CPU time per image, median (min–max), and the projection to the competition's
21,397 training images. Appends a JSON line to bench/results/check_images.jsonl."""
import argparse, json, platform, statistics, sys, tempfile, time
from datetime import datetime, timezone
from pathlib import Path
import cv2, numpy as np
from PIL import Image
sys.path.insert(0, str(Path(__file__).parent))
from decode import photo
from cassava_fa.data import _has_jpeg_end

def header(f):
    with Image.open(f): pass
def header_eoi(f):
    with Image.open(f) as im: jpeg = im.format == 'JPEG'
    if jpeg: _has_jpeg_end(f)
def full(f):
    with Image.open(f) as im: im.load()

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--n', type=int, default=200); ap.add_argument('--rounds', type=int, default=5)
    a = ap.parse_args()
    d = Path(tempfile.mkdtemp(prefix='check-bench-')); rng = np.random.default_rng(0)
    files = []
    for i in range(a.n):
        f = d/f'{i}.jpg'; cv2.imwrite(str(f), cv2.cvtColor(photo(rng), cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90]); files.append(f)
    ways = {'header only (before)': header, 'header + end-of-image marker (default)': header_eoi, "full decode ('full')": full}
    t = {k: [] for k in ways}
    for r in range(a.rounds + 1):
        for k in (list(ways) if r % 2 else list(ways)[::-1]):
            t0 = time.process_time()
            for f in files: ways[k](f)
            if r: t[k].append((time.process_time() - t0) / len(files))
    base = statistics.median(t['header only (before)'])
    print(f'{a.n} photo-like 800×600 JPEGs, {a.rounds} rounds, CPU time per image\n')
    print('| check | ms / image | ÷ header only | 21,397 images (s) |\n|---|---:|---:|---:|')
    for k, v in t.items():
        m = statistics.median(v)
        print(f'| {k} | {1e3 * m:.3f} ({1e3 * min(v):.3f}–{1e3 * max(v):.3f}) | {m / base:.2f} | {21397 * m:.1f} |')
        row = dict(bench='check_images', check=k, ms=round(1e3 * m, 4), ratio=round(m / base, 3), n=a.n, rounds=a.rounds,
                   machine=platform.node(), date=datetime.now(timezone.utc).isoformat(timespec='seconds'))
        with open(Path(__file__).parent/'results'/'check_images.jsonl', 'a') as fh: fh.write(json.dumps(row) + '\n')
    for f in files: f.unlink()
    d.rmdir()

if __name__ == '__main__': main()
