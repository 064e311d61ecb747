"""`learn.export()` / `load_learner()` round-trips into a fresh Python process.

The learner is built and exported here; a new interpreter then imports only `fastai.learner.load_learner`, never
`cassava_fa`, so everything the exported pipeline needs (the `load_image` type transform, the albumentations bridge,
the splitter, a cassava_fa loss and its activation) must come back through the references pickled in the file."""
import json, subprocess, sys, textwrap
from pathlib import Path
import pytest
import torch
from fastcore.test import test_close as close   # aliased: pytest would collect `test_close`
from cassava_fa.testing import sample_learner

ROOT = Path(__file__).resolve().parents[1]

LOAD = textwrap.dedent('''
    import json, sys
    assert not any(m.startswith('cassava_fa') for m in sys.modules)
    from fastai.learner import load_learner
    assert not any(m.startswith('cassava_fa') for m in sys.modules), 'fastai imported cassava_fa by itself?'
    learn = load_learner(sys.argv[1])
''')
PREDICT = LOAD + textwrap.dedent('''
    label, idx, probs = learn.predict(sys.argv[2])
    print(json.dumps(dict(label=str(label), idx=int(idx), probs=probs.tolist())))
''')
GET_PREDS = LOAD + textwrap.dedent('''
    probs, _ = learn.get_preds(dl=learn.dls.test_dl(sys.argv[2:]))
    loss = learn.loss_func
    print(json.dumps(dict(loss=type(loss).__name__, t1=loss.t1, t2=loss.t2, probs=probs.tolist())))
''')

def run_fresh(script, *args, cwd)->dict:
    "Run `script` in a new interpreter (working directory `cwd`) and parse the JSON on its last stdout line"
    r = subprocess.run([sys.executable, '-c', script, *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, f'fresh process failed:\n{r.stderr[-3000:]}'
    return json.loads(r.stdout.strip().splitlines()[-1])

@pytest.fixture(scope='module')
def items():
    "The sample dataset's test images"
    from cassava_fa.data import sample_dataset, test_items
    return test_items(sample_dataset())

def test_export_predict_in_fresh_process(items, tmp_path):
    "A trained learner predicts the same probabilities after `load_learner` in another process and folder"
    learn = sample_learner(bs=32)
    learn.fit(1, 1e-3)
    learn.export(tmp_path/'model.pkl')
    _, idx, probs = learn.predict(items[0])
    got = run_fresh(PREDICT, tmp_path/'model.pkl', items[0], cwd=tmp_path)   # cwd: the repo is not on sys.path
    close(torch.tensor(got['probs']), probs, eps=1e-6)
    assert got['idx'] == int(idx) and got['idx'] in range(5) and got['label'] == str(got['idx'])
    close(sum(got['probs']), 1., eps=1e-5)

def test_export_cassava_loss_get_preds_in_fresh_process(items, tmp_path):
    "A learner with a cassava_fa loss round-trips it: same loss, and `get_preds` on a test_dl returns probabilities"
    from cassava_fa.losses import BiTemperedLoss
    learn = sample_learner(bs=32, loss_func=BiTemperedLoss(t1=.8, t2=1.4))
    learn.export(tmp_path/'model.pkl')
    probs, _ = learn.get_preds(dl=learn.dls.test_dl(items))
    got = run_fresh(GET_PREDS, tmp_path/'model.pkl', *items, cwd=ROOT)
    assert (got['loss'], got['t1'], got['t2']) == ('BiTemperedLoss', .8, 1.4)
    p = torch.tensor(got['probs'])
    assert p.shape == (len(items), 5) and (p >= 0).all()
    close(p.sum(1), torch.ones(len(items)), eps=1e-5)
    close(p, probs, eps=1e-6)
