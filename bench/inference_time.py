#!/usr/bin/env python
"""`estimate_inference_time` against the run it predicts, and figure P5: time and peak memory of 10× more images.

    OMP_NUM_THREADS=1 .venv/bin/python bench/inference_time.py  # k 16 → N 160, tta 2; P5: 64 vs 640 images; 1 thread

Ensembles as in `ensemble.py`: snapshots of resnet10t at 64 px and test_convnext at 96 px (`pretrained=False`, a
2-epoch `SnapshotCheckpoint` run on a tenth of each epoch's batches of the sample data; only time is measured),
rebuilt with `Ensemble.from_snapshots`: a 1-member one (the last resnet10t snapshot) and the 4-member one (epochs 0
and 1 of both). Photo-like 800×600 JPEGs, seeded, written to a temporary folder (`ensemble.write_photos`: 64
distinct images from `decode.py`'s generator, the rest flipped / rolled / re-noised variants of them).

*Estimate*: for each ensemble and each of `--reps` repetitions (the ensembles interleaved),
`estimate_inference_time(ens, n_images=N, sample=items[:k], tta=T, bs=bs)` (which warms up on `sample[:bs]` and then
times one `predict` of the sample), then the measured wall time of `ens.predict(items[:N], tta=T, bs=bs)` in the same
process; the ratio estimate ÷ measured (target: within 25 %, i.e. 0.75–1.25).

*P5*: `ens.predict` (4 members, tta T) on `--p5-n` images and on 10× as many, each run in a fresh Python process
(peak RSS only grows within a process): build the ensemble, warm up on the first `bs` images, read `VmRSS`, time the
predict, then `resource.getrusage(RUSAGE_SELF).ru_maxrss` (and `VmHWM` of /proc/self/status, as a check). The
child is started through `sh -c '"$0" "$@"; exit $?'`, so that a forked shell, not this process, execs it: Linux
carries the peak RSS of the process that calls exec into the new program's `ru_maxrss` (a Python started directly
by `subprocess.run` from a parent at 1.2 GiB reports the parent's 1.2 GiB as its own peak), and the shell is small. The sizes are interleaved over `--p5-reps` repetitions
(default 2: a 10× run takes ~40 s here).
Targets: time ratio ≤ 10.5, peak-RSS ratio ≤ 1.2.

One thread (`torch.set_num_threads(1)`, `cv2.setNumThreads(1)`, `OMP_NUM_THREADS=1`), CPU, wall time (CPU time
alongside). Median and min–max over the repetitions. Prints markdown tables and appends one JSON line per figure to
`--results`."""
import os
os.environ.setdefault('OMP_NUM_THREADS', '1')
import argparse, json, platform, resource, subprocess, sys, tempfile, time, warnings
warnings.filterwarnings('ignore', category=FutureWarning)                # torch.jit.script deprecation in timm
from pathlib import Path
import numpy as np, cv2, torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ensemble import write_photos, make_runs, set_threads, append_results, med, mmm, BENCH, MEMBERS

def rss_kb(field='VmRSS')->int:
    "This process's `field` from /proc/self/status, in KiB"
    for l in Path('/proc/self/status').read_text().splitlines():
        if l.startswith(field + ':'): return int(l.split()[1])
    return -1

def ensembles(runs)->dict:
    from cassava_fa.inference import Ensemble
    return {'1 member': Ensemble.from_snapshots(runs[0], device='cpu'),
            '4 members': Ensemble.from_snapshots(runs, epochs=[0, 1], device='cpu')}

def child(spec:str):
    "P5 worker: one timed predict in this fresh process; prints a JSON line"
    s = json.loads(spec)
    set_threads(1)
    ens = ensembles([Path(r) for r in s['runs']])[s['ensemble']]
    items = Path(s['items']).read_text().split('\n')[:s['n']]
    assert len(items) == s['n'], f'{len(items)} items listed, {s["n"]} wanted'
    kw = dict(tta=s['tta'], bs=s['bs'], progress=False)
    ens.predict(items[:s['bs']], **kw)                                        # warm-up, not timed
    before = rss_kb()
    c0, w0 = time.process_time(), time.perf_counter()
    p = ens.predict(items, **kw)
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    assert p.shape == (s['n'], len(ens.vocab))
    print(json.dumps({'n': s['n'], 'wall': wall, 'cpu': cpu, 'rss_before_kb': before,
                      'maxrss_kb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, 'hwm_kb': rss_kb('VmHWM')}))

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--k', type=int, default=16, help='sample images the estimate times')
    ap.add_argument('--n', type=int, default=160, help='images of the run the estimate predicts')
    ap.add_argument('--tta', type=int, default=2); ap.add_argument('--bs', type=int, default=32)
    ap.add_argument('--reps', type=int, default=3)
    ap.add_argument('--p5-n', type=int, default=64, help='images of the 1× run of P5 (the 10× run: 10 times as many)')
    ap.add_argument('--p5-reps', type=int, default=2); ap.add_argument('--no-p5', action='store_true')
    ap.add_argument('--train-pct', type=float, default=0.1); ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--results', default=str(BENCH/'results'/'inference_time.jsonl'), help="JSON lines appended here ('' : none)")
    ap.add_argument('--child', help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child: return child(a.child)
    set_threads(1); torch.manual_seed(a.seed); load0 = os.getloadavg()[0]
    from cassava_fa.inference import estimate_inference_time
    t_setup = time.perf_counter()
    rows, est_rows, p5 = [], {}, {}
    with tempfile.TemporaryDirectory(prefix='cassava-inftime-') as d:
        n_files = max(a.n, 0 if a.no_p5 else 10*a.p5_n)
        items = [str(f) for f in write_photos(Path(d)/'images', n_files, a.seed)]
        runs = make_runs(Path(d)/'runs', a.train_pct, a.seed)
        enss = ensembles(runs)
        t_setup = time.perf_counter() - t_setup
        kw = dict(tta=a.tta, bs=a.bs)
        res = {k: {'est': [], 'meas': [], 'meas_cpu': [], 'ratio': [], 'per_image_est': []} for k in enss}
        for r in range(a.reps):
            for k, ens in enss.items():
                est = estimate_inference_time(ens, n_images=a.n, sample=items[:a.k], **kw)
                c0, w0 = time.process_time(), time.perf_counter()
                ens.predict(items[:a.n], progress=False, **kw)
                wall, cpu = time.perf_counter() - w0, time.process_time() - c0
                x = res[k]; x['est'].append(est.seconds); x['meas'].append(wall); x['meas_cpu'].append(cpu)
                x['ratio'].append(est.seconds / wall); x['per_image_est'].append(est.per_image)
        if not a.no_p5:
            lst = Path(d)/'items.txt'; lst.write_text('\n'.join(items))
            sizes = [a.p5_n, 10*a.p5_n]
            p5 = {n: [] for n in sizes}
            for r in range(a.p5_reps):
                for n in sizes:
                    spec = json.dumps({'runs': [str(x) for x in runs], 'items': str(lst), 'n': n, 'tta': a.tta,
                                       'bs': a.bs, 'ensemble': '4 members'})
                    out = subprocess.run(['/bin/sh', '-c', '"$0" "$@"; exit $?', sys.executable, __file__, '--child', spec],
                                         capture_output=True, text=True, env={**os.environ, 'OMP_NUM_THREADS': '1'})
                    if out.returncode: sys.exit(f'P5 child ({n} images) failed:\n{out.stderr[-3000:]}')
                    p5[n].append(json.loads(out.stdout.strip().splitlines()[-1]))
    args = {k: v for k, v in vars(a).items() if k not in ('results', 'child')}
    names = {k: ', '.join(m.name for m in e.members) for k, e in enss.items()}
    print(f'\nestimate_inference_time(ens, n_images={a.n}, sample=items[:{a.k}], tta={a.tta}, bs={a.bs}) against '
          f'ens.predict(items[:{a.n}], tta={a.tta}, bs={a.bs}); CPU, 1 thread, {a.reps} repetitions, median (min–max); '
          f'setup {t_setup:.0f} s; 1-min load average {load0:.1f} at the start, {os.getloadavg()[0]:.1f} at the end; torch {torch.__version__}, OpenCV {cv2.__version__}, CPython {platform.python_version()}\n')
    for k, n in names.items(): print(f'- {k}: {n}')
    print('\n| ensemble | estimate (s) | measured (s, wall) | measured (s, CPU) | estimate ÷ measured | sample ms / image | run ms / image |')
    print('|---|---:|---:|---:|---:|---:|---:|')
    for k, x in res.items():
        per = [m / a.n for m in x['meas']]
        print(f'| {k} | {mmm(x["est"], 1, "{:.2f}")} | {mmm(x["meas"], 1, "{:.2f}")} | {mmm(x["meas_cpu"], 1, "{:.2f}")} | '
              f'{mmm(x["ratio"], 1, "{:.3f}")} | {mmm(x["per_image_est"], 1e3)} | {mmm(per, 1e3)} |')
        rows.append({'figure': 'estimate', 'name': f'estimate / measured: {k}', 'value': med(x['ratio']), 'min': min(x['ratio']),
                     'max': max(x['ratio']), 'unit': 'ratio', 'target': '0.75-1.25', 'estimate_s': med(x['est']),
                     'measured_s': med(x['meas'])})
    if p5:
        n1, n10 = sorted(p5)
        tr = [b['wall'] / s['wall'] for s, b in zip(p5[n1], p5[n10])]
        tc = [b['cpu'] / s['cpu'] for s, b in zip(p5[n1], p5[n10])]
        mr = [b['maxrss_kb'] / s['maxrss_kb'] for s, b in zip(p5[n1], p5[n10])]
        gr = [(b['maxrss_kb'] - b['rss_before_kb']) / 1024 for b in p5[n10]]
        print(f'\nP5: ens.predict, 4 members, tta {a.tta}, bs {a.bs}, each run in a fresh process after a {a.bs}-image warm-up; '
              f'{a.p5_reps} repetitions (sizes interleaved), median (min–max)\n')
        print('| images | wall (s) | CPU (s) | ms / image | RSS before predict (MiB) | peak RSS `ru_maxrss` (MiB) | peak − before (MiB) | `VmHWM` (MiB) |')
        print('|---:|---:|---:|---:|---:|---:|---:|---:|')
        for n in (n1, n10):
            v = p5[n]
            print(f'| {n} | {mmm([x["wall"] for x in v], 1, "{:.2f}")} | {mmm([x["cpu"] for x in v], 1, "{:.2f}")} | '
                  f'{mmm([x["wall"]/n for x in v], 1e3)} | {mmm([x["rss_before_kb"]/1024 for x in v], 1, "{:.0f}")} | '
                  f'{mmm([x["maxrss_kb"]/1024 for x in v], 1, "{:.0f}")} | '
                  f'{mmm([(x["maxrss_kb"]-x["rss_before_kb"])/1024 for x in v], 1, "{:.0f}")} | '
                  f'{mmm([x["hwm_kb"]/1024 for x in v], 1, "{:.0f}")} |')
        print(f'\ntime {n10} ÷ {n1} images: {mmm(tr, 1, "{:.2f}")} wall (target ≤ 10.5), {mmm(tc, 1, "{:.2f}")} CPU; peak RSS ratio: {mmm(mr, 1, "{:.3f}")} '
              f'(target ≤ 1.2)')
        rows += [{'figure': 'P5', 'name': f'time ratio {n10}/{n1} images', 'value': med(tr), 'min': min(tr), 'max': max(tr),
                  'unit': 'ratio', 'target': '<= 10.5', 'cpu_ratio': med(tc)},
                 {'figure': 'P5', 'name': f'peak RSS ratio {n10}/{n1} images', 'value': med(mr), 'min': min(mr), 'max': max(mr),
                  'unit': 'ratio', 'target': '<= 1.2', 'maxrss_mib': {n: med([x['maxrss_kb']/1024 for x in p5[n]]) for n in p5},
                  'growth_mib_10x': med(gr)}]
    append_results(a.results, 'inference_time', rows, args)

if __name__ == '__main__': main()
