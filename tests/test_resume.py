"""Kill real training processes with SIGKILL and resume them with `SnapshotCheckpoint(resume=True)`.

Each test writes a small training script to `tmp_path` (`toy_learner` from `cassava_fa.testing`: seeded, a tiny conv
net on random tensors whose items draw from Python's, NumPy's and torch's generators), runs it uninterrupted for
reference, runs it again and kills it (`sigkill_at`), resumes it in a new process, and compares the final weights
bit for bit."""
import json, os, signal, subprocess, sys, textwrap
from pathlib import Path
import pytest
import torch
from safetensors.torch import load_file
from cassava_fa.testing import sigkill_at

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = textwrap.dedent('''
    import argparse, os, signal, time
    from pathlib import Path
    import torch
    from fastai.callback.core import Callback
    from fastai.callback.schedule import fit_one_cycle, fine_tune
    import cassava_fa.snapshots as T
    from cassava_fa.learner import GradualUnfreezing
    from cassava_fa.testing import toy_learner

    ap = argparse.ArgumentParser()
    ap.add_argument('path'); ap.add_argument('out'); ap.add_argument('--mode', default='fit')
    ap.add_argument('--resume', action='store_true')
    ap.add_argument('--hang-in', type=int, default=-1, help='block in the 3rd batch of this global epoch')
    ap.add_argument('--die-writing', type=int, default=-1, help="SIGKILL half-way through this epoch's weights")
    a = ap.parse_args()
    torch.set_num_threads(1)

    class Hang(Callback):
        order = 99
        def before_batch(self):
            if self.training and self.learn.snapshot_checkpoint.global_epoch == a.hang_in and self.iter == 2:
                Path(a.out + '.hanging').touch(); time.sleep(600)

    if a.die_writing >= 0:
        save_file = T.save_file
        def dying(tensors, path, metadata=None):
            save_file(tensors, path, metadata=metadata)
            if f'.epoch_{a.die_writing:03d}.safetensors.tmp' in path:
                os.truncate(path, os.path.getsize(path) // 2); os.kill(os.getpid(), signal.SIGKILL)
        T.save_file = dying

    cbs = [T.SnapshotCheckpoint(resume=a.resume), Hang()]
    if a.mode == 'fit': cbs.append(GradualUnfreezing({0: 1, 1: 2, 3: None}))
    learn = toy_learner(a.path, cbs=cbs)   # seeded, quiet, three parameter groups
    if a.mode == 'fit': learn.fit_one_cycle(4, slice(1e-3, 1e-2))
    else: learn.fine_tune(3, 1e-2, freeze_epochs=1)
    T.save_weights(learn.model, a.out)
''')

ENV = {**os.environ, 'OMP_NUM_THREADS': '1', 'PYTHONHASHSEED': '0', 'PYTHONWARNINGS': 'ignore'}

def _cmd(tmp, run, out, *args): return [sys.executable, str(tmp/'train.py'), str(tmp/run), str(tmp/out), *args]

def _run(tmp, run, out, *args):
    r = subprocess.run(_cmd(tmp, run, out, *args), cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=120)
    return r

def _manifest(tmp, run):
    f = tmp/run/'models'/'snapshots'/'manifest.json'
    try: return json.loads(f.read_text())['entries']
    except (FileNotFoundError, json.JSONDecodeError): return None

def _same(a, b):
    a, b = load_file(str(a)), load_file(str(b))
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)

@pytest.fixture(scope='module')
def ref(tmp_path_factory):
    "Uninterrupted runs, per mode"
    tmp, done = tmp_path_factory.mktemp('ref'), {}
    (tmp/'train.py').write_text(SCRIPT)
    def get(mode):
        if mode not in done:
            r = _run(tmp, f'ref_{mode}', f'ref_{mode}.safetensors', '--mode', mode)
            assert r.returncode == 0, r.stderr[-4000:]
            done[mode] = tmp/f'ref_{mode}.safetensors'
        return done[mode]
    return get

@pytest.mark.parametrize('mode,last', [('fit', 1), ('fine_tune', 0)], ids=['fit_one_cycle', 'fine_tune_between_fits'])
def test_sigkill_then_resume_is_bitwise_identical(tmp_path, ref, mode, last):
    "SIGKILL during the epoch after `last`'s snapshot; the resumed run ends with the uninterrupted run's weights"
    (tmp_path/'train.py').write_text(SCRIPT)
    rc = sigkill_at(_cmd(tmp_path, 'run', 'out.safetensors', '--mode', mode, '--hang-in', str(last + 1)),
                    tmp_path/'out.safetensors.hanging', cwd=ROOT, env=ENV)   # killed while the next epoch is under way
    assert rc == -signal.SIGKILL
    assert [e['epoch'] for e in _manifest(tmp_path, 'run')] == list(range(last + 1))   # epoch `last`'s snapshot is there
    assert not (tmp_path/'out.safetensors').exists()

    r = _run(tmp_path, 'run', 'out.safetensors', '--mode', mode, '--resume')
    assert r.returncode == 0, r.stderr[-4000:]
    assert _same(tmp_path/'out.safetensors', ref(mode))
    assert [e['epoch'] for e in _manifest(tmp_path, 'run')] == [0, 1, 2, 3]

def test_sigkill_while_writing_a_snapshot(tmp_path, ref):
    "A kill half-way through epoch 2's weights leaves epoch 1's snapshot and the manifest loadable; resume is exact"
    from cassava_fa.snapshots import Snapshots, load_state
    (tmp_path/'train.py').write_text(SCRIPT)
    r = _run(tmp_path, 'run', 'out.safetensors', '--mode', 'fine_tune', '--die-writing', '2')
    assert r.returncode == -signal.SIGKILL, r.stderr[-4000:]
    d = tmp_path/'run'/'models'/'snapshots'
    half = list(d.glob('.epoch_002.safetensors.tmp*'))
    assert len(half) == 1 and half[0].stat().st_size > 0                   # the interrupted write is there...
    with pytest.raises(Exception): load_file(str(half[0]))                  # ...and unreadable,
    snaps = Snapshots.load(d)                                               # but the manifest and epoch 1 are fine
    assert [e['epoch'] for e in snaps] == [0, 1] and snaps.last() == d/'epoch_001.safetensors'
    assert not (d/'epoch_002.safetensors').exists()
    w = load_file(str(snaps.last()))
    assert all(torch.isfinite(v).all() for v in w.values() if v.is_floating_point())
    assert load_state(d/snaps[-1]['state'])['epoch'] == 1

    r = _run(tmp_path, 'run', 'out.safetensors', '--mode', 'fine_tune', '--resume')
    assert r.returncode == 0, r.stderr[-4000:]
    assert _same(tmp_path/'out.safetensors', ref('fine_tune'))
    assert not list(d.glob('.*.tmp*'))
