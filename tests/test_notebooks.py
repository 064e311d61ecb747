"""Every notebook in `nbs/` is a test file: run each one in a fresh process with nbdev's test runner.

Each notebook runs with `TMPDIR` set to its own pytest temporary folder, which is deleted when the notebook
passes: the notebooks' `tempfile.mkdtemp()` folders (cross-validation runs with snapshots, 1.5 GB for
12_noisy alone) would otherwise pile up in the system's /tmp on every run, until the disk is full."""
import subprocess, sys, os, shutil
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
NBS = sorted(p for p in (ROOT/'nbs').glob('*.ipynb') if not p.name.startswith('_'))

def _du(d): return sum(f.stat().st_size for f in Path(d).rglob('*') if f.is_file() and not f.is_symlink())

@pytest.mark.parametrize('nb', NBS, ids=[p.stem for p in NBS])
def test_notebook(nb, tmp_path):
    nbdev_test = Path(sys.executable).parent/'nbdev-test'
    tmp = tmp_path/'tmp'; tmp.mkdir()
    env = {**os.environ, 'OMP_NUM_THREADS': os.environ.get('OMP_NUM_THREADS', '1'), 'PYTHONHASHSEED': '0',
           'TMPDIR': str(tmp)}
    r = subprocess.run([str(nbdev_test), str(nb), '--n-workers', '0'], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, f'{nb.name} failed (its temporary files are kept in {tmp}):\n{r.stdout[-4000:]}\n{r.stderr[-8000:]}'
    print(f'{nb.name}: {_du(tmp)/2**20:.1f} MiB of temporary files, deleted')
    shutil.rmtree(tmp)
