#!/usr/bin/env python
"""Where `learn.fit`'s extra time goes vs the plain loop of `fit_overhead.py`: run one of them for py-spy to sample.

    /tmp/pyspy/bin/py-spy record -r 200 -f raw -o /tmp/fit.txt -- .venv/bin/python bench/fit_profile.py --what fit
    /tmp/pyspy/bin/py-spy record -r 200 -f raw -o /tmp/plain.txt -- .venv/bin/python bench/fit_profile.py --what plain
    .venv/bin/python bench/fit_profile.py --summary /tmp/fit.txt                # shares of forward / backward / step / rest

(`pip install --target /tmp/pyspy py-spy`.) The same model, batches and `torch.optim.Adam` as `fit_overhead.py`'s
same-optimizer variant (default efficientnet_b0 @ 128, bs 16, 6 batches + 1 validation batch, `--epochs` epochs)."""
import os
os.environ.setdefault('OMP_NUM_THREADS', '1')
import argparse, collections, re, sys, warnings
warnings.filterwarnings('ignore')
from functools import partial
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent))

STAGES = {'forward (model `forward`)': r'^(\w+\.)?forward \((timm|torch/nn)/', 'backward (`Tensor.backward`)': r'^(\w+\.)?backward \(torch/',
          'optimizer step (`Adam.step`)': r'^(\w+\.)?step \(torch/optim', 'zero_grad': r'zero_grad \(',
          'loss (`cross_entropy`)': r'^cross_entropy \(torch'}

def summary(f):
    stacks = collections.Counter()
    for line in open(f):
        stack, _, n = line.rstrip('\n').rpartition(' ')
        if stack and re.search(r'(^|;)(plain_epoch \(|(\w+\.)?fit \(fastai/learner)', stack): stacks[stack] += int(n)
    total, stage = sum(stacks.values()), collections.Counter()
    for s, n in stacks.items():
        fr = s.split(';'); hit = [l for l, rx in STAGES.items() if any(re.search(rx, x) for x in fr)]
        stage[hit[0] if hit else 'the rest (the loop, callbacks, batch handling)'] += n
    print(f'{total} samples inside the epochs\n\n| stage | share |\n|---|---:|')
    for k, v in stage.most_common(): print(f'| {k} | {100*v/total:.1f} % |')

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--what', default='fit', choices=['fit', 'plain']); ap.add_argument('--arch', default='efficientnet_b0')
    ap.add_argument('--size', type=int, default=128); ap.add_argument('--bs', type=int, default=16)
    ap.add_argument('--n-batches', type=int, default=6); ap.add_argument('--epochs', type=int, default=4)
    ap.add_argument('--summary', default=None, help='py-spy raw output to summarise')
    a = ap.parse_args()
    if a.summary: return summary(a.summary)
    import torch, timm
    from torch import nn
    from fastai.data.core import DataLoaders
    from fastai.data.load import DataLoader
    from fastai.learner import Learner
    from fastai.optimizer import OptimWrapper
    from fit_overhead import plain_epoch
    from cassava_fa.testing import quiet
    torch.set_num_threads(1); torch.manual_seed(0)
    batches = [(torch.randn(a.bs, 3, a.size, a.size), torch.randint(0, 5, (a.bs,))) for _ in range(a.n_batches)]
    valid = (torch.randn(a.bs, 3, a.size, a.size), torch.randint(0, 5, (a.bs,)))
    model = timm.create_model(a.arch, pretrained=False, num_classes=5)
    if a.what == 'plain':
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        for _ in range(a.epochs): plain_epoch(model, opt, batches, valid)
    else:
        learn = quiet(Learner(DataLoaders(DataLoader(batches, bs=None), DataLoader([valid], bs=None)), model, loss_func=nn.CrossEntropyLoss(),
                              opt_func=partial(OptimWrapper, opt=torch.optim.Adam), wd=0., wd_bn_bias=False, train_bn=True))
        for _ in range(a.epochs): learn.fit(1, 1e-3)

if __name__ == '__main__': main()
