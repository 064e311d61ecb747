"""The documentation site without Quarto: `docs/build.py` builds it (nbdev's processing, mkdocs-material) and
`check_site` checks it; here one notebook with plots and tables is executed so that kept outputs are checked too
(`docs/build.py --execute` executes them all)."""
import re, shutil, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT/'docs'))       # as `docs/build.py` runs itself: its worker processes import `build`
import build as docs

EXECUTED = '11_interpret'      # plots (confusion matrix, CV scores) and tables; writes only to temporary folders

@pytest.fixture(scope='module')
def site(tmp_path_factory):
    "The site, built into this process's own folder (under `pytest -n 2` both workers may build it: into one folder they deleted each other's); then copied into `_site/` as the artifact, screenshots included"
    out = docs.build(tmp_path_factory.mktemp('site')/'_site', execute=[EXECUTED], proc=tmp_path_factory.mktemp('proc'), quiet=True)
    yield out
    _publish(out)

def _publish(out:Path):
    "Copy `out` into `ROOT/_site`, one process at a time; a `_site` of an earlier test run is replaced, one of this run (the other worker's) merged"
    import fcntl, os
    run = os.environ.get('PYTEST_XDIST_TESTRUNUID', str(os.getpid()))
    with open(ROOT/'.site.lock', 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        dest = ROOT/'_site'
        if dest.exists() and not (dest/f'.run-{run}').exists(): shutil.rmtree(dest)
        shutil.copytree(out, dest, dirs_exist_ok=True)
        (dest/f'.run-{run}').touch()

def _page(site, name): return (site/name).read_text(encoding='utf-8')

def test_site_checks(site):
    "A page per notebook, an entry per exported name, the search index, no broken link, anchor or image"
    assert docs.check_site(site) == []

def test_pages_and_sidebar(site):
    from nbdev.config import nbpath2html
    nbs = docs.notebooks()
    pages = [nbpath2html(p).name for p in nbs]
    assert nbs[0].stem == 'index' and [p.stem for p in nbs[1:]] == sorted(p.stem for p in nbs[1:])
    assert {'index.html', 'core.html', 'cli.html'} <= set(pages) and all((site/p).exists() for p in pages)
    # the sidebar lists them in notebook order, index first
    nav = re.findall(r'<a href="([\w.-]+\.html)" class="md-nav__link', _page(site, 'core.html'))
    seen = list(dict.fromkeys(h for h in nav if h in pages))
    assert seen == pages, seen
    # the index page is nbs/index.ipynb
    assert 'What&rsquo;s inside' in _page(site, 'index.html') or "What's inside" in _page(site, 'index.html')

def test_api_entries(site):
    "show_doc entries with their docments, for functions, classes and (added by the build) constants"
    core = _page(site, 'core.html')
    for name in docs.exported_names()['core']:
        assert re.search(rf'<h3 id="{re.escape(docs.slug(name))}"', core), name
    entry = core[core.index('id="seed_everything"'):][:3000]
    assert 'the one seed for Python, NumPy and torch' in entry            # docments of the signature
    assert 'Seed every random number generator' in entry                  # the docstring
    assert 'id="cassava_labels"' in core and 'Exported constant' in core
    assert 'show_doc(' not in core and '#| export' not in core           # inputs of show_doc and directives removed

def test_outputs_kept(site):
    "The executed notebook's page keeps its plots (as image files) and tables"
    from nbdev.config import nbpath2html
    name = nbpath2html(Path(EXECUTED + '.ipynb')).name
    page = _page(site, name)
    imgs = re.findall(r'<img src="([^"]+)"[^>]*class="nb-image"', page)
    assert len(imgs) >= 2, imgs
    for i in imgs: assert (site/i).stat().st_size > 1000, i
    assert '<table' in page and 'nb-output' in page

def test_checker_flags_breakage(site, tmp_path):
    "check_site fails on an injected broken link, a missing anchor, a missing image and a missing API entry"
    bad = tmp_path/'site'
    shutil.copytree(site, bad)
    core = bad/'core.html'
    html = core.read_text(encoding='utf-8')
    html = html.replace('id="seed_everything"', 'id="seed_everything_gone"', 1)
    html = html.replace('</article>', '<a href="no_such_page.html">x</a><a href="cli.html#no-such-anchor">y</a>'
                        '<img src="core_files/missing.png" alt="">\n</article>', 1)
    core.write_text(html, encoding='utf-8')
    probs = docs.check_site(bad)
    def flagged(s): return any(s in p for p in probs)
    assert flagged('no_such_page.html'), probs
    assert flagged('no id "no-such-anchor" in cli.html'), probs
    assert flagged('core_files/missing.png'), probs
    assert flagged('core.seed_everything: no entry'), probs
    assert flagged('no id "seed_everything"'), probs          # the links to the entry now dangle
    (bad/'cli.html').unlink()
    assert any('no page cli.html' in p for p in docs.check_site(bad))

def test_browser(site):
    "Index and API pages (and the executed page's plot, and a search) render in headless Chromium without console errors"
    if (why := docs.browser_unavailable()): pytest.skip(f'no browser check: {why}')
    from nbdev.config import nbpath2html
    errors, shots = docs.browser_check(site, pages=('index.html', 'core.html'),
                                       image_page=nbpath2html(Path(EXECUTED + '.ipynb')).name)
    assert errors == []
    assert {s.name for s in shots} >= {'index.png', 'core.png', 'core_api.png', 'interpret_plot.png', 'search.png'}
    for s in shots: assert s.stat().st_size > 20_000, s       # not a blank page

def test_markdown_conversion(tmp_path):
    "Quarto cell options and output kinds, on a small processed notebook (no build needed)"
    import base64, json
    png = base64.b64encode(bytes.fromhex('89504e470d0a1a0a') + b'x' * 2000).decode()
    def code(src, outs=()): return {'cell_type': 'code', 'metadata': {}, 'source': src, 'outputs': list(outs), 'execution_count': 1}
    nb = {'nbformat': 4, 'nbformat_minor': 5, 'metadata': {}, 'cells': [
        {'cell_type': 'raw', 'metadata': {}, 'source': '---\ntitle: Demo\ndescription: A demo page\noutput-file: demo.html\n---'},
        {'cell_type': 'markdown', 'metadata': {}, 'source': 'See [`f`](https://cassava-fa.github.io/cassava_fa/demo.html#f) and [`g`](https://cassava-fa.github.io/cassava_fa/demo.html#g.h)'},
        code('#| echo: false\n#| output: asis\nshow_doc(f)', [{'output_type': 'execute_result', 'metadata': {}, 'execution_count': 1,
              'data': {'text/markdown': '---\n\n### f\n\n```python\ndef f(x, # the x\n):\n```', 'text/plain': 'f'}}]),
        code('#| code-fold: show\n#| code-summary: "Exported source"\ndef g(): pass'),
        code('print(1)', [{'output_type': 'stream', 'name': 'stdout', 'text': 'Epoch |--| 0%\rEpoch |██| 100%\n1\n'}]),
        code('plot()', [{'output_type': 'display_data', 'metadata': {}, 'data': {'image/png': png, 'text/plain': '<Figure>'}}]),
        code('df', [{'output_type': 'execute_result', 'metadata': {}, 'execution_count': 2, 'data': {'text/html': '<table><tr><td>1</td></tr></table>', 'text/plain': '1'}}]),
        code('1/0', [{'output_type': 'error', 'ename': 'ZeroDivisionError', 'evalue': 'division by zero', 'traceback': ['\x1b[31mZeroDivisionError\x1b[0m: division by zero']}]),
    ]}
    p = tmp_path/'demo.ipynb'; p.write_text(json.dumps(nb))
    docs_dir = tmp_path/'docs'; docs_dir.mkdir()
    assert docs.notebook_to_markdown(p, docs_dir, 'https://cassava-fa.github.io/cassava_fa', {'demo'}) == ('demo', 'Demo')
    assert docs.fix_anchors(docs_dir) == {'demo': 1}          # `g.h` has no entry: its link goes
    md = (docs_dir/'demo.md').read_text()
    assert md.startswith('---\n{"title": "Demo"') and '# Demo' in md and 'A demo page\n{: .nb-description }' in md
    assert '[`f`](demo.md#f)' in md and '[`g`](' not in md and '`g`' in md
    assert 'show_doc(' not in md and '#|' not in md and '### f' in md and '# the x' in md
    assert '???+ source "Exported source"' in md and '    def g(): pass' in md
    assert '```text\nEpoch |██| 100%\n1\n```' in md        # carriage returns overwrite, as in a terminal
    assert '<img src="demo_files/cell4_out0.png"' in md and (docs_dir/"demo_files"/"cell4_out0.png").stat().st_size > 2000
    assert '<table><tr><td>1</td></tr></table>' in md
    assert 'ZeroDivisionError: division by zero' in md and '\x1b' not in md
