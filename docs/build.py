"""Build the README and the documentation site from the notebooks, offline and without quarto.

    python docs/build.py readme            # README.md from nbs/index.ipynb (`make readme`)
    python docs/build.py site [--no-execute] [--allow-errors]   # _site/ with mkdocs-material + mkdocs-jupyter (`make docs`)

The site has one page per notebook of `nbs/` (API with docments, then the notebook's examples and their outputs,
executed here and cached in `_build/executed/` until the notebook or the package changes), one results page per
study notebook of `nbs/study/` (the text of `docs/results/<name>.md`, then the executed copy that `make study`
left in `figures/runs/`), and the pages of `docs/` (how-to guides and background). Links between notebooks, docs
pages and figures are written as paths in the repository; they are rewritten to the site's pages here.
"""
import argparse, ast, contextlib, copy, hashlib, importlib, io, json, os, re, shutil, subprocess, sys, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS, NBS, STUDY, RUNS, FIGURES = ROOT / 'docs', ROOT / 'nbs', ROOT / 'nbs' / 'study', ROOT / 'figures' / 'runs', ROOT / 'figures'
BUILD, SITE = ROOT / '_build', ROOT / '_site'
STAGE, EXECUTED = BUILD / 'docs', BUILD / 'executed'
SKIP_FLAGS = {'slow'}  # `tst_flags` of settings.ini: cells nbdev_test skips are not run for the docs either
HOWTO_ORDER = ['howto/screen.md', 'howto/train.md', 'howto/calculator.md', 'howto/active.md', 'howto/label.md',
               'howto/original.md', 'howto/defects.md', 'howto/voltage.md']
LINK = re.compile(r'(!?)\[((?:[^\[\]]|\[[^\]]*\])*)\]\(([^)\s]+)((?:\s+"[^"]*")?)\)')


# ---------------------------------------------------------------- notebooks
def read_nb(path): return json.loads(Path(path).read_text())

def source(cell): return ''.join(cell['source']) if isinstance(cell['source'], list) else cell['source']

def directives(cell):
    "The cell's `#| key: value` directives (dict) and its source without them."
    lines, found = source(cell).splitlines(), {}
    body = []
    for n, line in enumerate(lines):
        m = re.match(r'\s*#\|\s*([\w-]+):?\s*(.*)$', line)
        if m and all(re.match(r'\s*#\|', l) or not l.strip() for l in lines[:n]): found[m[1]] = m[2].strip()
        else: body.append(line)
    return found, '\n'.join(body).strip('\n')

def md_cell(text): return {'cell_type': 'markdown', 'metadata': {}, 'source': text}


# ---------------------------------------------------------------- links
def page_map():
    "Repository path -> path of its page (or copied file) in the staged site."
    pages = {NBS / 'index.ipynb': 'index.md'}
    for nb in sorted(NBS.glob('*.ipynb')):
        if nb.name != 'index.ipynb': pages[nb] = f'api/{nb.name}'
    for nb in sorted(STUDY.glob('*.ipynb')):
        pages[nb] = pages[DOCS / 'results' / f'{nb.stem}.md'] = f'results/{nb.name}'
        for run in RUNS.glob(f'{nb.stem}*.ipynb'): pages.setdefault(run, f'results/{nb.name}')
    for md in DOCS.rglob('*.md'): pages.setdefault(md, md.relative_to(DOCS).as_posix())
    for f in FIGURES.glob('*'):
        if f.is_file(): pages[f] = f'figures/{f.name}'
    return {p.resolve(): v for p, v in pages.items()}

def relative(target:str, page:str):
    "Link from staged page `page` to staged path `target`."
    return os.path.relpath(target, os.path.dirname(page) or '.').replace(os.sep, '/')

def rewrite_links(text:str, # markdown
                  origin:Path, # the repository file the text was written in (links are relative to it)
                  page:str|None, # the staged page it goes to; None: the README at the repository root
                  pages:dict, # from `page_map`
                  html:bool=False, # the page is a notebook: links to other pages must name their .html
                  unresolved:list|None=None): # collects links that point nowhere
    "Markdown with every relative link pointing where it should from `page` (or from the README)."
    def swap(m):
        bang, label, target, title = m.groups()
        if re.match(r'^[a-z]+:|^#|^/', target): return m[0]
        path, _, anchor = target.partition('#')
        resolved = (origin.parent / path).resolve()
        if page is None:  # the README: a path in the repository
            if not resolved.exists() and unresolved is not None: unresolved.append(f'{origin.name}: {target}')
            link = os.path.relpath(resolved, ROOT).replace(os.sep, '/')
        elif resolved in pages:
            staged = pages[resolved]
            if html and staged.endswith(('.md', '.ipynb')): staged = staged.rsplit('.', 1)[0] + '.html'
            link = relative(staged, page)
        else:
            if unresolved is not None: unresolved.append(f'{origin.relative_to(ROOT)}: {target}')
            return label if not bang else ''
        return f"{bang}[{label}]({link}{'#' + anchor if anchor else ''}{title})"
    return LINK.sub(swap, text)


# ---------------------------------------------------------------- README and the index page
def render_index(page:str|None, pages:dict, unresolved:list|None=None):
    "Markdown of nbs/index.ipynb: its markdown, visible code as code blocks, `output: asis` cells as their printed markdown."
    index = NBS / 'index.ipynb'
    parts, namespace, here = [], {}, Path.cwd()
    for cell in read_nb(index)['cells']:
        if cell['cell_type'] == 'markdown':
            parts.append(rewrite_links(source(cell), index, page, pages, unresolved=unresolved))
            continue
        d, code = directives(cell)
        if 'hide' in d: continue
        if d.get('echo', '').lower() != 'false': parts.append(f'```python\n{code}\n```')
        if d.get('eval', '').lower() == 'false': continue
        out = io.StringIO()
        try:
            os.chdir(NBS)
            with contextlib.redirect_stdout(out): exec(compile(code, str(index), 'exec'), namespace)
        finally: os.chdir(here)
        text = out.getvalue().strip('\n')
        if text: parts.append(text if d.get('output', '').lower() == 'asis' else f'```\n{text}\n```')
    return '\n\n'.join(p.strip('\n') for p in parts if p.strip()) + '\n'

README_NOTE = '<!-- Generated from nbs/index.ipynb by `make readme` (docs/build.py); edit the notebook, not this file. -->\n'

def readme_text(unresolved:list|None=None):
    "What README.md must hold."
    return README_NOTE + render_index(None, page_map(), unresolved)

def write_readme():
    unresolved = []
    text = readme_text(unresolved)
    if unresolved: sys.exit(f'README: links to files that do not exist: {unresolved}')
    (ROOT / 'README.md').write_text(text)
    print(f'wrote README.md ({len(text.encode())} bytes)')


# ---------------------------------------------------------------- executing library notebooks
def package_hash():
    h = hashlib.sha256()
    for f in sorted((ROOT / 'nirich_cgcnn').glob('*.py')): h.update(f.read_bytes())
    return h.hexdigest()[:16]

def execute_notebook(path:Path, dest:Path):
    "Run a notebook as nbdev_test does (same skipped cells, its folder as working directory) and save it with its outputs."
    from execnb.shell import CaptureShell
    from fastcore.xtras import working_directory
    from nbdev.frontmatter import FrontmatterProc
    from nbdev.process import NBProcessor
    os.environ['IN_TEST'] = '1'
    nb = NBProcessor(path, procs=FrontmatterProc, process=True).nb
    def skip(cell):
        if cell.cell_type != 'code': return True
        direc = getattr(cell, 'directives_', {}) or {}
        if direc.get('eval:', [''])[0].lower() == 'false': return True
        return SKIP_FLAGS & direc.keys()
    shell = CaptureShell(path)
    with working_directory(path.parent): shell.run_all(nb, exc_stop=False, preproc=skip)
    raw = read_nb(path)
    outputs = {c.get('id'): (c.get('outputs', []), c.get('execution_count')) for c in nb.cells if c.cell_type == 'code'}
    for cell in raw['cells']:
        if cell['cell_type'] == 'code' and cell.get('id') in outputs: cell['outputs'], cell['execution_count'] = outputs[cell['id']]
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(json.dumps(raw, indent=1, ensure_ascii=False, default=str))

def errors_in(nb:dict):
    "Descriptions of the error outputs of a notebook."
    return [f"cell {i}: {o.get('ename')}: {o.get('evalue', '')[:200]}" for i, c in enumerate(nb['cells'])
            for o in c.get('outputs', []) if o.get('output_type') == 'error']

def executed_copy(path:Path, execute:bool):
    "The notebook with its outputs (from the cache when neither it nor the package changed), and the seconds it took."
    if not execute: return read_nb(path), 0.0, False
    key = hashlib.sha256(path.read_bytes() + package_hash().encode()).hexdigest()[:16]
    cached = EXECUTED / f'{path.stem}.{key}.ipynb'
    if cached.exists(): return read_nb(cached), 0.0, True
    for old in EXECUTED.glob(f'{path.stem}.*.ipynb'): old.unlink()
    start = time.time()
    env = {**os.environ, 'OMP_NUM_THREADS': os.environ.get('OMP_NUM_THREADS', '1')}
    run = subprocess.run([sys.executable, __file__, 'execute', str(path), str(cached)], env=env, capture_output=True, text=True)
    if run.returncode != 0 or not cached.exists():
        raise SystemExit(f'{path.name}: could not be executed:\n{run.stderr[-3000:]}')
    return read_nb(cached), time.time() - start, False


# ---------------------------------------------------------------- API pages
def public_api(code:str, module):
    "Markdown of the public functions and classes a cell exports (signature, docments, docstring) and the source of its public constants."
    from nbdev.showdoc import show_doc
    try: tree = ast.parse(code)
    except SyntaxError: return ''
    parts, constants = [], []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef)) and not node.name.startswith('_') and hasattr(module, node.name):
            obj = getattr(module, node.name)
            if isinstance(obj, type) and issubclass(obj, Exception):  # an error class: its name and docstring, not `*args`
                parts.append(f"---\n\n### {node.name}\n\n`{node.name}({', '.join(b.__name__ for b in obj.__bases__)})`\n\n*{obj.__doc__ or ''}*")
                continue
            try: parts.append(show_doc(obj)._repr_markdown_().strip())
            except Exception:  # a default show_doc cannot compare (e.g. a NumPy array): signature and docstring only
                import inspect
                parts.append(f"---\n\n### {node.name}\n\n```python\n{node.name}{inspect.signature(obj)}\n```\n\n*{inspect.getdoc(obj) or ''}*")
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            names = [t.id for t in (node.targets if isinstance(node, ast.Assign) else [node.target]) if isinstance(t, ast.Name)]
            if any(not n.startswith('_') for n in names): constants.append(ast.get_source_segment(code, node))
    if constants: parts.insert(0, '```python\n' + '\n'.join(constants) + '\n```')
    return '\n\n'.join(parts)

def api_page(path:Path, nb:dict, pages:dict, unresolved:list, executed:bool=True):
    "A library notebook as a page: its text, the API of each exported cell, its examples with their outputs."
    cells, count = nb['cells'], 0
    exp = next((directives(c)[0].get('default_exp') for c in cells if c['cell_type'] == 'code' and 'default_exp' in directives(c)[0]), None)
    module = importlib.import_module(f'nirich_cgcnn.{exp}') if exp else None
    out, page = [], pages[path.resolve()]
    for cell in cells:
        if cell['cell_type'] == 'markdown':
            out.append(md_cell(rewrite_links(source(cell), path, page, pages, html=True, unresolved=unresolved)))
            continue
        if cell['cell_type'] != 'code': continue
        d, code = directives(cell)
        if 'hide' in d or 'default_exp' in d or not code.strip(): continue
        if 'export' in d or 'exports' in d:
            text = public_api(code, module) if module else ''
            if text: out.append(md_cell(text))
            continue
        cell = copy.deepcopy(cell)
        cell['source'] = code
        ran = d.get('eval', '').lower() != 'false' and not (SKIP_FLAGS & d.keys())
        if ran and executed: count += 1
        cell['execution_count'] = count if ran and executed else None  # `In [n]:` for the cells that ran here
        out.append(cell)
    return {**nb, 'cells': out}


# ---------------------------------------------------------------- results pages
def results_page(study:Path, pages:dict, unresolved:list):
    "A study notebook as a results page: docs/results/<name>.md, then its executed copies from figures/runs/ (or the notebook unexecuted)."
    page = pages[study.resolve()]
    narrative = DOCS / 'results' / f'{study.stem}.md'
    cells = [md_cell(rewrite_links(narrative.read_text(), narrative, page, pages, html=True, unresolved=unresolved))] if narrative.exists() else []
    runs = sorted(RUNS.glob(f'{study.stem}.ipynb')) or sorted(RUNS.glob(f'{study.stem}_*.ipynb'))
    if not runs:
        cells.append(md_cell(f'*Not run by `make study`; the notebook `nbs/study/{study.name}` follows without outputs.*'))
        runs = [study]
    for run in runs:
        nb = read_nb(run)
        if len(runs) > 1: cells.append(md_cell(f"## Run {run.stem.removeprefix(study.stem + '_')}\n\nThe executed copy `figures/runs/{run.name}`."))
        for cell in nb['cells']:
            cell = copy.deepcopy(cell)
            if cell['cell_type'] == 'markdown':  # written in nbs/study/: links are relative to it
                cell['source'] = rewrite_links(source(cell), study, page, pages, html=True, unresolved=unresolved)
            elif cell['cell_type'] == 'code':
                d, code = directives(cell)
                if 'hide' in d: continue
                cell['source'] = code
                if 'injected-parameters' in cell.get('metadata', {}).get('tags', []):
                    cell['source'] = '# parameters of this run (papermill)\n' + code
            cells.append(cell)
    return {'cells': cells, 'metadata': {'kernelspec': {'name': 'python3', 'display_name': 'Python 3', 'language': 'python'},
                                         'language_info': {'name': 'python'}}, 'nbformat': 4, 'nbformat_minor': 5}


# ---------------------------------------------------------------- the site
def title_of(nb:dict, fallback:str):
    first = next((source(c) for c in nb['cells'] if c['cell_type'] == 'markdown'), '')
    m = re.search(r'^#\s+(.+)$', first, re.M)
    return m[1].strip() if m else fallback

def md_title(path:Path):
    m = re.search(r'^#\s+(.+)$', path.read_text(), re.M)
    return m[1].strip() if m else path.stem

def write_nb(nb:dict, dest:Path):
    dest.parent.mkdir(parents=True, exist_ok=True)
    for cell in nb['cells']:
        if isinstance(cell.get('source'), list): cell['source'] = ''.join(cell['source'])
    dest.write_text(json.dumps(nb, indent=1, ensure_ascii=False))

def build_site(execute:bool=True, allow_errors:bool=False):
    import yaml
    start, pages, unresolved, failed, timings = time.time(), page_map(), [], [], {}
    shutil.rmtree(STAGE, ignore_errors=True); STAGE.mkdir(parents=True)
    (STAGE / 'index.md').write_text(render_index('index.md', pages, unresolved))
    nav_howto, nav_background = [], []
    for md in sorted(DOCS.rglob('*.md')):
        rel = md.relative_to(DOCS).as_posix()
        if rel.startswith('results/'): continue
        (STAGE / rel).parent.mkdir(parents=True, exist_ok=True)
        (STAGE / rel).write_text(rewrite_links(md.read_text(), md, rel, pages, unresolved=unresolved))
        (nav_howto if rel.startswith('howto/') else nav_background).append({md_title(md): rel})
    nav_howto.sort(key=lambda item: HOWTO_ORDER.index(next(iter(item.values()))) if next(iter(item.values())) in HOWTO_ORDER else 99)
    nav_api = []
    for path in sorted(NBS.glob('*.ipynb')):
        if path.name == 'index.ipynb': continue
        nb, seconds, cached = executed_copy(path, execute)
        timings[path.name] = 'cached' if cached else f'{seconds:.0f} s'
        failed += [f'{path.name} {e}' for e in errors_in(nb)]
        page = api_page(path, nb, pages, unresolved, executed=execute)
        write_nb(page, STAGE / pages[path.resolve()])
        nav_api.append({title_of(nb, path.stem): pages[path.resolve()]})
    nav_results = []
    for study in sorted(STUDY.glob('*.ipynb')):
        page = results_page(study, pages, unresolved)
        failed += [f'results/{study.name} {e}' for e in errors_in(page)]
        write_nb(page, STAGE / pages[study.resolve()])
        nav_results.append({title_of(page, study.stem): pages[study.resolve()]})
    (STAGE / 'figures').mkdir()
    for f in FIGURES.glob('*'):
        if f.is_file(): shutil.copy2(f, STAGE / 'figures' / f.name)
    config = yaml.safe_load((DOCS / 'mkdocs.yml').read_text())
    config.update(docs_dir=str(STAGE), site_dir=str(SITE), nav=[{'Home': 'index.md'}, {'How to': nav_howto}, {'Results': nav_results},
                                                                   {'Background': nav_background}, {'API': nav_api}])
    (BUILD / 'mkdocs.yml').write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True))
    print('notebooks:', ', '.join(f'{k} {v}' for k, v in timings.items()))
    if unresolved: print('links left as text (their target is not part of the site):\n  ' + '\n  '.join(unresolved))
    if failed:
        print('cells that raised:\n  ' + '\n  '.join(failed))
        if not allow_errors: sys.exit('docs: some cells raised (see above); fix them or pass --allow-errors')
    shutil.rmtree(SITE, ignore_errors=True)
    run = subprocess.run([sys.executable, '-m', 'mkdocs', 'build', '--quiet', '-f', str(BUILD / 'mkdocs.yml')], cwd=ROOT,
                         env={**os.environ, 'NO_MKDOCS_2_WARNING': '1'})
    if run.returncode: sys.exit(run.returncode)
    n_pages = len(list(SITE.rglob('*.html'))) - len(list(SITE.glob('404.html')))
    print(f'built {SITE.relative_to(ROOT)}/ ({n_pages} pages) in {time.time() - start:.0f} s; open {SITE.relative_to(ROOT)}/index.html')


def main(argv=None):
    p = argparse.ArgumentParser(prog='docs/build.py', description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest='command', required=True)
    sub.add_parser('readme', help='write README.md from nbs/index.ipynb')
    s = sub.add_parser('site', help='build _site/')
    s.add_argument('--no-execute', action='store_true', help='render the library notebooks without running their examples')
    s.add_argument('--allow-errors', action='store_true', help='build even if a cell raised')
    e = sub.add_parser('execute', help=argparse.SUPPRESS)
    e.add_argument('notebook'); e.add_argument('dest')
    a = p.parse_args(argv)
    if a.command == 'readme': write_readme()
    elif a.command == 'site': build_site(not a.no_execute, a.allow_errors)
    else: execute_notebook(Path(a.notebook).resolve(), Path(a.dest))


if __name__ == '__main__': main()
