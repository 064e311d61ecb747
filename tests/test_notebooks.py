"""Every notebook in `nbs/` is a test file: run each one in a fresh process with nbdev's test runner."""
import subprocess, sys, os
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
NBS = sorted(p for p in (ROOT/'nbs').glob('*.ipynb') if not p.name.startswith('_'))

@pytest.mark.parametrize('nb', NBS, ids=[p.stem for p in NBS])
def test_notebook(nb):
    nbdev_test = Path(sys.executable).parent/'nbdev-test'
    env = {**os.environ, 'OMP_NUM_THREADS': os.environ.get('OMP_NUM_THREADS', '1'), 'PYTHONHASHSEED': '0'}
    r = subprocess.run([str(nbdev_test), str(nb), '--n-workers', '0'], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, f'{nb.name} failed:\n{r.stdout[-4000:]}\n{r.stderr[-8000:]}'
