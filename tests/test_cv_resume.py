"""Kill a real `cross_validate` with SIGKILL in the middle of fold 2, run it again, and compare its out-of-fold
predictions bit for bit with an uninterrupted run (CPU, one thread)."""
import os, signal, subprocess, sys, textwrap
from pathlib import Path
import numpy as np

SCRIPT = textwrap.dedent('''
    import os, signal, sys
    from pathlib import Path
    import torch
    from fastai.callback.core import Callback
    from cassava_fa.data import sample_dataset, read_cassava, add_folds
    from cassava_fa.augment import train_aug
    from cassava_fa.cv import cross_validate
    torch.set_num_threads(1)
    out, kill = Path(sys.argv[1]), sys.argv[2] == 'kill'

    class KillInFold2(Callback):
        "SIGKILL this process in the third batch of epoch 1 of fold 2 (after epoch 0's snapshot was written)"
        order = 99
        def before_batch(self):
            run = self.learn.snapshot_checkpoint.run_dir.parent.name
            if kill and run == 'fold_2' and self.training and self.learn.snapshot_checkpoint.global_epoch == 1 and self.iter == 2:
                (out/'killed').touch(); os.kill(os.getpid(), signal.SIGKILL)

    df = add_folds(read_cassava(sample_dataset()), n_splits=3, seed=42)
    res = cross_validate(df, out=out, arch='resnet10t', epochs=3, lr=4e-3, size=32, bs=64, cbs=[KillInFold2()],
                         train_aug=train_aug(32, scale=(.3, 1.), p=.25), tta=1, log=False)
    print('done', res.scores.loc['overall', 'accuracy'])
''')

def run(out, mode):
    env = {**os.environ, 'OMP_NUM_THREADS': '1', 'PYTHONHASHSEED': '0'}
    return subprocess.run([sys.executable, '-c', SCRIPT, str(out), mode], capture_output=True, text=True, env=env, timeout=900)

def test_sigkill_in_fold_2_then_rerun_gives_the_same_oof(tmp_path):
    ref = run(tmp_path/'ref', 'run')
    assert ref.returncode == 0, ref.stderr[-3000:]
    r = run(tmp_path/'cv', 'kill')
    assert r.returncode == -signal.SIGKILL and (tmp_path/'cv'/'killed').exists(), r.stderr[-3000:]
    assert (tmp_path/'cv'/'fold_1'/'fold.json').exists() and not (tmp_path/'cv'/'fold_2'/'fold.json').exists()
    snaps = sorted(p.name for p in (tmp_path/'cv'/'fold_2'/'snapshots').glob('epoch_*.state.safetensors'))
    assert snaps == ['epoch_000.state.safetensors'], snaps         # died in epoch 1 of fold 2
    r = run(tmp_path/'cv', 'run')
    assert r.returncode == 0, r.stderr[-3000:]
    a, b = np.load(tmp_path/'ref'/'oof.npy'), np.load(tmp_path/'cv'/'oof.npy')
    assert a.shape == b.shape == (861, 5) and not np.isnan(a).any()
    assert np.array_equal(a, b)                                     # bitwise
