"""Data-parallel training on CPU: 2 gloo processes under `torchrun` against 1 process on the same global batch.

One `torchrun --nproc_per_node 2` launch runs every check (`python tests/test_distributed.py checks OUT` on each rank)
and rank 0 writes what it measured to OUT/results.json; the tests below read it. Two more launches: `cassava-fa train`'s
distributed entry point on the sample, and a rank that hangs (the other must fail on the process-group timeout)."""
import json, os, signal, socket, subprocess, sys, time
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]

def free_port()->int:
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); return s.getsockname()[1]

def torchrun(args:list, timeout:float=120, nproc:int=2)->tuple:
    "Run this file under torchrun with `args`; (exit status, output, seconds). The whole process group is killed on a timeout"
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', str(nproc), '--master_addr', '127.0.0.1',
           '--master_port', str(free_port()), __file__, *map(str, args)]
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
    assert r['max_rank_diff'] == 0                   # identical weights on both ranks after every step
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

def test_train_distributed_cli(tmp_path):
    "`cassava-fa train --distributed` on the sample under torchrun: one set of outputs, one experiment-log row"
    rc, log, secs = torchrun(['cli', tmp_path/'train'], timeout=240)
    assert rc == 0, log[-6000:]
    names = sorted(p.name for p in (tmp_path/'train').iterdir())
    for f in ('model.pkl', 'metrics.json', 'history.csv', 'oof.npy', 'submission.csv'): assert f in names, names
    assert not [n for n in names if '.tmp' in n]
    rows = (tmp_path/'experiments.csv').read_text().strip().splitlines()
    assert len(rows) == 2, rows       # header + one row: rank 1 did not log
    acc = json.loads((tmp_path/'train'/'metrics.json').read_text())['accuracy']
    assert 0 <= acc <= 1 and log.count('validation accuracy') == 1, log[-3000:]   # rank 1's output silenced

def test_stuck_rank_fails_on_timeout(tmp_path):
    "Rank 1 hangs inside the fit: rank 0 fails on the 5 s process-group timeout and torchrun ends both"
    rc, log, secs = torchrun(['stuck', tmp_path], timeout=120)
    assert rc != 0 and secs < 100, (rc, secs)
    assert (tmp_path/'waiting').exists(), log[-4000:]
    assert 'timed out' in log.lower() or 'timeout' in log.lower(), log[-4000:]

# ------------------------------------------------------------------------------------------------ the worker (each rank)
def _checks(out:Path):
    import torch, torch.distributed as dist
    from torch import nn
    from fastai.data.core import DataLoaders
    from fastai.data.load import DataLoader
    from fastai.metrics import accuracy
    from fastai.optimizer import SGD
    from fastai.learner import Learner
    from cassava_fa.distributed import init_distributed   # first: it makes `atomic_write` write on rank 0 only
    from cassava_fa.core import seed_everything, atomic_write
    from cassava_fa.testing import TensorItems, quiet, tiny_net
    from cassava_fa.optim import SAM
    from cassava_fa.snapshots import SnapshotCheckpoint
    rank, ws = int(os.environ['RANK']), int(os.environ['WORLD_SIZE'])
    init_distributed(timeout=120)
    res = {}

    def no_bn(): return nn.Sequential(nn.Conv2d(3,4,3,padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4,2))
    def learner(bs, model=no_bn, cbs=None, path='.', n_trn=64, n_val=21):
        seed_everything(0)
        g = torch.Generator().manual_seed(0)
        x = torch.randn(n_trn+n_val, 3, 8, 8, generator=g)
        y = (x[:,0].mean((1,2)) > x[:,1].mean((1,2))).long()
        ds = list(zip(x, y))
        dls = DataLoaders(DataLoader(TensorItems(ds[:n_trn]), bs=bs, shuffle=True, drop_last=True),
                          DataLoader(TensorItems(ds[n_trn:]), bs=bs), device='cpu')
        torch.manual_seed(0)
        return quiet(Learner(dls, model(), loss_func=nn.CrossEntropyLoss(), opt_func=partial_sgd, lr=0.1, metrics=accuracy,
                             cbs=cbs, path=path))
    from functools import partial
    partial_sgd = partial(SGD, mom=0.9)

    def flat(m): return torch.cat([p.detach().flatten() for p in m.parameters()])
    def bufs(m): return torch.cat([b.detach().float().flatten() for b in m.buffers()] or [torch.zeros(1)])
    class RankDiff(__import__('fastai.callback.core', fromlist=['Callback']).Callback):
        "After every step: the largest difference between rank 0's and the other ranks' weights"
        order = 100
        def before_fit(self): self.diff, self.steps = 0., 0
        def after_step(self):
            w = flat(self.learn.model); ws_ = [torch.zeros_like(w) for _ in range(ws)]; dist.all_gather(ws_, w)
            self.diff = max(self.diff, max((w_ - ws_[0]).abs().max().item() for w_ in ws_)); self.steps += 1

    def compare(name, model=no_bn, sync_bn=False, cbs=()):
        rd = RankDiff()
        learn = learner(8, model, cbs=[rd, *[c() for c in cbs]])
        with learn.distributed(sync_bn=sync_bn): learn.fit(2)
        steps = [None]*ws; dist.all_gather_object(steps, rd.steps)
        ref = learner(16, model, cbs=[c() for c in cbs]); ref_rd = RankDiff()
        ref.fit(2)   # one process, bs 16 = 8 x 2: outside `distributed()` nothing is gathered or sharded
        r = dict(max_rank_diff=rd.diff, steps=steps, ref_steps=len(ref.recorder.losses),
                 max_ref_diff=(flat(learn.model) - flat(ref.model)).abs().max().item(),
                 running_diff=(bufs(learn.model) - bufs(ref.model)).abs().max().item(),
                 valid=[float(v) for v in learn.recorder.values[-1][1:]], ref_valid=[float(v) for v in ref.recorder.values[-1][1:]])
        res[name] = r
        return learn, ref

    compare('plain'); compare('bn', tiny_net); compare('syncbn', tiny_net, sync_bn=True)
    learn, ref = compare('sam', cbs=[partial(SAM, rho=0.5)])
    res['sam']['ref_vs_plain_sgd'] = (flat(ref.model) - flat(_fit_plain(learner))).abs().max().item()

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
    if rank == 0: (out/'results.json').write_text(json.dumps(res, indent=1))
    print(json.dumps(res) if rank == 0 else '', flush=True)

def _fit_plain(learner):
    "The reference without SAM: 1 process, bs 16, plain SGD steps"
    l = learner(16); l.fit(2); return l.model

def _cli(out:Path):
    from cassava_fa.cli import main
    main(['train', '--distributed', '--epochs', '2', '--bs', '32', '--size', '32', '--out', str(out)])   # as the shell runs it

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
