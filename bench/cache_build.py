#!/usr/bin/env python
"""Building the resize cache: decode + resize per photo with JPEG DCT-scaled decoding (what `cache_resized` does) ÷ a full decode.

    OMP_NUM_THREADS=1 .venv/bin/python bench/cache_build.py        # 48 photo-like 800×600 JPEGs, cache sizes 224 / 256 / 380

For each training size, the cache's short side is `round(1.15 * size)` (258, 294, 437 px). `cache_resized` decodes a
JPEG at the smallest DCT scale (1/2, 1/4, 1/8: libjpeg's scaled IDCT, `cv2.IMREAD_REDUCED_COLOR_k`) whose short side
still covers that, then resizes with `INTER_AREA`; the baseline decodes at full size and resizes the same way. At
380 px no scale fits an 800×600 photo (300 < 437), so both are the same work there. The two ways alternate per
image over `--rounds` rounds after a warm-up; CPU time, one thread; ratio per round, median (min–max). Also the mean
absolute difference of the two copies (0–255 levels). Appends JSON lines to `--results`."""
import os
os.environ.setdefault('OMP_NUM_THREADS', '1')
import argparse, sys, time
from pathlib import Path
import numpy as np, cv2
sys.path.insert(0, str(Path(__file__).resolve().parent))
from ensemble import append_results, med, mmm, BENCH
from decode import photo
from cassava_fa.data import _decode_bytes, _dct_factor

def build(b, short, dct):
    img = _decode_bytes(b, short if dct else None); h, w = img.shape[:2]; s = short / min(h, w)
    return cv2.resize(img, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA) if s < 1 else img

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--n', type=int, default=48); ap.add_argument('--rounds', type=int, default=5)
    ap.add_argument('--sizes', type=int, nargs='+', default=[224, 256, 380])
    ap.add_argument('--results', default=str(BENCH/'results'/'cache_build.jsonl'), help="JSON lines appended here ('' : none)")
    a = ap.parse_args()
    cv2.setNumThreads(1); rng = np.random.default_rng(0)
    files = [cv2.imencode('.jpg', cv2.cvtColor(photo(rng), cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes() for _ in range(a.n)]
    rows, out = [], []
    for size in a.sizes:
        short = round(1.15 * size); t = {True: [], False: []}
        for r in range(a.rounds + 1):
            acc = {True: 0., False: 0.}
            for i, b in enumerate(files):
                for dct in ((True, False) if (i + r) % 2 else (False, True)):
                    c0 = time.process_time(); build(b, short, dct); acc[dct] += time.process_time() - c0
            if r: [t[k].append(acc[k] / a.n) for k in t]
        diff = np.mean([np.abs(build(b, short, True).astype(int) - build(b, short, False).astype(int)).mean() for b in files[:8]])
        ratio = [x / y for x, y in zip(t[True], t[False])]
        out.append(f'| {size} | {short} | 1/{_dct_factor(files[0], short)} | {mmm(t[False], 1e3, "{:.2f}")} | {mmm(t[True], 1e3, "{:.2f}")} | **{mmm(ratio, 1., "{:.3f}")}** | {diff:.2f} |')
        rows.append({'figure': 'cache-build', 'name': f'cache build at size {size}: DCT-scaled / full decode', 'value': med(ratio),
                     'min': min(ratio), 'max': max(ratio), 'unit': 'ratio', 'mean_abs_diff': float(diff)})
    print(f'\n{a.n} photo-like 800×600 JPEGs (q90), decode + INTER_AREA resize, CPU time, 1 thread, {a.rounds} rounds, median (min–max)\n')
    print('| training size | cached short side | DCT scale | full decode, ms / image | DCT-scaled, ms / image | ÷ full | mean abs diff (levels) |\n|---:|---:|---|---:|---:|---:|---:|')
    print('\n'.join(out))
    append_results(a.results, 'cache_build', rows, vars(a))

if __name__ == '__main__': main()
