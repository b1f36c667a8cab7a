"""The website as a reader meets it: every page of ``_toc.yml`` in headless Chromium.

The site is built when ``_build/html`` is missing or older than its sources (the same command
as ``make book``), served on 127.0.0.1, and every page is visited once (module fixture). Each
check below is then a separate test per page, so a failure names the page and the problem.

Offline: nothing may leave the machine. Every request to another host is aborted and recorded
(``test_page_loads_nothing_from_the_network``); the site must not need any to render, so
MathJax has to be served from the site itself, not from a CDN. The screenshots (full page) and
a JSON report with timings go to ``_build/screenshots/``.
"""

from __future__ import annotations

import contextlib
import html.parser
import json
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import unquote, urldefrag, urlsplit

import nbformat
import pytest
import yaml
from browser_support import (
    HTML,
    ROOT,
    SCREENSHOTS,
    ensure_site_built,
    launch_chromium,
    require_chromium,
    screenshot_path,
    serve_directory,
    site_build_lock,
    toc_pages,
)
from playwright.sync_api import TimeoutError as PlaywrightTimeout

pytestmark = pytest.mark.slow

PAGES = toc_pages()
CHAPTERS = [page for page in PAGES if re.match(r"book/0\d_", page)]
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
PAGE_TIMEOUT_MS = 60_000
MATHJAX_TIMEOUT_MS = 30_000

# Text that MathJax should have replaced: display or inline delimiters, environments, and an
# inline `$\command` that dollarmath did not turn into math.
RAW_MATH = r"\$\$|\\\(|\\\)|\\\[|\\\]|\\begin\{|\$\\[A-Za-z]"
# Markdown that reached the page as text: a table's separator row (smartquotes turn `---` into
# dashes), e.g. a `Markdown(...)` output rendered as CommonMark, which has no tables.
RAW_MARKDOWN = r"\|\s*:?(-{3,}|[\u2013\u2014]+):?\s*\|"

WAIT_FOR_MATHJAX = """async (timeout) => {
  const mj = window.MathJax;
  if (!mj) return "absent";                      // no math on the page: Sphinx adds no MathJax
  if (!mj.startup || !mj.startup.promise) return "not loaded";  // config only: script failed
  const expired = new Promise(r => setTimeout(() => r("timed out"), timeout));
  return Promise.race([mj.startup.promise.then(() => "rendered " + mj.version), expired]);
}"""

INSPECT_PAGE = """([rawMath, rawMarkdown]) => {
  const pattern = new RegExp(rawMath), markdown = new RegExp(rawMarkdown);
  const skip = "pre, code, script, style, textarea, mjx-container, .cell_input";
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const raw = [], rawMd = [];
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const el = n.parentElement;
    if (!el || el.closest(skip)) continue;
    const text = n.textContent.trim().replace(/\\s+/g, " ").slice(0, 160);
    if (pattern.test(n.textContent)) raw.push(text);
    if (markdown.test(n.textContent)) rawMd.push(text);
  }
  const mathErrors = Array.from(document.querySelectorAll("mjx-merror"))
    .map(e => e.getAttribute("data-mjx-error") || e.textContent);
  const images = Array.from(document.images);
  return {
    raw_math: raw,
    raw_markdown: rawMd,
    math_errors: mathErrors,
    typeset: document.querySelectorAll("mjx-container").length,
    broken_images: images.filter(i => !i.complete || i.naturalWidth === 0)
      .map(i => i.currentSrc || i.src || i.outerHTML.slice(0, 120)),
    plots: images.filter(i => i.closest(".cell_output") && i.naturalWidth > 0).length,
    links: Array.from(document.querySelectorAll("a[href]"))
      .map(a => ({href: a.href, raw: a.getAttribute("href"), cls: a.className,
                  text: a.textContent.trim()})),
  };
}"""


@dataclass
class PageReport:
    """What the browser saw on one page."""

    page: str
    url: str
    load_error: str = ""
    seconds: float = 0.0
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    failed_local: list[str] = field(default_factory=list)
    external: list[str] = field(default_factory=list)
    mathjax: str = ""
    raw_math: list[str] = field(default_factory=list)
    raw_markdown: list[str] = field(default_factory=list)
    math_errors: list[str] = field(default_factory=list)
    typeset: int = 0
    broken_images: list[str] = field(default_factory=list)
    plots: int = 0
    links: list[dict] = field(default_factory=list)
    screenshot: str = ""


def _is_local(url: str, base: str) -> bool:
    return url.startswith(base) or urlsplit(url).scheme in ("data", "blob", "about")


def _visit(context, base: str, page: str) -> PageReport:
    """Load ``page`` and collect everything the checks need; external requests are aborted."""
    report = PageReport(page=page, url=f"{base}{page}.html")
    tab = context.new_page()

    def route(r):
        if _is_local(r.request.url, base):
            r.continue_()
        else:
            report.external.append(f"{r.request.resource_type}: {r.request.url}")
            r.abort("internetdisconnected")

    def on_console(message):
        source = message.location.get("url", "") if message.location else ""
        if message.type == "error" and (not source or _is_local(source, base)):
            report.console_errors.append(message.text)

    def on_failed(request):
        if _is_local(request.url, base):
            report.failed_local.append(f"{request.url} ({request.failure})")

    def on_response(response):
        if response.status >= 400 and _is_local(response.url, base):
            report.failed_local.append(f"{response.url} (HTTP {response.status})")

    tab.route("**/*", route)
    tab.on("console", on_console)
    tab.on("pageerror", lambda error: report.page_errors.append(str(error)))
    tab.on("requestfailed", on_failed)
    tab.on("response", on_response)
    start = time.perf_counter()
    try:
        tab.goto(report.url, wait_until="load", timeout=PAGE_TIMEOUT_MS)
        report.mathjax = tab.evaluate(WAIT_FOR_MATHJAX, MATHJAX_TIMEOUT_MS)
        # Images outside the viewport may be lazy: make them load now, then let them finish.
        tab.evaluate("() => document.querySelectorAll('img').forEach(i => i.loading = 'eager')")
        tab.wait_for_function(
            "() => Array.from(document.images).every(i => i.complete)", timeout=PAGE_TIMEOUT_MS
        )
        for key, value in tab.evaluate(INSPECT_PAGE, [RAW_MATH, RAW_MARKDOWN]).items():
            setattr(report, key, value)
        shot = screenshot_path(f"site-{page.replace('/', '-')}")
        tab.screenshot(path=str(shot), full_page=True, timeout=PAGE_TIMEOUT_MS)
        report.screenshot = str(shot.relative_to(ROOT))
    except Exception as error:  # a page that cannot be loaded is reported, not fatal
        report.load_error = f"{type(error).__name__}: {error}"
    finally:
        report.seconds = round(time.perf_counter() - start, 2)
        tab.close()
    return report


@pytest.fixture(scope="module")
def site():
    """Build when stale, serve, visit every TOC page once; yield the reports by page."""
    require_chromium()
    build = ensure_site_built()
    with site_build_lock(exclusive=False), serve_directory(HTML) as base:
        with launch_chromium() as browser:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            start = time.perf_counter()
            reports = {page: _visit(context, base, page) for page in PAGES}
            index = context.new_page()
            index.goto(base, wait_until="load", timeout=PAGE_TIMEOUT_MS)
            with contextlib.suppress(PlaywrightTimeout):  # index.html redirects (meta refresh)
                index.wait_for_url(f"{base}{PAGES[0]}.html", timeout=15_000)
            landing = index.url
            total = time.perf_counter() - start
            context.close()
    summary = {
        "built_now": build.built,
        "build_seconds": round(build.seconds, 1),
        "browser_seconds": round(total, 2),
        "pages": {page: asdict(report) for page, report in reports.items()},
    }
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    (SCREENSHOTS / "site-report.json").write_text(json.dumps(summary, indent=1))
    print(f"\nsite: {len(reports)} pages in {total:.1f} s (build: {build.seconds:.0f} s)")
    for page, report in reports.items():
        print(f"  {report.seconds:6.2f} s  {page}  mathjax: {report.mathjax or '-'}")
    yield {"reports": reports, "build": build, "base": base, "landing": landing}


def _report(site, page) -> PageReport:
    report, build = site["reports"][page], site["build"]
    failed = build.built and build.returncode != 0
    assert (HTML / f"{page}.html").exists(), f"{page}.html was not built" + (
        " (the site build failed: see test_site_build_succeeded_if_this_test_ran_it)"
        if failed
        else ""
    )
    assert not report.load_error, f"{page} did not load: {report.load_error}"
    return report


# ---------------------------------------------------------------------------- site-wide


def test_site_build_succeeded_if_this_test_ran_it(site):
    build = site["build"]
    assert not build.built or build.returncode == 0, f"site build failed:\n{build.log}"


def test_root_url_lands_on_the_introduction(site):
    assert site["landing"] == f"{site['base']}{PAGES[0]}.html", site["landing"]


# ---------------------------------------------------------------------------- per page


@pytest.mark.parametrize("page", PAGES)
def test_page_has_no_console_or_page_errors(site, page):
    report = _report(site, page)
    assert not report.page_errors, f"{page}: uncaught errors in the page: {report.page_errors}"
    assert not report.console_errors, f"{page}: console errors: {report.console_errors}"


@pytest.mark.parametrize("page", PAGES)
def test_page_loads_every_local_resource(site, page):
    report = _report(site, page)
    assert not report.failed_local, f"{page}: local requests failed: {report.failed_local}"


@pytest.mark.parametrize("page", PAGES)
def test_page_loads_nothing_from_the_network(site, page):
    """Offline readers and the tests see the same page: no CDN, fonts or trackers.

    Sphinx loads MathJax from a CDN by default; the site must ship its own copy."""
    report = _report(site, page)
    assert not report.external, (
        f"{page} requests other hosts (aborted here): {report.external}. If this is MathJax, "
        "serve it with the site (e.g. the sphinx-mathjax-offline extension)."
    )


@pytest.mark.parametrize("page", PAGES)
def test_page_images_all_load(site, page):
    report = _report(site, page)
    assert not report.broken_images, f"{page}: images with no pixels: {report.broken_images}"


@pytest.mark.parametrize("page", PAGES)
def test_page_math_is_rendered_by_mathjax(site, page):
    report = _report(site, page)
    problems = []
    if report.mathjax not in ("absent",) and not report.mathjax.startswith("rendered"):
        external = [u for u in report.external if "mathjax" in u.lower()]
        problems.append(f"MathJax {report.mathjax}{f' (requested {external})' if external else ''}")
    if report.raw_math:
        problems.append(f"raw TeX left in the text: {report.raw_math[:5]}")
    if report.math_errors:
        problems.append(f"MathJax could not typeset: {report.math_errors[:5]}")
    assert not problems, f"{page}: " + "; ".join(problems)


@pytest.mark.parametrize("page", PAGES)
def test_page_has_no_unrendered_markdown(site, page):
    """A Markdown table printed by code must show as a table (myst-nb renders ``text/markdown``
    outputs as CommonMark, without tables, unless ``nb_render_markdown_format: myst``)."""
    report = _report(site, page)
    assert not report.raw_markdown, f"{page}: Markdown shown as text: {report.raw_markdown[:3]}"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_page_shows_a_plot(site, chapter):
    report = _report(site, chapter)
    assert report.plots >= 1, f"{chapter}: no plot (image in a cell output) on the page"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_page_has_typeset_equations(site, chapter):
    """Every chapter states its maths as equations (STYLE.md): some must be on the page."""
    report = _report(site, chapter)
    assert report.typeset >= 1, f"{chapter}: no typeset equation on the page"


class _Images(html.parser.HTMLParser):
    """The attributes of every ``<img>`` of a page."""

    def __init__(self):
        super().__init__()
        self.images: list[dict[str, str | None]] = []

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.images.append(dict(attrs))


IMAGE_FILE = re.compile(r"\.(png|svg|jpe?g|gif|webp)$", re.IGNORECASE)
ALT_MIN_WORDS = 4


def _alt_problem(alt: str | None, src: str | None) -> str:
    """Why an image's alt text does not describe it ("" when it does).

    Every image needs an alt text that is not a file name. Figures (the images Sphinx copies
    to ``_images/``: plots and other cell outputs) must also say what they show, which takes
    a few words; the theme's own icons (``_static/``, e.g. "Colab logo") need not."""
    text = (alt or "").strip()
    if not text:
        return "no alt text"
    if IMAGE_FILE.search(text) or "_images/" in text:
        return f"the alt text is a file name ({text!r})"
    figure = "_images/" in (src or "")
    if figure and len(text.split()) < ALT_MIN_WORDS:
        return f"the alt text is too short to say what the figure shows ({text!r})"
    return ""


@pytest.mark.parametrize("page", PAGES)
def test_page_images_have_descriptive_alt_text(site, page):
    """Every figure says what it shows (STYLE.md). myst-nb reads a plot's alt text from its code
    cell's metadata, ``"mystnb": {"image": {"alt": "..."}}``; without it Sphinx writes the
    image's file name (``_images/<hash>.png``) into the alt attribute."""
    _report(site, page)
    parser = _Images()
    parser.feed((HTML / f"{page}.html").read_text(errors="replace"))
    problems = [
        f"{image.get('src')}: {why}"
        for image in parser.images
        if (why := _alt_problem(image.get("alt"), image.get("src")))
    ]
    assert not problems, f"{page}: images without a descriptive alt text: {problems}"


class _Anchors(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name == "id" or (tag == "a" and name == "name"):
                self.ids.add(value)


_ANCHORS: dict[Path, set[str]] = {}


def _anchors(path: Path) -> set[str]:
    if path not in _ANCHORS:
        parser = _Anchors()
        parser.feed(path.read_text(errors="replace"))
        _ANCHORS[path] = parser.ids
    return _ANCHORS[path]


def _target_file(url: str, base: str) -> Path:
    path = HTML / unquote(urlsplit(url).path[len(urlsplit(base).path) :])
    return path / "index.html" if url.endswith("/") or path.is_dir() else path


@pytest.mark.parametrize("page", PAGES)
def test_page_internal_links_and_anchors_resolve(site, page):
    report, base = _report(site, page), site["base"]
    broken = []
    for link in report.links:
        url, fragment = urldefrag(link["href"])
        if not url.startswith(base):
            continue
        target = _target_file(url, base)
        if not target.is_file():
            broken.append(f"{link['raw']} -> missing {target.relative_to(HTML)}")
        elif fragment and target.suffix == ".html" and unquote(fragment) not in _anchors(target):
            broken.append(f"{link['raw']} -> no #{fragment} in {target.relative_to(HTML)}")
    assert not broken, f"{page}: broken internal links: {broken}"


def _colab_url(page: str) -> str:
    repository = urlsplit(CONFIG["repository"]["url"]).path.strip("/")
    colab = CONFIG["launch_buttons"]["colab_url"].rstrip("/")
    return f"{colab}/github/{repository}/blob/main/{page}.ipynb"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_has_a_colab_launch_link_to_its_notebook_on_main(site, chapter):
    report = _report(site, chapter)
    expected = _colab_url(chapter)
    colab = [link["href"] for link in report.links if "colab.research.google.com" in link["href"]]
    assert expected in colab, f"{chapter}: no Colab link to {expected}; Colab links: {colab}"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_has_a_download_link_for_its_ipynb(site, chapter):
    report, base = _report(site, chapter), site["base"]
    downloads = [
        link["href"]
        for link in report.links
        if "download" in link["cls"] and link["href"].endswith(".ipynb")
    ]
    expected = f"{base}_sources/{chapter}.ipynb"
    assert expected in downloads, f"{chapter}: no download link to {expected}: {downloads}"
    notebook = nbformat.read(_target_file(expected, base), as_version=4)
    nbformat.validate(notebook)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code and "DNNKIT_INSTALL_FROM" in code[0].source, (
        f"{chapter}: the downloaded notebook does not start with the Colab set-up cell"
    )


@pytest.mark.parametrize("page", PAGES)
def test_page_has_a_full_page_screenshot(site, page):
    report = _report(site, page)
    shot = ROOT / report.screenshot
    assert shot.is_file() and shot.stat().st_size > 10_000, f"{page}: no screenshot at {shot}"
