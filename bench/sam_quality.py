#!/usr/bin/env python
"""Validation loss and accuracy with and without SAM when a fraction of the training labels is flipped at random.

    OMP_NUM_THREADS=1 .venv/bin/python bench/sam_quality.py        # 25 % noise, leaf pipeline, 8 epochs, seeds 0-2, 4 settings (~8 min)
    OMP_NUM_THREADS=1 .venv/bin/python bench/sam_quality.py --aug resize --epochs 12 --settings base sam0.05 sam0.1

On the sample dataset (`sample_dataset()`, `add_folds(..., seed=42)`, fold 0 for validation), a fraction `--noise` of
the *training* rows gets a label drawn uniformly from the *other* classes (symmetric noise, drawn once per seed, so
every setting of a seed sees the same noisy labels); validation labels stay clean. Each setting trains
`cassava_learner(dls, 'resnet10t', pretrained=False)` (Adam) with `fit_one_cycle(--epochs, --lr)` at 32 px, bs 64,
from the same seeded initial weights and data order, with the leaf training pipeline (`train_aug`, the default) or
with the plain resize of `valid_aug` (`--aug resize`), under which the model can memorise the flipped labels.
Reported: final training loss (on the noisy labels, augmented, as fastai logs it), final validation loss
(cross-entropy on clean labels) and accuracy, mean ± sample std over seeds, and the paired difference to the base
run of the same seed. Prints one line per run as it goes, then a markdown table."""
import argparse, statistics, time
import numpy as np
import torch
from cassava_fa.core import seed_everything
from cassava_fa.augment import valid_aug
from cassava_fa.data import sample_dataset, read_cassava, add_folds, cassava_dls
from cassava_fa.learner import cassava_learner
from cassava_fa.optim import SAM
from cassava_fa.testing import quiet

SETTINGS = {'base': ('base', lambda: None), 'sam0.05': ('SAM ρ=0.05', lambda: SAM(rho=.05)),
            'sam0.1': ('SAM ρ=0.1', lambda: SAM(rho=.1)),
            'asam0.5': ('ASAM ρ=0.5 (η=0.01)', lambda: SAM(rho=.5, adaptive=True, eta=.01))}

def noisy(df, frac, seed, fold=0, n_classes=5):
    "A copy of `df` in which `frac` of the rows outside `fold` get a random *other* label"
    rng = np.random.default_rng(seed)
    df = df.copy()
    trn = np.flatnonzero(df.fold.values != fold)
    flip = rng.choice(trn, size=int(round(frac*len(trn))), replace=False)
    lab = df.label.values.copy()
    lab[flip] = (lab[flip] + rng.integers(1, n_classes, size=len(flip))) % n_classes
    df['label'] = lab
    return df, len(flip), len(trn)

def run(df, path, cb, seed, a):
    seed_everything(seed)
    dls = cassava_dls(df, path, fold=0, size=a.size, bs=a.bs,
                      train_aug=valid_aug(a.size) if a.aug == 'resize' else None)
    learn = quiet(cassava_learner(dls, a.arch, pretrained=False, cbs=[cb] if cb is not None else None))
    learn.fit_one_cycle(a.epochs, a.lr)
    trn, val, acc = learn.recorder.values[-1][:3]
    return float(val), float(acc), float(trn)

def ms(v): return f'{statistics.mean(v):.3f} ± {statistics.stdev(v) if len(v) > 1 else 0.:.3f}'

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--noise', type=float, default=.25); ap.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    ap.add_argument('--epochs', type=int, default=8); ap.add_argument('--lr', type=float, default=1e-2)
    ap.add_argument('--settings', nargs='+', default=list(SETTINGS), choices=list(SETTINGS))
    ap.add_argument('--arch', default='resnet10t'); ap.add_argument('--size', type=int, default=32)
    ap.add_argument('--aug', default='leaf', choices=['leaf', 'resize'],
                    help="training augmentation: 'leaf' = `train_aug` (the default pipeline), 'resize' = `valid_aug` only")
    ap.add_argument('--bs', type=int, default=64); ap.add_argument('--threads', type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    path = sample_dataset(); df0 = add_folds(read_cassava(path), n_splits=5, seed=42)
    res = {k: [] for k in a.settings}
    t0 = time.time()
    for seed in a.seeds:
        df, n_flip, n_trn = noisy(df0, a.noise, seed)
        for k in a.settings:
            val, acc, trn = run(df, path, SETTINGS[k][1](), seed, a)
            res[k].append((val, acc, trn))
            print(f'seed {seed} ({n_flip}/{n_trn} training labels flipped)  {SETTINGS[k][0]:<19} train loss {trn:.3f}  '
                  f'valid loss {val:.3f}  accuracy {acc:.3f}  [{time.time()-t0:.0f} s]', flush=True)
    print(f'\n{a.arch} (pretrained=False), {a.size} px, bs {a.bs}, {a.aug} augmentation, Adam, fit_one_cycle({a.epochs}, {a.lr:g}), fold 0, '
          f'{a.noise:.0%} of training labels flipped, seeds {" ".join(map(str, a.seeds))}; mean ± std over seeds; '
          f'Δ = setting − base of the same seed ({time.time()-t0:.0f} s in all)\n')
    print('| setting | train loss | valid loss | accuracy | Δ valid loss | Δ accuracy | seeds better than base (loss) |')
    print('|---|---:|---:|---:|---:|---:|---:|')
    base = res.get('base')
    for k, v in res.items():
        vl, va, tl = [o[0] for o in v], [o[1] for o in v], [o[2] for o in v]
        if base is None or k == 'base': d = '— | — | —'
        else:
            dl = [x-b[0] for x, b in zip(vl, base)]; da = [x-b[1] for x, b in zip(va, base)]
            d = f'{ms(dl)} | {ms(da)} | {sum(x <= 0 for x in dl)}/{len(dl)}'
        print(f'| {SETTINGS[k][0]} | {ms(tl)} | {ms(vl)} | {ms(va)} | {d} |')

if __name__ == '__main__': main()
