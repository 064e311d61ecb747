"""Data-parallel training on CPU: 2 gloo processes under `torchrun` against 1 process on the same global batch.

One `torchrun --nproc_per_node 2` launch runs every check (`python tests/test_distributed.py checks OUT` on each rank:
plain, BatchNorm, SyncBatchNorm, SAM, EMA, bf16 autocast, gradient accumulation, MixUp, CutMix, per-rank augmentation,
get_preds, rank-0-only writes, a stopped and resumed run) and rank 0 writes what it measured to OUT/results.json; the
tests below read it. Two more launches: `cassava-fa train`'s distributed entry point on the sample (under
`accelerate launch`, which runs torchrun's launcher), and a rank that hangs (the other must fail on the process-group timeout)."""
import json, os, signal, socket, subprocess, sys, time
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]

def free_port()->int:
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); return s.getsockname()[1]

def torchrun(args:list, timeout:float=600, nproc:int=2, accelerate:bool=False)->tuple:
    "Run this file under torchrun (or `accelerate launch`) with `args`; (exit status, output, seconds). The whole process group is killed on a timeout"
    if accelerate:   # `--multi_gpu` is accelerate's torchrun launcher, on CPU too (`--cpu` would start one process)
        launcher = ['accelerate.commands.launch', '--multi_gpu', '--num_processes', str(nproc), '--num_machines', '1',
                    '--main_process_ip', '127.0.0.1', '--main_process_port', str(free_port()), '--mixed_precision', 'no',
                    '--dynamo_backend', 'no']
    else: launcher = ['torch.distributed.run', '--nproc_per_node', str(nproc), '--master_addr', '127.0.0.1', '--master_port', str(free_port())]
    cmd = [sys.executable, '-m', *launcher, __file__, *map(str, args)]
    env = {**os.environ, 'OMP_NUM_THREADS': '1', 'PYTHONWARNINGS': 'ignore', 'PYTHONPATH': str(ROOT)}
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try: out, _ = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL); out, _ = p.communicate()
        pytest.fail(f'torchrun {args} did not finish in {timeout}s:\n{out[-4000:]}')
    finally:
        if p.poll() is None: os.killpg(p.pid, signal.SIGKILL)
    return p.returncode, out, time.monotonic() - t0

@pytest.fixture(scope='module')
def res(tmp_path_factory):
    out = tmp_path_factory.mktemp('dist')
    rc, log, secs = torchrun(['checks', out])
    assert rc == 0, log[-6000:]
    r = json.loads((out/'results.json').read_text())
    r['seconds'], r['out'] = secs, str(out)
    return r

def test_weights_equal_single_process_without_bn(res):
    r = res['plain']
    assert r['max_rank_diff'] == 0 and r['init_diff'] == 0   # identical weights on both ranks before and after every step
    assert r['steps'] == [8, 8] and r['ref_steps'] == 8   # 2 epochs x 64 rows / (8 per rank x 2 ranks): a 1-process bs-8 run takes 16
    assert r['max_ref_diff'] < 1e-5, r               # = 1 process, bs 16, up to float summation order

def test_bn_unsynced_differs_synced_equal(res):
    assert res['bn']['max_rank_diff'] == 0 and res['syncbn']['max_rank_diff'] == 0
    assert res['syncbn']['max_ref_diff'] < 1e-5, res['syncbn']
    assert res['bn']['max_ref_diff'] > 10*res['syncbn']['max_ref_diff']   # per-rank batch statistics: a real difference...
    assert res['bn']['max_ref_diff'] < 0.05, res['bn']                     # ...but a small one
    assert res['syncbn']['running_diff'] < 1e-5 and res['bn']['running_diff'] > 1e-4

def test_sam_equals_single_process_sam(res):
    r = res['sam']
    assert r['max_rank_diff'] == 0 and r['max_ref_diff'] < 1e-5, r
    assert r['ref_vs_plain_sgd'] > 100*r['max_ref_diff']   # SAM did change the step (this is not a plain-SGD comparison)

def test_metrics_and_get_preds_gathered(res):
    for k in ('get_preds_b8', 'get_preds_b4'):
        r = res[k]
        assert r['n'] == 21 and r['targets_equal'] and r['inputs_equal'] and r['pred_diff'] < 1e-6, r   # every row once, in order
        assert r['loss_diff'] < 1e-6
    assert abs(res['plain']['valid'][0] - res['plain']['ref_valid'][0]) < 1e-5          # valid loss over all 21 rows
    assert res['plain']['valid'][1] == pytest.approx(res['plain']['ref_valid'][1])      # accuracy over all 21 rows

def test_only_rank0_writes(res):
    out = Path(res['out'])
    r0, r1 = sorted(p.name for p in (out/'rank0').rglob('*')), sorted(p.name for p in (out/'rank1').rglob('*'))
    assert 'manifest.json' in r0 and 'weights.pth' in r0 and 'epoch_001.safetensors' in r0 and 'note.txt' in r0, r0
    assert not [p for p in r1 if '.' in p], r1     # rank 1 (its own learn.path) wrote no file
    m = json.loads((out/'shared'/'models'/'snaps'/'manifest.json').read_text())
    kept = sorted(f for e in m['entries'] for f in (e['file'], e['state']) if f)
    assert res['shared_entries'] == 3 and res['shared_files'] == kept, (res['shared_files'], kept)   # pruned once, by rank 0

def test_ema_equals_single_process_ema(res):
    r = res['ema']
    assert r['max_rank_diff'] == 0 and r['ema_rank_diff'] == 0 and r['n_step'] == 8, r   # averaged after every step, alike
    assert r['max_ref_diff'] < 1e-5 and r['ema_ref_diff'] < 1e-5, r                     # float summation order, as 'plain'
    assert r['ema_vs_weights'] > 1000*r['ema_ref_diff']   # the average is not the weights: it was compared, not copied

def test_bf16_autocast_within_bf16_rounding(res):
    "bf16 rounds each product (and the weight gradients) to 8 significant bits: 8-row and 16-row products round apart"
    r, fp32 = res['bf16'], res['plain']
    assert r['max_rank_diff'] == 0 and r['steps'] == [8, 8], r
    assert r['ref_vs_fp32'] > 100*fp32['max_ref_diff']   # bf16 did change the run (it is not an fp32 comparison)...
    assert r['max_ref_diff'] < 3*r['ref_vs_fp32'], r      # ...and 2 ranks differ from 1 process by bf16's own order,
    assert r['max_ref_diff'] < 2**-7 * r['moved'], r      # under one bf16 spacing (7 stored bits: 2^-7 relative) of what training moved

def test_gradient_accumulation_counts_per_rank_rows(res):
    r = res['accum']
    assert r['max_rank_diff'] == 0 and r['steps'] == [4, 4] and r['ref_steps'] == 4, r   # a step every 2 micro-batches
    assert r['max_ref_diff'] < 1e-5, r   # 2 ranks x n_acc=16 (bs 8) = 1 process x n_acc=32 (bs 16), the same 32 rows a step

def test_mixup_per_rank_draws_replayed_in_one_process(res):
    "Each rank mixes within its own 8 rows with its own λ; one process given those draws (block-diagonal) takes the same steps"
    r = res['mixup']
    assert r['max_rank_diff'] == 0 and r['ref_steps'] == 8, r
    assert not any(r['lam_equal']), r                 # the ranks drew differently at every step (`seed_per_rank`)
    assert r['max_ref_diff'] < 1e-5, r
    assert r['vs_own_draws'] > 1000*r['max_ref_diff'], r   # one process drawing its own partners ends elsewhere

def test_cutmix_one_box_per_rank(res):
    "CutMix pastes one box per batch: 2 ranks paste 2 (their own λ), one process 1, so the runs are not equal; the ranks stay in step"
    r = res['cutmix']
    assert r['max_rank_diff'] == 0 and r['steps'] == [8, 8] and r['ref_steps'] == 8, r
    assert all(a != b for a, b in zip(*r['lams'])), r['lams']
    assert r['max_ref_diff'] > 100*res['plain']['max_ref_diff'], r

def test_augmentation_differs_per_rank(res):
    "Zero images + noise drawn from torch's generator: a batch is its augmentation; the ranks' differ, their weights do not"
    for k in ('aug_seed1_workers0', 'aug_seed1_workers1'):   # in the main process and in a DataLoader worker
        r = res[k]
        assert r['init_diff'] == 0 and r['max_rank_diff'] == 0 and r['steps'] == 4, (k, r)
        assert r['batches_equal'] == [False]*4 and 0.4 < r['noise_std'] < 0.6, (k, r)
    r = res['aug_seed0_workers0']   # seed_ranks=False: every rank draws the same augmentation
    assert r['batches_equal'] == [True]*4 and r['max_rank_diff'] == 0, r

def test_distributed_resume(res):
    "2 ranks stopped after epoch 1 of 3 and resumed from the snapshots = the uninterrupted 2-rank run; only rank 0 wrote"
    r = res['resume']
    assert r['diff'] == 0 and r['ema_diff'] == 0 and r['rank_diff'] == 0, r   # CPU, same ops in the same order: bitwise
    assert r['stopped_vs_whole'] > 1e-3, r            # the stopped run really ended elsewhere
    assert r['history'] == r['whole_history'], r       # replayed rows and the resumed epoch's
    assert 'epoch_001.state.safetensors' in r['at_stop'] and not any('epoch_002' in f for f in r['at_stop']), r['at_stop']
    assert r['entries'] == 3 and 'epoch_002.ema.safetensors' in r['files'] and not any('.tmp' in f for f in r['files']), r
    ev0, ev1 = r['events']
    assert ev1 == [], ev1                              # rank 1 opened nothing for writing, renamed, deleted or made nothing
    assert 'os.rename .manifest.json.tmp' in ' '.join(ev0) and sum('os.rename .epoch_' in e for e in ev0) == 18, ev0   # rank 0 did (the hook sees writes)

def test_train_distributed_cli(tmp_path):
    "`cassava-fa train --distributed` on the sample under `accelerate launch` (2 CPU processes): 2 ranks, one set of outputs, one experiment-log row"
    rc, log, secs = torchrun(['cli', tmp_path/'train'], accelerate=True)
    assert rc == 0, log[-6000:]
    n_train = json.loads((tmp_path/'train'/'metrics.json').read_text())['n_train']
    for r in range(2):   # both ranks reached `learn.distributed()` with a world of 2: half the steps of one process at bs 32
        seen = json.loads((tmp_path/f'rank{r}.json').read_text())
        assert seen == {'rank': r, 'world_size': 2, 'batches': [n_train // (32*2)]*2}, seen
    names = sorted(p.name for p in (tmp_path/'train').iterdir())
    for f in ('model.pkl', 'metrics.json', 'history.csv', 'oof.npy', 'submission.csv'): assert f in names, names
    assert not [n for n in names if '.tmp' in n]
    rows = (tmp_path/'experiments.csv').read_text().strip().splitlines()
    assert len(rows) == 2, rows       # header + one row: rank 1 did not log
    import numpy as np, pandas as pd
    m = json.loads((tmp_path/'train'/'metrics.json').read_text())
    oof, rows = np.load(tmp_path/'train'/'oof.npy'), pd.read_csv(tmp_path/'train'/'oof_rows.csv', dtype={'image_id': str})
    assert m['n_valid'] == len(rows) == len(oof) and rows.image_id.is_unique, (m, len(rows))   # every fold row once: gathered over both ranks, no padding rows
    from cassava_fa.data import read_cassava, sample_dataset
    assert m['n_valid'] + m['n_train'] == len(read_cassava(sample_dataset())), m    # rank 0's shard alone would be half
    assert abs(m['accuracy'] - (oof.argmax(1) == rows.label.values).mean()) < 1e-6, m   # the gathered OOF's accuracy
    assert log.count('validation accuracy') == 1, log[-3000:]   # rank 1's output silenced

def test_stuck_rank_fails_on_timeout(tmp_path):
    "Rank 1 hangs inside the fit: rank 0 fails on the 5 s process-group timeout and torchrun ends both"
    rc, log, secs = torchrun(['stuck', tmp_path], timeout=120)
    assert rc != 0 and secs < 100, (rc, secs)
    assert (tmp_path/'waiting').exists(), log[-4000:]
    assert 'timed out' in log.lower() or 'timeout' in log.lower(), log[-4000:]

# ------------------------------------------------------------------------------------------------ the worker (each rank)
def _checks(out:Path):
    import torch, torch.distributed as dist
    from functools import partial
    from torch import nn
    from fastai.callback.core import Callback, CancelFitException
    from fastai.callback.training import GradientAccumulation
    from fastai.data.core import DataLoaders
    from fastai.data.load import DataLoader
    from fastai.metrics import accuracy
    from fastai.optimizer import SGD
    from fastai.learner import Learner
    from cassava_fa.distributed import init_distributed   # Learner.distributed
    from cassava_fa.core import seed_everything, atomic_write
    from cassava_fa.testing import TensorItems, quiet, tiny_net
    from cassava_fa.optim import SAM
    from cassava_fa.callbacks import EMA, AutoMixedPrecision
    from cassava_fa.mix import MixUp, CutMix, mixup_images
    from cassava_fa.snapshots import SnapshotCheckpoint
    rank, ws = int(os.environ['RANK']), int(os.environ['WORLD_SIZE'])
    init_distributed(timeout=120)
    res = {}
    partial_sgd = partial(SGD, mom=0.9)

    def no_bn(): return nn.Sequential(nn.Conv2d(3,4,3,padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4,2))
    def jitter(b):
        "An augmentation drawing from torch's generator in the loading process (as `AlbumentationsTransform` seeds albumentations)"
        x, y = b
        return x + 0.5*torch.randn(x.shape), y
    def learner(bs, model=no_bn, cbs=None, path='.', n_trn=64, n_val=21, aug=False, zeros=False, num_workers=0):
        seed_everything(0)
        g = torch.Generator().manual_seed(0)
        x = torch.randn(n_trn+n_val, 3, 8, 8, generator=g)
        y = (x[:,0].mean((1,2)) > x[:,1].mean((1,2))).long()
        ds = list(zip(torch.zeros_like(x) if zeros else x, y))   # zeros: a training batch is its augmentation draws
        dls = DataLoaders(DataLoader(TensorItems(ds[:n_trn]), bs=bs, shuffle=True, drop_last=True, num_workers=num_workers,
                                     **({'after_item': jitter} if aug else {})),
                          DataLoader(TensorItems(ds[n_trn:]), bs=bs), device='cpu')
        torch.manual_seed(0)
        return quiet(Learner(dls, model(), loss_func=nn.CrossEntropyLoss(), opt_func=partial_sgd, lr=0.1, metrics=accuracy,
                             cbs=cbs, path=path))

    def flat(m): return torch.cat([p.detach().flatten() for p in m.parameters()])
    def bufs(m): return torch.cat([b.detach().float().flatten() for b in m.buffers()] or [torch.zeros(1)])
    def rank_diff(t):
        "Largest difference between rank 0's tensor `t` and the other ranks'"
        ts = [torch.zeros_like(t) for _ in range(ws)]; dist.all_gather(ts, t)
        return max((t_ - ts[0]).abs().max().item() for t_ in ts)
    class Steps(Callback):
        order = 100
        def before_fit(self): self.steps = 0
        def after_step(self): self.steps += 1
    class RankDiff(Steps):
        "After every step: the largest difference between rank 0's and the other ranks' weights; and before the first"
        def before_fit(self): super().before_fit(); self.diff, self.init_diff = 0., rank_diff(flat(self.learn.model))
        def after_step(self): super().after_step(); self.diff = max(self.diff, rank_diff(flat(self.learn.model)))
    class Batches(Callback):
        "The training batches' images, as the model gets them"
        order = 100
        def before_fit(self): self.xs = []
        def before_batch(self):
            if self.training: self.xs.append(self.xb[0].clone())

    def compare(name, model=no_bn, sync_bn=False, cbs=(), ref_cbs=None, ref=True):
        "Fit 2 epochs distributed at bs 8 per rank, and one process at bs 16 (`ref_cbs`, default `cbs`)"
        rd = RankDiff()
        learn = learner(8, model, cbs=[rd, *[c() for c in cbs]]); w0 = flat(learn.model)
        with learn.distributed(sync_bn=sync_bn): learn.fit(2)
        steps = [None]*ws; dist.all_gather_object(steps, rd.steps)
        r = dict(max_rank_diff=rd.diff, init_diff=rd.init_diff, steps=steps, valid=[float(v) for v in learn.recorder.values[-1][1:]])
        ref_l = None
        if ref:   # one process, bs 16 = 8 x 2: outside `distributed()` nothing is gathered or sharded
            st = Steps(); ref_l = learner(16, model, cbs=[st, *[c() for c in (cbs if ref_cbs is None else ref_cbs)]])
            ref_l.fit(2)
            r.update(ref_steps=st.steps, max_ref_diff=(flat(learn.model) - flat(ref_l.model)).abs().max().item(),
                     moved=(flat(ref_l.model) - w0).abs().max().item(),   # how far training took the weights
                     running_diff=(bufs(learn.model) - bufs(ref_l.model)).abs().max().item(),
                     ref_valid=[float(v) for v in ref_l.recorder.values[-1][1:]])
        res[name] = r
        return learn, ref_l

    learn, ref = compare('plain'); plain_ref = flat(ref.model)
    compare('bn', tiny_net); compare('syncbn', tiny_net, sync_bn=True)
    learn, ref = compare('sam', cbs=[partial(SAM, rho=0.5)])
    res['sam']['ref_vs_plain_sgd'] = (flat(ref.model) - plain_ref).abs().max().item()

    # EMA: the average of identical weights is identical, and is the single-process average
    learn, ref = compare('ema', cbs=[partial(EMA, decay=0.9)])
    ema, ref_ema = learn.ema.ema_model, ref.ema.ema_model
    res['ema'].update(ema_rank_diff=rank_diff(flat(ema)), ema_ref_diff=(flat(ema) - flat(ref_ema)).abs().max().item(),
                      ema_vs_weights=(flat(ref_ema) - flat(ref.model)).abs().max().item(), n_step=learn.ema.n_step)
    # bf16 autocast: rounding of the per-rank (8-row) and single-process (16-row) bf16 products differs
    learn, ref = compare('bf16', cbs=[AutoMixedPrecision])
    res['bf16'].update(ref_vs_fp32=(flat(ref.model) - plain_ref).abs().max().item())
    # accumulation: `n_acc` counts one rank's rows, so 2 ranks x n_acc 16 step on the rows of one process's n_acc 32
    compare('accum', cbs=[partial(GradientAccumulation, n_acc=16)], ref_cbs=[partial(GradientAccumulation, n_acc=32)])

    # MixUp: each rank draws its own partners (within its 8 rows) and λ; replayed in one process on the joined batch,
    # a block-diagonal permutation, the same step
    class DrawnMixUp(MixUp):
        def before_fit(self): super().before_fit(); self.draws = []
        def mix(self, x, y, perm):
            out = super().mix(x, y, perm); self.draws.append((perm.clone(), out[1].clone())); return out
    class ReplayedMixUp(MixUp):
        "MixUp whose partners and λ are given, not drawn"
        def __init__(self, draws): super().__init__(); self.draws = draws
        def before_fit(self): super().before_fit(); self._it = iter(self.draws)
        def before_batch(self):
            self._perm, self._lam = next(self._it)
            randperm, torch.randperm = torch.randperm, lambda n: self._perm
            try: super().before_batch()
            finally: torch.randperm = randperm
        def mix(self, x, y, perm): return mixup_images(x, x[perm], self._lam), self._lam, 1 - self._lam
    learn, _ = compare('mixup', cbs=[DrawnMixUp], ref=False)
    draws = [None]*ws; dist.all_gather_object(draws, learn.drawn_mix_up.draws)
    joined = [(torch.cat([d[j][0] + 8*r for r, d in enumerate(draws)]), torch.cat([d[j][1] for d in draws]))
              for j in range(len(draws[0]))]
    st = Steps(); ref = learner(16, cbs=[st, ReplayedMixUp(joined)]); ref.fit(2)
    own = learner(16, cbs=[MixUp()]); own.fit(2)   # one process drawing its own partners (over 16 rows) and λ
    res['mixup'].update(ref_steps=st.steps, max_ref_diff=(flat(learn.model) - flat(ref.model)).abs().max().item(),
                        lam_equal=[bool(torch.equal(draws[0][j][1], draws[1][j][1])) for j in range(len(joined))],
                        vs_own_draws=(flat(learn.model) - flat(own.model)).abs().max().item())
    # CutMix: one box per batch, so each rank's box (its own λ) differs from the other's and from a single process's one box
    class DrawnCutMix(CutMix):
        def before_fit(self): super().before_fit(); self.lams = []
        def mix(self, x, y, perm):
            out = super().mix(x, y, perm); self.lams.append(float(out[1])); return out
    learn, ref = compare('cutmix', cbs=[DrawnCutMix])
    lams = [None]*ws; dist.all_gather_object(lams, learn.drawn_cut_mix.lams)
    res['cutmix'].update(lams=lams)

    # per-rank randomness: zero images + `jitter`, so a training batch is its augmentation draws; DataLoader workers too
    for seed_ranks, nw in ((True, 0), (True, 1), (False, 0)):
        rd, seen = RankDiff(), Batches()
        learn = learner(8, cbs=[rd, seen], aug=True, zeros=True, num_workers=nw)
        with learn.distributed(seed_ranks=seed_ranks): learn.fit(1)
        xs = [None]*ws; dist.all_gather_object(xs, seen.xs)
        res[f'aug_seed{int(seed_ranks)}_workers{nw}'] = dict(
            max_rank_diff=rd.diff, init_diff=rd.init_diff, steps=rd.steps, noise_std=float(torch.stack(xs[0]).std()),
            batches_equal=[bool(torch.equal(a, b)) for a, b in zip(xs[0], xs[1])])

    # get_preds: 21 validation rows, per-rank bs 8 (batches 16+5: rank 1 has no last batch) and 4 (8+8+5: its last has 1 row)
    learn, ref = learner(8, tiny_net), learner(16, tiny_net)
    for bs in (8, 4):
        dl = learn.dls.valid.new(bs=bs)
        with learn.distributed(): x, p, t, l = learn.get_preds(dl=dl, with_input=True, with_loss=True)
        rx, rp, rt, rl = ref.get_preds(dl=ref.dls.valid.new(bs=2*bs), with_input=True, with_loss=True)
        res[f'get_preds_b{bs}'] = dict(n=len(p), targets_equal=bool((t == rt).all()), inputs_equal=bool((x == rx).all()),
                                       pred_diff=(p - rp).abs().max().item(), loss_diff=(l - rl).abs().max().item())

    # writes: each rank its own learn.path (rank 1's must stay empty), then both ranks one shared folder
    learn = learner(8, cbs=[SnapshotCheckpoint(dir='snaps')], path=out/f'rank{rank}')
    with learn.distributed():
        learn.fit(2)
        learn.save('weights')   # fastai's own rank check
        atomic_write(out/f'rank{rank}'/'note.txt', lambda t: Path(t).write_text('rank 0 only'))
    learn = learner(8, cbs=[SnapshotCheckpoint(dir='snaps', keep=1)], path=out/'shared')
    with learn.distributed(): learn.fit(3)
    dist.barrier()
    res['shared_entries'] = len(json.loads((out/'shared'/'models'/'snaps'/'manifest.json').read_text())['entries'])
    res['shared_files'] = sorted(p.name for p in (out/'shared'/'models'/'snaps').glob('epoch_*'))

    # resume: stopped after epoch 1 of 3 and resumed (a fresh learner, as the script run again) = uninterrupted;
    # augmentation, MixUp and EMA draw per rank, so every rank's generators must continue too. Every file event under
    # the shared folder is recorded (Python's audit hooks: opening for writing, renames, deletions, folders made)
    run, events = out/'resume', []
    def audit(ev, args):
        if ev in ('open', 'os.rename', 'os.remove', 'os.mkdir', 'os.rmdir') and args and str(run) in str(args[0]):
            if ev != 'open' or (isinstance(args[1], str) and set(args[1]) & set('wax+')) or (isinstance(args[2], int) and args[2] & (os.O_WRONLY | os.O_RDWR)):
                events.append(f'{ev} {Path(args[0]).name}')
    sys.addaudithook(audit)
    class Stop(Callback):
        order = SnapshotCheckpoint.order + 1   # after the snapshot of the epoch is written
        def after_epoch(self):
            if self.epoch == 1: raise CancelFitException
    def resume_learner(d, *extra, resume=False):
        return learner(8, cbs=[MixUp(), EMA(decay=0.9), SnapshotCheckpoint(dir=d, resume=resume), *extra], path=run, aug=True)
    whole = resume_learner('whole')
    with whole.distributed(): whole.fit(3)
    stopped = resume_learner('stopped', Stop())
    with stopped.distributed(): stopped.fit(3)
    dist.barrier()
    at_stop = sorted(p.name for p in (run/'models'/'stopped').iterdir())
    resumed = resume_learner('stopped', resume=True)
    with resumed.distributed(): resumed.fit(3)
    dist.barrier()
    ev = [None]*ws; dist.all_gather_object(ev, events)
    res['resume'] = dict(diff=(flat(whole.model) - flat(resumed.model)).abs().max().item(),
                         ema_diff=(flat(whole.ema.ema_model) - flat(resumed.ema.ema_model)).abs().max().item(),
                         stopped_vs_whole=(flat(whole.model) - flat(stopped.model)).abs().max().item(),
                         rank_diff=rank_diff(flat(resumed.model)), at_stop=at_stop,
                         entries=len(json.loads((run/'models'/'stopped'/'manifest.json').read_text())['entries']),
                         files=sorted(p.name for p in (run/'models'/'stopped').iterdir()), events=ev,
                         history=[[float(v) for v in r] for r in resumed.recorder.values],
                         whole_history=[[float(v) for v in r] for r in whole.recorder.values])
    if rank == 0: (out/'results.json').write_text(json.dumps(res, indent=1))
    print(json.dumps(res) if rank == 0 else '', flush=True)

def _cli(out:Path):
    from cassava_fa.cli import main
    import cassava_fa.distributed as D
    batches, after_train = [], D.DDPTrainer.after_train
    def spy(self): batches.append(len(self.learn.dl)); after_train(self)   # this rank's training batches, each epoch
    D.DDPTrainer.after_train = spy
    main(['train', '--distributed', '--epochs', '2', '--bs', '32', '--size', '32', '--out', str(out)])   # as the shell runs it
    rank = int(os.environ['RANK'])
    (out.parent/f'rank{rank}.json').write_text(json.dumps({'rank': rank, 'world_size': int(os.environ['WORLD_SIZE']), 'batches': batches}))

def _stuck(out:Path):
    import cassava_fa.distributed   # Learner.distributed
    from cassava_fa.testing import tiny_learner
    from fastai.callback.core import Callback
    rank = int(os.environ['RANK'])
    class Hang(Callback):
        def after_batch(self):
            if rank == 1 and self.iter == 1: (out/'waiting').touch(); time.sleep(300)
    learn = tiny_learner(cbs=[Hang()])
    (out/f'ready{rank}').touch()   # both ranks imported: the 5 s timeout is not spent on imports
    while not all((out/f'ready{r}').exists() for r in range(2)): time.sleep(0.1)
    with learn.distributed(timeout=5): learn.fit(1)

if __name__ == '__main__':
    cmd, out = sys.argv[1], Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    {'checks': _checks, 'cli': _cli, 'stuck': _stuck}[cmd](out)
