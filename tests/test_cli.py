"`cassava-fa` as a user runs it: the installed console script, in a fresh process."
import json, subprocess, sys
from pathlib import Path
import numpy as np, pandas as pd

EXE = Path(sys.executable).parent/'cassava-fa'

def run(*args, cwd=None):
    return subprocess.run([str(EXE), *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=600)

def test_help():
    r = run('--help')
    assert r.returncode == 0 and all(c in r.stdout for c in ('train', 'predict', 'estimate-time', 'sample'))
    for cmd in ('predict', 'estimate-time'):
        r = run(cmd, '--help')
        assert r.returncode == 0
        for flag in ('--models', '--snapshots', '--epochs', '--best', '--tta', '--multi-crop', '--images', '--bs', '--workers'):
            assert flag in r.stdout, (cmd, flag)
    assert '--n-images' in r.stdout and '--budget-hours' in r.stdout
    r = run('train', '--help')
    assert r.returncode == 0
    for flag in ('--data', '--arch', '--fold', '--epochs', '--size', '--bs', '--lr', '--seed', '--out', '--loss', '--opt',
                 '--sam', '--rho', '--adaptive', '--sam-every', '--mix', '--mix-p', '--unfreeze', '--snapshots', '--resume'):
        assert flag in r.stdout, flag

def test_train_then_predict(tmp_path):
    r = run('train', '--epochs', '1', '--bs', '64', '--out', tmp_path/'run', cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    assert 'validation accuracy:' in r.stdout
    assert {'model.pkl', 'metrics.json', 'history.csv', 'submission.csv'} <= {p.name for p in (tmp_path/'run').iterdir()}
    m = json.loads((tmp_path/'run'/'metrics.json').read_text())
    oof, rows = np.load(tmp_path/'run'/'oof.npy'), pd.read_csv(tmp_path/'run'/'oof_rows.csv')
    assert m['n_valid'] == len(rows) == len(oof) > 0
    assert abs(m['accuracy'] - (oof.argmax(1) == rows.label.values).mean()) < 1e-6   # metrics.json is the OOF's accuracy
    r = run('predict', '--model', tmp_path/'run'/'model.pkl', '--out', tmp_path/'sub.csv', cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    assert 'insecure pickle' not in r.stderr, r.stderr[-3000:]    # fastai's per-load warning: the README says it once
    assert pd.read_csv(tmp_path/'sub.csv').equals(pd.read_csv(tmp_path/'run'/'submission.csv'))
    r = run('cv', '--merge', tmp_path/'run', '--out', tmp_path/'cv', cwd=tmp_path)      # a one-fold "cross-validation"
    assert r.returncode == 0, r.stderr[-3000:]
    assert 'overall' in r.stdout and (tmp_path/'cv'/'confusion.png').exists() and (tmp_path/'cv'/'oof.npy').exists()
    assert len(pd.read_csv(tmp_path/'cv'/'experiments.csv')) == 1

def test_bad_input_is_one_line_and_exit_2(tmp_path):
    r = run('train', '--data', tmp_path/'missing', '--out', tmp_path/'run')
    last = r.stderr.strip().splitlines()[-1]
    assert r.returncode == 2 and last.startswith('cassava-fa: error:') and 'train.csv not found' in last
    assert not (tmp_path/'run').exists()

def test_quiet_import_and_predict(tmp_path):
    "`from cassava_fa.all import *` prints no warning of torch's (fastai's jit.script use); neither does `--version`"
    r = subprocess.run([sys.executable, '-W', 'default', '-c', 'from cassava_fa.all import *'], capture_output=True, text=True)
    assert r.returncode == 0 and 'jit.script' not in r.stderr, r.stderr[-2000:]
    r = run('--version')
    assert r.returncode == 0 and r.stdout.startswith('cassava-fa ') and not r.stderr
