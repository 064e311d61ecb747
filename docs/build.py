#!/usr/bin/env python
"""Build the documentation site without Quarto, and check it.

    .venv/bin/python docs/build.py [--out _site] [--execute [NOTEBOOK ...]] [--no-check] [--browser] [--check-only]

1. Each notebook of `nbs/` goes through nbdev's own docs processing, the `FilterDefaults` processors that
   `nbdev-proc-nbs` / `nbdev-docs` apply (show_doc cells added for every exported function and class and executed,
   export/hide directives and hidden cells removed, backticked names linked), written to `_proc/NAME.ipynb`
   as `nbdev-proc-nbs` writes them. The `nbdev-proc-nbs` command itself is not called: before processing it
   installs Quarto when missing (a download that fails offline) and rewrites `nbs/_quarto.yml`, `nbs/sidebar.yml`
   and `cassava_fa/_modidx.py`.
   With `--execute` the notebooks (all, or the ones named) are first run the way `nbdev-test` runs them
   (execnb, cwd `nbs/`, `slow` cells skipped), so their outputs (tables, plots) are kept: the committed
   notebooks have none.
2. Exported constants, which nbdev gives no show_doc, get an entry (heading, definition, source link).
3. Each processed notebook becomes a Markdown page, like Quarto's `keep-md` step: directives honoured
   (`echo: false`, `output: asis`, `code-fold`), markdown outputs (show_doc) kept as Markdown, HTML outputs
   as HTML, images written beside the page, and links to the documentation host made relative.
4. mkdocs-material renders the pages into `--out` (default `_site/`): sidebar in notebook order (index first),
   a table of contents per page with one entry per API symbol, and search.
5. `check_site` checks the result (a page per notebook, an entry per exported name, no broken internal link or
   anchor, no missing image, a search index); `--browser` also loads pages in headless Chromium, fails on
   console errors and saves screenshots under `OUT/_screenshots/`.
"""
import argparse, ast, base64, html, json, os, re, shutil, sys, time, warnings
from concurrent.futures import ProcessPoolExecutor
from html.parser import HTMLParser
from multiprocessing import get_context
from pathlib import Path
from urllib.parse import unquote, urlsplit

ROOT = Path(__file__).resolve().parents[1]
NBS, LIB, PROC = ROOT/'nbs', ROOT/'cassava_fa', ROOT/'_proc'
SKIP_MODULES = {'_modidx', 'all', '__init__'}
EXEC_ENV = {'OMP_NUM_THREADS': '1', 'MKL_NUM_THREADS': '1', 'MPLBACKEND': 'Agg', 'PYTHONHASHSEED': '0'}

# ---------------------------------------------------------------- notebooks, modules, names

def notebooks(nbs=NBS):
    "The site's notebooks in sidebar order: `index` first, then by file name (as `nbdev-sidebar` orders them)"
    nbs = sorted(p for p in Path(nbs).glob('*.ipynb') if not p.name.startswith(('_', '.')))
    return sorted(nbs, key=lambda p: (p.stem != 'index', p.name))

_re_default_exp = re.compile(r'^\s*#\|\s*default_exp\s+(\S+)', re.MULTILINE)

def _nb_json(p): return json.loads(Path(p).read_text(encoding='utf-8'))
def _src(c): return ''.join(c['source']) if isinstance(c['source'], list) else c['source']

def default_exp(nb_path):
    "The module a notebook exports to (`#| default_exp`), or None"
    for c in _nb_json(nb_path)['cells']:
        if c['cell_type'] == 'code' and (m := _re_default_exp.search(_src(c))): return m.group(1)

def module_all(mod, lib=LIB):
    "`__all__` of `lib/mod.py`, and which of those names are functions or classes (read from the source)"
    tree = ast.parse((Path(lib)/f'{mod.replace(".", "/")}.py').read_text(encoding='utf-8'))
    names = []
    for n in tree.body:
        if isinstance(n, ast.Assign) and any(getattr(t, 'id', None) == '__all__' for t in n.targets):
            names = list(ast.literal_eval(n.value))
    defs = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
    return names, defs

def exported_names(lib=LIB):
    "{module: [exported names]} for every module of `lib` but `_modidx`, `all` and `__init__`"
    return {p.stem: module_all(p.stem, lib)[0] for p in sorted(Path(lib).glob('*.py')) if p.stem not in SKIP_MODULES}

def slug(text, sep='-'):
    "Pandoc's (so Quarto's and nbdev's doc links') heading ids: `seed_everything`, `foldresult.__init__`"
    s = re.sub(r'[^\w\s.-]', '', html.unescape(re.sub(r'<[^>]+>', '', text))).strip().lower()
    s = re.sub(r'\s+', sep, s)
    s = re.sub(r'^[^a-z]+', '', s)
    return s or 'section'

def page_name(proc_nb):
    "The page a processed notebook becomes: its `output-file` (nbdev sets `core.html` for `00_core`), else its stem"
    fm = _frontmatter(proc_nb)[0]
    return Path(fm.get('output-file') or Path(proc_nb['_path']).stem).stem

# ---------------------------------------------------------------- step 1: execute and process (worker processes)

def _constant_entries(nb, mod):
    "Insert an entry (heading, definition, source link) after the cell that defines each exported constant"
    from fastcore.nbio import mk_cell
    from nbdev.config import get_config
    names, defs = module_all(mod)
    consts = [n for n in names if n not in defs]
    if not consts: return nb
    src_lines = (LIB/f'{mod}.py').read_text(encoding='utf-8').splitlines()
    where = {}
    for n in ast.parse('\n'.join(src_lines)).body:
        tgts = n.targets if isinstance(n, ast.Assign) else [n.target] if isinstance(n, ast.AnnAssign) else []
        for t in tgts:
            if getattr(t, 'id', None) in consts: where[t.id] = (n.lineno, n.end_lineno)
    cfg = get_config()
    cells, after = list(nb.cells), {}       # after[i]: entries already inserted after cell i
    for name in consts:
        if name not in where: continue
        for i, c in enumerate(cells):
            if c.cell_type != 'code' or not re.search(r'^\s*#\|\s*exports?\b', c.source, re.M): continue
            if not re.search(rf'^{re.escape(name)}\s*[:=]', c.source, re.M): continue
            a, b = where[name]
            while a > 1 and src_lines[a-2].lstrip().startswith('#') and not src_lines[a-2].startswith('# %%'): a -= 1
            code = '\n'.join(src_lines[a-1:b])
            url = f'{cfg.git_url}/blob/{cfg.branch}/{LIB.name}/{mod}.py#L{where[name][0]}'
            md = (f'---\n\n[source]({url}){{target="_blank" style="float:right; font-size:smaller"}}\n\n'
                  f'### {name}\n\n```python\n{code}\n```\n\n*Exported constant of `{LIB.name}.{mod}`*')
            cells.insert(i+1+after.get(id(c), 0), mk_cell(md, 'markdown'))
            after[id(c)] = after.get(id(c), 0) + 1
            break
    nb.cells = cells
    return nb

def _execute(src, timeout):
    "Run notebook `src` as `nbdev-test` does (execnb, cwd its folder, `tst_flags` cells skipped); return it with outputs"
    from execnb.shell import CaptureShell
    from fastcore.xtras import working_directory
    from nbdev.config import get_config
    from nbdev.process import NBProcessor
    from nbdev.test import _skip_cell
    cfg = get_config()
    nb = NBProcessor(src, rm_directives=False, process=True).nb
    k = CaptureShell(src, profile=bool(cfg.get('exec_profile', False)))
    with working_directory(src.parent):
        k.run_all(nb, exc_stop=True, preproc=_skip_cell(nb, cfg.tst_flags.split()), cell_timeout=timeout)
    return nb

def _filter_defaults():
    """nbdev's `FilterDefaults` (the processors `nbdev-proc-nbs` applies), with one change to `exec_show_docs`:
    a cell that nbdev runs only because it contains an import, but that also holds other code (nbdev warns
    "Found cells containing imports and other code"), has just its top-level imports run. nbdev would run the whole
    cell: in `13_stacking` that is a minute of training, and in `01_augment` it fails (a name defined by an earlier,
    unexecuted cell), which stops `nbdev-docs`. Exported cells, show_doc cells and import-only cells run as in nbdev."""
    from nbdev.processors import FilterDefaults, exec_show_docs, _show_docs, _do_eval, cell_lang
    imp = (ast.Import, ast.ImportFrom)
    class exec_show_docs_imports(exec_show_docs):
        def __call__(self, cell):
            if not self.nb.has_docs_ or not hasattr(self, 'k'): return
            if cell.cell_type == 'code' and cell_lang(cell) == 'python' and _do_eval(cell):
                trees = cell.parsed_()
                if (not cell.directives_.keys() & {'export', 'exports', 'exporti', 'exec_doc'} and not _show_docs(trees)
                    and not all(isinstance(t, imp) for t in trees)):
                    code = '\n'.join(ast.unparse(t) for t in trees if isinstance(t, imp))
                    if code: self.k.run_cell(code)
                    if self.k.exc:
                        raise Exception(f'Error in {Path(self.nb.path_).name} running the imports of cell {cell.idx_}:\n'
                                        f'{code}\n{type(self.k.exc).__name__}: {self.k.exc}') from self.k.exc
                    return
            super().__call__(cell)
    class Filter(FilterDefaults):
        def base_procs(self): return [exec_show_docs_imports if p is exec_show_docs else p for p in super().base_procs()]
    return Filter

def _process_one(job):
    "Worker: (optionally execute,) add constant entries, apply nbdev's FilterDefaults; write `_proc/NAME.ipynb`"
    src, dst, execute, timeout = job
    os.environ.update(EXEC_ENV); os.environ['IN_TEST'] = '1'
    warnings.filterwarnings('ignore')
    os.chdir(ROOT)
    from fastcore.nbio import read_nb, write_nb, dict2nb, nb2dict
    t0 = time.time()
    try:
        nb = _execute(src, timeout) if execute else read_nb(src)
        t_exec = time.time() - t0
        nb = dict2nb(nb2dict(nb))       # fresh cell indices
        if (mod := default_exp(src)): nb = dict2nb(nb2dict(_constant_entries(nb, mod)))
        nb.path_ = str(src)             # as `read_nb` sets it (nbdev's FrontmatterProc needs it)
        os.chdir(ROOT)
        _filter_defaults()()(nb)
    except Exception as e:
        raise RuntimeError(f'{src.name} failed while {"executing" if execute and "t_exec" not in locals() else "processing"}'
                           f' it: {type(e).__name__}: {e}') from e
    write_nb(nb, dst)
    return src.name, t_exec, time.time() - t0

def process_notebooks(nbs, proc=PROC, execute=(), n_workers=2, timeout=300):
    """Process every notebook of `nbs` into `proc`, executing those whose stem is in `execute` first.
    Executed notebooks each get a fresh process (as `nbdev-test` gives them); the others share worker processes,
    as nbdev's `proc_nbs` does, so torch and fastai are imported once per worker."""
    proc = Path(proc)
    if proc.exists(): shutil.rmtree(proc)
    proc.mkdir(parents=True)
    os.environ.update(EXEC_ENV)      # inherited by the spawned workers before they import torch
    ex_jobs = [(p, proc/p.name, True, timeout) for p in nbs if p.stem in execute]
    pr_jobs = [(p, proc/p.name, False, timeout) for p in nbs if p.stem not in execute]
    n_ex = min(len(ex_jobs), n_workers)
    n_pr = max(1, n_workers - n_ex) if ex_jobs else n_workers
    ctx = get_context('spawn')
    with ProcessPoolExecutor(max(n_ex, 1), mp_context=ctx, max_tasks_per_child=1) as ex_pool, \
         ProcessPoolExecutor(n_pr, mp_context=ctx) as pr_pool:
        futs = [ex_pool.submit(_process_one, j) for j in ex_jobs] + [pr_pool.submit(_process_one, j) for j in pr_jobs]
        for f in futs:
            try: name, te, tt = f.result()
            except BaseException:
                for pool in (ex_pool, pr_pool): pool.shutdown(wait=True, cancel_futures=True)
                raise
            print(f'  {name:24s} ' + (f'executed in {te:.0f}s, ' if Path(name).stem in execute else '') + f'done in {tt:.0f}s', flush=True)
    return [proc/p.name for p in nbs]

# ---------------------------------------------------------------- step 2: processed notebook -> Markdown page

def _frontmatter(nb):
    "(frontmatter dict, index of its raw cell or None)"
    import yaml
    for i, c in enumerate(nb['cells'][:3]):
        s = _src(c).strip()
        if c['cell_type'] == 'raw' and s.startswith('---') and s.endswith('---'):
            return (yaml.safe_load(s.strip('-')) or {}), i
    return {}, None

_re_dir = re.compile(r'^\s*#\|\s*([\w-]+)\s*:?\s*(.*?)\s*$')

def _directives(source):
    "Split Quarto cell options (`#| key: value` lines at the top) from the code"
    lines, opts = source.splitlines(), {}
    while lines and (m := _re_dir.match(lines[0])):
        opts[m.group(1)] = m.group(2).strip('"\'') or True
        lines.pop(0)
    return opts, '\n'.join(lines).strip('\n')

def _fence(text, lang=''):
    ticks = '`' * max(3, max((len(m) for m in re.findall(r'`+', text)), default=0) + 1)
    return f'{ticks}{lang}\n{text.rstrip()}\n{ticks}'

_re_ansi = re.compile(r'\x1B(?:[@-Z\\-_]|\[[0-?]*[ -/]*[@-~])')

def _text(x): return ''.join(x) if isinstance(x, list) else x

def _terminal(text):
    "What a terminal shows for `text`: carriage returns overwrite the line (fastprogress's bars outside Jupyter)"
    lines = []
    for l in text.split('\n'):
        shown = ''
        for seg in l.split('\r'): shown = seg + shown[len(seg):]
        lines.append(shown.rstrip())
    return '\n'.join(lines)

def _outputs_md(cell, ci, page, files_dir, asis):
    "Markdown for a code cell's outputs; images are written to `files_dir`"
    parts = []
    for oi, o in enumerate(cell.get('outputs', [])):
        t = o.get('output_type')
        if t == 'stream':
            parts.append(('text', _re_ansi.sub('', _text(o['text']))))
        elif t == 'error':
            parts.append(('text', _re_ansi.sub('', '\n'.join(o.get('traceback', [])) or f"{o['ename']}: {o['evalue']}")))
        elif t in ('execute_result', 'display_data'):
            d = o.get('data', {})
            img = next((m for m in ('image/svg+xml', 'image/png', 'image/jpeg', 'image/gif') if m in d), None)
            if 'text/markdown' in d: parts.append(('md', _text(d['text/markdown'])))
            elif img:
                ext = {'image/svg+xml': 'svg', 'image/jpeg': 'jpg'}.get(img, img.split('/')[1])
                fn = files_dir/f'cell{ci}_out{oi}.{ext}'
                fn.parent.mkdir(parents=True, exist_ok=True)
                if ext == 'svg': fn.write_text(_text(d[img]), encoding='utf-8')
                else: fn.write_bytes(base64.b64decode(_text(d[img])))
                alt = html.escape(_text(d.get('text/plain', 'output')).strip().replace('\n', ' ')[:80], quote=True)
                parts.append(('html', f'<img src="{files_dir.name}/{fn.name}" alt="{alt}" class="nb-image">'))
            elif 'text/html' in d: parts.append(('html', _text(d['text/html'])))
            elif 'text/plain' in d: parts.append(('text', _re_ansi.sub('', _text(d['text/plain']))))
    # consecutive stream chunks form one block
    merged = []
    for k, v in parts:
        if merged and k == 'text' and merged[-1][0] == 'text': merged[-1] = ('text', merged[-1][1] + v)
        else: merged.append((k, v))
    out = []
    for k, v in merged:
        if k == 'text': v = _terminal(v)
        if k == 'md': out.append(v.strip('\n') if asis else f'<div class="nb-output" markdown="1">\n\n{v.strip()}\n\n</div>')
        elif k == 'html': out.append(f'<div class="nb-output">\n{v.strip()}\n</div>')
        elif v.strip(): out.append(f'<div class="nb-output nb-text" markdown="1">\n\n{_fence(v.rstrip(), "text")}\n\n</div>')
    return out

def notebook_to_markdown(proc_nb, docs_dir, doc_url, pages):
    "Write `docs_dir/PAGE.md` (and `PAGE_files/`) from processed notebook `proc_nb`; return (page, title)"
    nb = _nb_json(proc_nb); nb['_path'] = str(proc_nb)
    page = page_name(nb)
    fm, fmi = _frontmatter(nb)
    cells = [c for i, c in enumerate(nb['cells']) if i != fmi]
    title = fm.get('title')
    if not title:       # the first heading is the title (as nbdev's FrontmatterProc would make it)
        for c in cells:
            if c['cell_type'] == 'markdown' and (m := re.match(r'#\s+(.+)', _src(c).strip())):
                title = m.group(1).strip()
                break
    title = title or page
    files_dir = Path(docs_dir)/f'{page}_files'
    # links to the published site (nbdev's `add_links`) become links inside this site
    re_site = re.compile(rf'{re.escape(doc_url.rstrip("/"))}/([\w.-]+?)\.html')
    def relink(s): return re_site.sub(lambda m: f'{m.group(1)}.md' if m.group(1) in pages else m.group(0), s)
    body = [f'# {title}']
    if fm.get('description'): body.append(f'{fm["description"]}\n{{: .nb-description }}')
    for ci, c in enumerate(cells):
        src = _src(c)
        if c['cell_type'] == 'markdown':
            if src.strip() == '<!-- WARNING: THIS FILE WAS AUTOGENERATED! DO NOT EDIT! -->': continue
            s = src.strip('\n')
            if ci < 2 and fmi is None and re.match(r'#\s+', s):     # heading + `> description` already used as title
                s = re.sub(r'^#\s+.*\n?', '', s).lstrip('\n')
                if (m := re.match(r'>\s*(.+?)(\n\n|$)', s, re.S)):
                    body.append(f'{m.group(1).strip()}\n{{: .nb-description }}'); s = s[m.end():]
            if s.strip(): body.append(relink(s))
        elif c['cell_type'] == 'code':
            opts, code = _directives(src)
            if str(opts.get('include', '')).lower() == 'false': continue
            if code.strip() and str(opts.get('echo', '')).lower() != 'false':
                if 'code-fold' in opts:
                    summary = opts.get('code-summary', 'Code')
                    mark = '???+' if str(opts['code-fold']).lower() == 'show' else '???'
                    block = '\n'.join('    ' + l if l else '' for l in _fence(code, 'python').splitlines())
                    body.append(f'{mark} source "{summary}"\n\n{block}')
                else: body.append(_fence(code, 'python'))
            if str(opts.get('output', '')).lower() != 'false':
                body += [relink(o) for o in _outputs_md(c, ci, page, files_dir, opts.get('output') == 'asis')]
        elif c['cell_type'] == 'raw' and src.strip(): body.append(_fence(src, 'text'))
    meta = {'title': title}
    if fm.get('description'): meta['description'] = fm['description']
    head = '---\n' + json.dumps(meta) + '\n---\n\n'      # JSON is YAML
    (Path(docs_dir)/f'{page}.md').write_text(head + '\n\n'.join(body) + '\n', encoding='utf-8')
    return page, title

_re_fence = re.compile(r'^(`{3,}|~{3,})')
_re_mdlink = re.compile(r'\[([^\]\n]*)\]\((?P<page>[\w.-]+\.md)?#(?P<frag>[^)\s]+)\)')

def _md_lines(text):
    "The lines of Markdown `text` outside fenced code blocks"
    fence = None
    for l in text.splitlines():
        m = _re_fence.match(l.strip())
        if fence: fence = None if (m and m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence)) else fence
        elif m: fence = m.group(1)
        else: yield l

def heading_ids(text):
    "The ids mkdocs gives the headings of Markdown `text` (with `slug` as toc's slugify)"
    return {slug(m.group(1)) for l in _md_lines(text) if (m := re.match(r'\s*#{1,6}\s+(.+?)\s*#*\s*$', l))}

def fix_anchors(docs_dir):
    """Links to an anchor no page has (nbdev links every backticked name of its index, also private functions and
    methods, which get no show_doc entry) go to the nearest documented entry: `Ensemble.from_snapshots` to
    `Ensemble`; a name with no entry at all keeps its text without the link. Returns {page: n links changed}."""
    docs_dir = Path(docs_dir)
    texts = {p.stem: p.read_text(encoding='utf-8') for p in docs_dir.glob('*.md')}
    ids = {k: heading_ids(t) for k, t in texts.items()}
    changed = {}
    for page, text in texts.items():
        n = 0
        def fix(m):
            nonlocal n
            tgt = Path(m.group('page') or f'{page}.md').stem
            if tgt not in ids: return m.group(0)
            frag = m.group('frag')
            while frag and frag not in ids[tgt]: frag = frag.rpartition('.')[0]
            if frag == m.group('frag'): return m.group(0)
            n += 1
            return f'[{m.group(1)}]({tgt}.md#{frag})' if frag else m.group(1)
        new = _re_mdlink.sub(fix, text)
        if n: (docs_dir/f'{page}.md').write_text(new, encoding='utf-8'); changed[page] = n
    return changed

# ---------------------------------------------------------------- step 3: mkdocs-material

def _mkdocs_config(src_dir, site_dir, nav, cfg):
    return {
        'site_name': cfg.get('title', cfg.lib_name), 'site_description': cfg.get('description', ''),
        'docs_dir': str(src_dir/'docs'), 'site_dir': str(site_dir), 'use_directory_urls': False,
        'nav': [{t: f'{p}.md'} for p, t in nav], 'strict': False,
        'theme': {'name': 'material', 'font': False,      # no Google Fonts: the site works offline
                  'features': ['navigation.top', 'search.highlight', 'search.suggest', 'content.code.copy', 'toc.follow'],
                  'palette': {'primary': 'indigo'}},
        'extra_css': ['extra.css'],
        'plugins': ['search'],
        'markdown_extensions': [
            'tables', 'admonition', 'attr_list', 'md_in_html', 'def_list', 'footnotes',
            {'toc': {'permalink': True, 'slugify': lambda value, separator: slug(value, separator), 'toc_depth': 3}},
            'pymdownx.details', {'pymdownx.highlight': {'anchor_linenums': False}}, 'pymdownx.inlinehilite',
            'pymdownx.superfences', 'pymdownx.tasklist', {'pymdownx.arithmatex': {'generic': True}}],
        'validation': {'links': {'anchors': 'ignore', 'unrecognized_links': 'ignore'}},
    }

def build(out=ROOT/'_site', execute=(), n_workers=2, timeout=None, quiet=False, proc=PROC):
    "Process, convert and render every notebook; return the site folder"
    from nbdev.config import get_config
    cfg = get_config(ROOT)
    out, t0 = Path(out).resolve(), time.time()
    nbs = notebooks()
    execute = {p.stem for p in nbs} if execute == 'all' else set(execute)
    unknown = execute - {p.stem for p in nbs}
    if unknown: raise SystemExit(f'--execute: no such notebook(s): {sorted(unknown)}')
    proc = Path(proc).resolve()
    print(f'processing {len(nbs)} notebooks ({len(execute)} executed) into {proc}/', flush=True)
    procs = process_notebooks(nbs, proc, execute=execute, n_workers=n_workers, timeout=timeout or int(cfg.get('cell_timeout', 300)))
    t1 = time.time()
    src_dir = proc/'_mkdocs'
    docs = src_dir/'docs'
    docs.mkdir(parents=True)
    shutil.copy(Path(__file__).with_name('extra.css'), docs/'extra.css')
    pages = {page_name({**_nb_json(p), '_path': str(p)}) for p in procs}
    doc_url = f"{cfg.doc_host.rstrip('/')}/{cfg.doc_baseurl.strip('/')}".rstrip('/')
    nav = [notebook_to_markdown(p, docs, doc_url, pages) for p in procs]
    if (fixed := fix_anchors(docs)): print(f'  links to undocumented names redirected or unlinked: {fixed}')
    from mkdocs.commands.build import build as mk_build
    from mkdocs.config import load_config
    import logging
    (src_dir/'mkdocs.yml').write_text('# generated by docs/build.py; the real config is docs/build.py:_mkdocs_config\n')
    conf = load_config(str(src_dir/'mkdocs.yml'), **_mkdocs_config(src_dir, out, nav, cfg))
    logging.getLogger('mkdocs').setLevel(logging.ERROR if quiet else logging.WARNING)
    os.environ.setdefault('NO_MKDOCS_2_WARNING', '1')
    if out.exists(): shutil.rmtree(out)
    mk_build(conf)
    (out/'.nojekyll').touch()
    print(f'site in {out} ({time.time()-t0:.0f}s: notebooks {t1-t0:.0f}s, render {time.time()-t1:.0f}s)', flush=True)
    return out

# ---------------------------------------------------------------- checks

class _Links(HTMLParser):
    "ids, links (href/src) and heading ids of one HTML page"
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.ids, self.links, self.headings, self.imgs = set(), [], set(), []
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for k in ('id', 'name'):
            if a.get(k) and (k == 'id' or tag == 'a'): self.ids.add(a[k])
        if tag in ('h1', 'h2', 'h3', 'h4', 'h5', 'h6') and a.get('id'): self.headings.add(a['id'])
        for k in ('href', 'src'):
            if a.get(k) is not None and tag in ('a', 'link', 'img', 'script', 'source', 'iframe', 'embed', 'video', 'audio'):
                self.links.append((tag, k, a[k]))
        if tag == 'img': self.imgs.append(a.get('src'))

def _parse(p):
    x = _Links(); x.feed(Path(p).read_text(encoding='utf-8', errors='replace')); return x

def _is_external(u):
    s = urlsplit(u)
    return bool(s.scheme) or u.startswith('//')

def check_links(site):
    "Problems with internal links of every HTML page of `site`: missing files, missing anchors, missing images"
    site = Path(site).resolve()
    pages = {p: _parse(p) for p in site.rglob('*.html')}
    probs = []
    for p, x in pages.items():
        rel = p.relative_to(site)
        for tag, attr, u in x.links:
            if tag == 'img' and not u.strip(): probs.append(f'{rel}: <img> without src'); continue
            if _is_external(u): continue
            s = urlsplit(u)
            if not s.path and not s.fragment: continue           # href="" or "?q"
            base = site if s.path.startswith('/') else p.parent      # root-absolute (404.html): the site is the root
            tgt = (base/unquote(s.path.lstrip('/'))).resolve() if s.path else p
            if s.path.endswith('/') or tgt.is_dir(): tgt = tgt/'index.html'
            if site not in tgt.parents and tgt != site: probs.append(f'{rel}: {attr}="{u}" points outside the site'); continue
            if not tgt.exists(): probs.append(f'{rel}: {tag} {attr}="{u}": {tgt.relative_to(site)} does not exist'); continue
            if s.fragment and tgt.suffix == '.html' and tag == 'a':
                ids = pages[tgt].ids if tgt in pages else _parse(tgt).ids
                if unquote(s.fragment) not in ids: probs.append(f'{rel}: href="{u}": no id "{s.fragment}" in {tgt.relative_to(site)}')
    return probs

def check_site(site, nbs=NBS, lib=LIB):
    "Every problem of the built `site`: pages, API entries, search index, links, images (empty list: all good)"
    site = Path(site)
    probs = []
    nb_list = notebooks(nbs)
    # a page per notebook, named as nbdev names it (`nbpath2html`: `00_core.ipynb` -> `core.html`)
    from nbdev.config import nbpath2html
    page_of = {nb.stem: nbpath2html(nb).stem for nb in nb_list}
    for nb in nb_list:
        if not (site/f'{page_of[nb.stem]}.html').exists(): probs.append(f'no page {page_of[nb.stem]}.html for {nb.name}')
    # an entry (a heading whose id is the name's doc anchor) for every exported name, on its module's page
    mod_page = {m: page_of[nb.stem] for nb in nb_list if (m := default_exp(nb))}
    for mod, names in exported_names(lib).items():
        if mod not in mod_page: probs.append(f'module {mod} has no notebook'); continue
        f = site/f'{mod_page[mod]}.html'
        if not f.exists(): continue
        heads = _parse(f).headings
        for n in names:
            if slug(n) not in heads: probs.append(f'{mod}.{n}: no entry (heading id "{slug(n)}") in {f.name}')
    # search
    idx = site/'search'/'search_index.json'
    if not idx.exists(): probs.append('no search index (search/search_index.json)')
    else:
        locs = {d['location'].split('#')[0] for d in json.loads(idx.read_text())['docs']}
        for pn in page_of.values():
            if f'{pn}.html' not in locs and not (pn == 'index' and '' in locs): probs.append(f'{pn}.html is not in the search index')
    return probs + check_links(site)

# ---------------------------------------------------------------- browser

def _serve(site):
    "An HTTP server for `site` on 127.0.0.1 (a free port), in a thread; returns (server, base url)"
    import functools, http.server, threading
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *a): pass
    srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0), functools.partial(Quiet, directory=str(site)))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, f'http://127.0.0.1:{srv.server_address[1]}/'

def browser_unavailable():
    "Why the browser check cannot run here (None when it can)"
    for exe in ('chromium', 'chromedriver'):
        if not shutil.which(exe): return f'{exe} is not installed (Debian: apt-get install chromium chromium-driver)'
    try: import selenium  # noqa: F401
    except ImportError: return 'selenium is not installed (pip install -e ".[dev]")'

def browser_check(site, pages=('index.html', 'core.html'), shots=None, image_page=None, search='seed_everything'):
    """Load `pages` of `site` (served on 127.0.0.1) in headless Chromium; return (console errors, screenshots).
    Screenshots go to `shots` (default `site/_screenshots`); for `image_page` one shows its first image;
    one shows the search results for `search`."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    site = Path(site); shots = Path(shots or site/'_screenshots'); shots.mkdir(parents=True, exist_ok=True)
    o = webdriver.ChromeOptions()
    o.binary_location = shutil.which('chromium')
    for a in ('--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--window-size=1400,1000',
              '--hide-scrollbars', '--lang=en-US'): o.add_argument(a)
    o.set_capability('goog:loggingPrefs', {'browser': 'ALL'})
    srv, base = _serve(site)
    errors, saved = [], []
    drv = webdriver.Chrome(service=Service(shutil.which('chromedriver')), options=o)
    try:
        drv.set_page_load_timeout(60)
        def visit(page):
            drv.get(base + page); time.sleep(0.5)
            for e in drv.get_log('browser'):
                if e['level'] in ('SEVERE', 'ERROR'): errors.append(f"{page}: {e['message']}")
        for page in pages:
            visit(page)
            f = shots/f'{Path(page).stem}.png'; drv.save_screenshot(str(f)); saved.append(f)
            if page == pages[-1] and len(pages) > 1:      # the API page, scrolled to its first rendered entry
                drv.execute_script("document.querySelector('h3[id]')?.scrollIntoView()")
                time.sleep(0.3)
                f = shots/f'{Path(page).stem}_api.png'; drv.save_screenshot(str(f)); saved.append(f)
        if image_page:
            visit(image_page)
            if drv.execute_script("const i=document.querySelector('img.nb-image'); if(!i) return false;"
                                  " i.scrollIntoView({block:'center'}); return i.complete && i.naturalWidth>0"):
                time.sleep(0.3)
                f = shots/f'{Path(image_page).stem}_plot.png'; drv.save_screenshot(str(f)); saved.append(f)
            else: errors.append(f'{image_page}: no rendered image (img.nb-image) on the page')
        if search:       # the search box answers (mkdocs-material opens it for `?q=`; a web worker loads the index)
            visit(f'{pages[0]}?q={search}')
            for _ in range(60):
                if drv.find_elements(By.CSS_SELECTOR, '.md-search-result__item'): break
                time.sleep(0.25)
            else: errors.append(f'search for "{search}" showed no result')
            f = shots/'search.png'; drv.save_screenshot(str(f)); saved.append(f)
            for e in drv.get_log('browser'):
                if e['level'] in ('SEVERE', 'ERROR'): errors.append(f"search: {e['message']}")
    finally:
        drv.quit(); srv.shutdown()
    return errors, saved

# ---------------------------------------------------------------- command

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--out', default='_site', help='site folder (default: _site)')
    ap.add_argument('--execute', nargs='*', metavar='NOTEBOOK',
                    help='execute the notebooks first (all, or the ones named by stem, e.g. 11_interpret) to keep outputs')
    ap.add_argument('--proc', default=str(PROC), help="folder for nbdev's processed notebooks and the Markdown pages (default: _proc)")
    ap.add_argument('--workers', type=int, default=2, help='notebooks processed in parallel (default: 2)')
    ap.add_argument('--no-check', action='store_true', help='do not run check_site on the result')
    ap.add_argument('--browser', action='store_true', help='also load pages in headless Chromium (console errors, screenshots)')
    ap.add_argument('--check-only', action='store_true', help='do not build: check the site already in --out')
    a = ap.parse_args(argv)
    out = (Path.cwd()/a.out) if not Path(a.out).is_absolute() else Path(a.out)
    execute = () if a.execute is None else ('all' if a.execute == [] else a.execute)
    site = out if a.check_only else build(out, execute=execute, n_workers=a.workers, proc=a.proc)
    if a.no_check: return 0
    probs = check_site(site)
    if a.browser:
        if (why := browser_unavailable()): probs.append(f'browser check: {why}')
        else:
            img_page = next((f'{p.stem}.html' for p in sorted(site.glob('*.html')) if (site/f'{p.stem}_files').is_dir()), None)
            errs, shots = browser_check(site, image_page=img_page)
            probs += errs
            print('screenshots:', *[str(s) for s in shots], sep='\n  ')
    for p in probs: print('PROBLEM:', p)
    print(f'check_site: {len(probs)} problem(s)')
    return 1 if probs else 0

if __name__ == '__main__':
    # run as the module `build` (docs/ on sys.path), so that the spawned workers can import `_process_one`
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import build as _build
    sys.exit(_build.main())
