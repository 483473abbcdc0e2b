"""The documentation site builds and renders: headless Chromium opens the index and two pages, every image they
show resolves to a file of _site/ (or is embedded), and no cell output holds a Python traceback.

Not part of `make test` (marked `docs`): run it with `make docs-test`, or
`.venv/bin/python -m pytest -m docs tests/test_docs.py`. It needs the packages of requirements-docs.txt and
Chromium (`apt-get install -y chromium`), and is skipped with the reason when either is missing. The first build
executes the library notebooks (minutes); later builds reuse them from _build/executed/.
"""
import base64, html.parser, importlib.util, os, shutil, subprocess, sys, tempfile, time
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / '_site'
CHROMIUM = shutil.which('chromium') or shutil.which('chromium-browser')
PAGES = ['index.html', 'results/09_ood.html', 'api/02_data.html']  # the front page, a results page, an API page

pytestmark = [
    pytest.mark.docs,
    pytest.mark.skipif(CHROMIUM is None, reason='needs Chromium: apt-get install -y chromium'),
    pytest.mark.skipif(any(importlib.util.find_spec(m) is None for m in ('mkdocs', 'material', 'mkdocs_jupyter')),
                       reason='needs the docs packages: pip install -r requirements-docs.txt (make docs installs them)'),
]


class Images(html.parser.HTMLParser):
    "The src of every <img> of a page."
    def __init__(self):
        super().__init__(); self.srcs = []
    def handle_starttag(self, tag, attrs):
        if tag == 'img': self.srcs.append(dict(attrs).get('src', ''))


@pytest.fixture(scope='module')
def site():
    start = time.time()
    run = subprocess.run([sys.executable, str(ROOT / 'docs' / 'build.py'), 'site'], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    print(f'docs build: {time.time() - start:.0f} s')
    return SITE


def rendered(page:Path):
    "The DOM of a page after Chromium has loaded it (scripts run), offline."
    profile = tempfile.mkdtemp()
    try:
        run = subprocess.run([CHROMIUM, '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
                              '--disable-component-update', '--disable-sync', '--no-first-run', f'--user-data-dir={profile}',
                              '--dump-dom', page.as_uri()], capture_output=True, text=True, timeout=120)
    finally: shutil.rmtree(profile, ignore_errors=True)
    assert run.returncode == 0, run.stderr[-2000:]
    return run.stdout


def check_images(dom:str, page:Path):
    "Every <img> of the page resolves to a file in the site (or is a decodable embedded image); returns how many."
    parser = Images(); parser.feed(dom)
    for src in parser.srcs:
        if src.startswith('data:image/'):
            header, _, data = src.partition(',')
            assert ';base64' in header and len(base64.b64decode(data)) > 100, f'{page.name}: empty embedded image'
            continue
        url = urlparse(src)
        assert url.scheme in ('', 'file'), f'{page.name}: image from outside the site: {src}'
        target = Path(unquote(url.path)) if url.scheme == 'file' else (page.parent / unquote(url.path)).resolve()
        assert target.is_file() and SITE.resolve() in target.resolve().parents, f'{page.name}: missing image {src}'
    return len(parser.srcs)


@pytest.mark.parametrize('name', PAGES)
def test_page_renders_with_its_figures(site, name):
    page = site / name
    dom = rendered(page)
    assert '<article' in dom and 'nirich-cgcnn' in dom  # the theme laid the page out
    n_images = check_images(dom, page)
    assert n_images >= (1 if name != 'api/02_data.html' else 0)
    assert 'Traceback (most recent call last)' not in dom


def test_every_page_has_its_images_and_no_traceback(site):
    "The same checks on the static HTML of every page (no browser): the whole site, not only three pages."
    pages = [p for p in site.rglob('*.html') if p.name != '404.html']
    assert len(pages) >= 40
    for page in pages:
        text = page.read_text()
        check_images(text, page)
        assert 'Traceback (most recent call last)' not in text, page
    for text in sorted((ROOT / 'docs' / 'results').glob('*.md')):  # each results page shows at least the figures its text names
        page = site / 'results' / f'{text.stem}.html'
        assert check_images(page.read_text(), page) >= text.read_text().count('!['), page
