#!/usr/bin/env python
"""JPEG decode time per image: OpenCV vs PIL vs `cassava_fa.data.load_image`, at full and at half size.

    OMP_NUM_THREADS=1 .venv/bin/python bench/decode.py          # 50 synthetic 800×600 JPEGs, quality 90, 1 thread

There is no real cassava data here, so `--n` photo-like 800×600 JPEGs are generated deterministically (seeded) into a
temporary folder: a smooth low-frequency colour field (lighting, background), leaf-like ellipses with blurred edges,
mid-frequency texture and per-pixel sensor noise, saved by PIL at `--quality` with 4:2:0 chroma subsampling (what
phone cameras write). The ways of decoding are interleaved over `--rounds` rounds after one warm-up round (which also
puts the files in the page cache); each round decodes every file once per way, and the median over rounds of the mean
time per image is reported. Decoding runs in one thread (`cv2.setNumThreads(1)`, `OMP_NUM_THREADS=1`), as it does in
a DataLoader worker; the clock is the process's CPU time, which other jobs on a shared machine do not inflate (wall
time is printed alongside). Prints a markdown table."""
import os
os.environ.setdefault('OMP_NUM_THREADS', '1')
import argparse, platform, statistics, tempfile, time
from pathlib import Path
import numpy as np, cv2, PIL
from PIL import Image, features
from cassava_fa.data import load_image

def photo(rng, w=800, h=600)->np.ndarray:
    "An `h×w×3` uint8 image with the statistics of a leaf photo: smooth lighting, soft-edged shapes, texture, noise"
    def field(gh, gw, c=3):                                               # smooth noise, `c` channels, cubic-upsampled
        return cv2.resize(rng.random((gh, gw, c)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC).reshape(h, w, c)
    img = 0.15 + 0.6*field(3, 4)                                          # lighting and background
    yy, xx = np.mgrid[:h, :w].astype(np.float32)
    for _ in range(rng.integers(4, 9)):                                    # leaves: soft ellipses of a green-ish colour
        cy, cx, ry, rx, th = rng.uniform(0, h), rng.uniform(0, w), rng.uniform(60, 220), rng.uniform(30, 110), rng.uniform(0, np.pi)
        u, v = (xx-cx)*np.cos(th) + (yy-cy)*np.sin(th), -(xx-cx)*np.sin(th) + (yy-cy)*np.cos(th)
        m = cv2.GaussianBlur(((u/ry)**2 + (v/rx)**2 < 1).astype(np.float32), (0, 0), 3)[..., None]
        col = np.array([rng.uniform(.1, .5), rng.uniform(.4, .9), rng.uniform(.05, .35)], np.float32)
        img = img*(1-m) + m*(col*(0.7 + 0.6*field(6, 8, 1)))                # shading across the leaf
    img += 0.08*(field(75, 100) - 0.5) + 0.05*(field(150, 200, 1) - 0.5)  # texture: veins, soil, mottling
    img += rng.normal(0, 0.02, img.shape).astype(np.float32)              # sensor noise
    return (img.clip(0, 1)*255).round().astype(np.uint8)

def cv2_jpeg()->str:
    "The JPEG library OpenCV was built with, as its build information says"
    line = next((l for l in cv2.getBuildInformation().splitlines() if l.strip().startswith('JPEG:')), 'JPEG: ?')
    return line.split(':', 1)[1].strip()

def cv2_full(f):
    return cv2.cvtColor(cv2.imread(f, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
def pil_full(f):
    with Image.open(f) as im: return np.asarray(im.convert('RGB'))
def cv2_half(f):
    return cv2.cvtColor(cv2.imread(f, cv2.IMREAD_REDUCED_COLOR_2), cv2.COLOR_BGR2RGB)
def pil_half(f):
    with Image.open(f) as im:
        im.draft('RGB', (im.width//2, im.height//2))                      # DCT scaling: decodes at 1/2 size
        return np.asarray(im.convert('RGB'))

WAYS = {  # name: (function, note)
    'cv2 `imread(IMREAD_COLOR)` + `cvtColor`': (cv2_full, 'full size'),
    'PIL `open().convert("RGB")` → `np.asarray`': (pil_full, 'full size'),
    '`cassava_fa.data.load_image`': (load_image, 'full size (cv2 + cvtColor, PIL fallback)'),
    'cv2 `imread(IMREAD_REDUCED_COLOR_2)` + `cvtColor`': (cv2_half, 'half size, DCT-scaled'),
    'PIL `draft("RGB", (400, 300))` + `convert`': (pil_half, 'half size, DCT-scaled'),
}

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--n', type=int, default=50, help='number of images'); ap.add_argument('--rounds', type=int, default=5)
    ap.add_argument('--quality', type=int, default=90); ap.add_argument('--seed', type=int, default=0)
    a = ap.parse_args()
    cv2.setNumThreads(1)
    rng = np.random.default_rng(a.seed)
    with tempfile.TemporaryDirectory(prefix='cassava-decode-') as d:
        files = []
        for i in range(a.n):
            f = str(Path(d)/f'{i:03d}.jpg'); Image.fromarray(photo(rng)).save(f, quality=a.quality, subsampling='4:2:0')
            files.append(f)
        kb = np.mean([os.path.getsize(f) for f in files]) / 1024
        ref = [pil_full(f) for f in files]                                   # sanity: every way decodes the same image
        for k, (fn, _) in WAYS.items():
            out = fn(files[0]); assert out.dtype == np.uint8 and out.shape[2] == 3, k
            if out.shape == ref[0].shape:
                diff = np.abs(out.astype(int) - ref[0]).mean(); assert diff < 2, f'{k}: mean |diff| {diff:.2f} vs PIL'
        cpu, wall = {k: [] for k in WAYS}, {k: [] for k in WAYS}
        for r in range(a.rounds + 1):                                        # round 0 warms up
            for k, (fn, _) in WAYS.items():
                c0, w0 = time.process_time(), time.perf_counter()
                for f in files: fn(f)
                if r: cpu[k].append((time.process_time() - c0)/len(files)); wall[k].append((time.perf_counter() - w0)/len(files))
    med = {k: statistics.median(v) for k, v in cpu.items()}
    medw = {k: statistics.median(v) for k, v in wall.items()}
    fast_full = min(med[k] for k, (_, note) in WAYS.items() if note.startswith('full'))
    print(f'\n{a.n} synthetic 800×600 JPEGs (quality {a.quality}, 4:2:0, mean {kb:.0f} KB), 1 thread, '
          f'{a.rounds} rounds, median of the mean per image; OpenCV {cv2.__version__} ({cv2_jpeg()}), Pillow {PIL.__version__} '
          f'(libjpeg-turbo {features.version("libjpeg_turbo")}), {platform.python_implementation()} {platform.python_version()}\n')
    print('| decoder | output | ms / image (CPU) | ms / image (wall) | ÷ fastest full-size |\n|---|---|---:|---:|---:|')
    for k, (_, note) in WAYS.items():
        print(f'| {k} | {note} | {1e3*med[k]:.2f} | {1e3*medw[k]:.2f} | {med[k]/fast_full:.2f} |')

if __name__ == '__main__': main()
