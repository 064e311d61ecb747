#!/usr/bin/env python
"""Cost of `atomic_write(..., fsync=True)` per snapshot: writing one model's weights with and without the fsyncs.

    .venv/bin/python bench/fsync.py                      # resnet10t and efficientnet_b0 weights, 10 rounds
    .venv/bin/python bench/fsync.py --dir /mnt/disk      # on the disk the snapshots go to

Each round writes the same safetensors file twice into `--dir`, once with fsync (the file, then its folder) and once
without, alternating which goes first; wall time, median and min–max over the rounds. Appends a JSON line to
bench/results/fsync.jsonl and prints a markdown table. The cost depends on the disk (and whether it is a RAM-backed
overlay, as in containers), so run it where the snapshots are written."""
import argparse, json, platform, statistics, tempfile, time
from datetime import datetime, timezone
from pathlib import Path
import timm
from safetensors.torch import save_file
from cassava_fa.core import atomic_write

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--archs', nargs='+', default=['resnet10t', 'efficientnet_b0'])
    ap.add_argument('--rounds', type=int, default=10); ap.add_argument('--dir', default=None)
    a = ap.parse_args()
    d = Path(tempfile.mkdtemp(dir=a.dir, prefix='fsync-bench-'))
    print('| weights | MB | without fsync (ms) | with fsync (ms) | ratio median (min–max) |\n|---|---:|---:|---:|---:|')
    for arch in a.archs:
        sd = {k: v.contiguous() for k, v in timm.create_model(arch, pretrained=False).state_dict().items()}
        t = {True: [], False: []}
        for r in range(a.rounds + 1):                        # round 0 warms up
            for fs in ((True, False) if r % 2 else (False, True)):
                t0 = time.perf_counter(); atomic_write(d/f'{arch}.safetensors', lambda p: save_file(sd, str(p)), fsync=fs)
                if r: t[fs].append(time.perf_counter() - t0)
        ratios = [a_ / b for a_, b in zip(t[True], t[False])]
        mb = (d/f'{arch}.safetensors').stat().st_size / 2**20
        row = dict(bench='fsync', arch=arch, mb=round(mb, 1), ms_without=round(1e3 * statistics.median(t[False]), 2),
                   ms_with=round(1e3 * statistics.median(t[True]), 2), ratio=round(statistics.median(ratios), 3),
                   ratio_min=round(min(ratios), 3), ratio_max=round(max(ratios), 3), rounds=a.rounds, dir=str(d.parent),
                   machine=platform.node(), date=datetime.now(timezone.utc).isoformat(timespec='seconds'))
        print(f"| {arch} | {mb:.1f} | {row['ms_without']:.1f} | {row['ms_with']:.1f} | {row['ratio']:.2f} ({row['ratio_min']:.2f}–{row['ratio_max']:.2f}) |")
        out = Path(__file__).parent/'results'/'fsync.jsonl'; out.parent.mkdir(exist_ok=True)
        with open(out, 'a') as f: f.write(json.dumps(row) + '\n')
    for p in d.iterdir(): p.unlink()
    d.rmdir()

if __name__ == '__main__': main()
