#!/usr/bin/env python
"""Where the training pipeline's time goes: py-spy samples of `cassava_dls`'s training epochs vs the bare loop of `pipeline.py`.

    /tmp/pyspy/bin/py-spy record -r 250 -f raw -o /tmp/dls.txt -- .venv/bin/python bench/pipeline_profile.py --what dls
    .venv/bin/python bench/pipeline_profile.py --summary /tmp/dls.txt          # top entries, inclusive share of samples

(`pip install --target /tmp/pyspy py-spy`: py-spy is a sampling profiler, so fastai's many small Python calls are not
inflated as under cProfile.) `--what` is `dls` (the `cassava_dls` training DataLoader), `cache` (the same over
`cache_resized` copies) or `bare` (`pipeline.bare_batches`); `--n` photo-like 800×600 JPEGs at `--size`, `--epochs`
epochs, one thread. `--summary FILE` reads py-spy's raw (collapsed-stack) output and prints the share of samples
inside the main pipeline stages, then the functions with the largest inclusive share."""
import os
os.environ.setdefault('OMP_NUM_THREADS', '1')
import argparse, collections, re, shutil, sys, tempfile, warnings
warnings.filterwarnings('ignore')
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent))

EPOCH = r'^((\w+\.)?__iter__ \(fastai/data/load\.py|bare_batches \()'   # a sample of the epochs, not of the set-up
STAGES = {  # label: a regular expression on a py-spy frame "function (file:line)"
    'decode: `load_image` / the bare loop\'s `cv2.imread` + `cvtColor` line': r'^(load_image \(|bare_batches \(pipeline\.py:{imread})',
    'albumentations `Compose.__call__`': r'^Compose\.__call__ \(albumentations',
    '`AlbumentationsTransform.encodes` (seeding + Compose + tensor)': r'^AlbumentationsTransform\.encodes',
    'fastai `Datasets.__getitem__` (one item: row reads, decode, transforms)': r'^Datasets\.__getitem__ \(fastai',
    'pandas row reads (`iloc`)': r'^_LocationIndexer\.__getitem__ \(pandas',
    'collate (`fa_collate`)': r'^fa_collate \(',
    '`IntToFloatTensor` (batch)': r'^IntToFloatTensor\.encodes',
}

def summary(f, top=20):
    import inspect
    from pipeline import bare_batches
    src, first = inspect.getsourcelines(bare_batches)
    imread = first + next(i for i, l in enumerate(src) if 'cv2.imread' in l)
    stacks = collections.Counter()
    for line in open(f):
        stack, _, n = line.rstrip('\n').rpartition(' ')
        if stack and re.search(EPOCH.replace('^', '(^|;)'), stack): stacks[stack] += int(n)
    total = sum(stacks.values())
    stage, incl = collections.Counter(), collections.Counter()
    for s, n in stacks.items():
        frames = s.split(';')
        for lbl, rx in STAGES.items():
            if any(re.search(rx.replace('{imread}', str(imread)), fr) for fr in frames): stage[lbl] += n
        for fr in set(re.sub(r':\d+\)$', ')', fr) for fr in frames): incl[fr] += n
    print(f'{total} samples inside the epochs\n\n| stage | share of samples (inclusive) |\n|---|---:|')
    for lbl in STAGES: print(f'| {lbl} | {100*stage[lbl]/total:.1f} % |')
    print(f'\n| function (file) | share (inclusive) |\n|---|---:|')
    for fr, n in incl.most_common(top): print(f'| `{fr[:110]}` | {100*n/total:.1f} % |')

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--what', default='dls', choices=['dls', 'cache', 'bare']); ap.add_argument('--n', type=int, default=48)
    ap.add_argument('--size', type=int, default=380); ap.add_argument('--bs', type=int, default=16)
    ap.add_argument('--epochs', type=int, default=4); ap.add_argument('--summary', default=None, help="py-spy raw output to summarise")
    a = ap.parse_args()
    if a.summary: return summary(a.summary)
    import numpy as np, pandas as pd, cv2, torch
    from ensemble import write_photos
    from pipeline import bare_batches
    from cassava_fa.data import read_cassava, cassava_dls
    from cassava_fa.augment import train_aug
    torch.set_num_threads(1); cv2.setNumThreads(1)
    d = Path(tempfile.mkdtemp(prefix='cassava-profile-'))
    try:
        write_photos(d/'train_images', a.n, n_distinct=min(a.n, 16))
        pd.DataFrame({'image_id': [f'{i:05d}.jpg' for i in range(a.n)], 'label': np.arange(a.n) % 5}).to_csv(d/'train.csv', index=False)
        df = read_cassava(d)
        dls = cassava_dls(df, fold=None, size=a.size, bs=a.bs, cache=d/'cache' if a.what == 'cache' else None)
        for _ in range(a.epochs):
            it = bare_batches(df.file.tolist(), df.label.values, train_aug(a.size), a.bs) if a.what == 'bare' else dls.train
            for xb, yb in it: pass
    finally: shutil.rmtree(d, ignore_errors=True)

if __name__ == '__main__': main()
