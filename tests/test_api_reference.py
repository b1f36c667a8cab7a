"""The site's library reference lists every public name of ``dnnkit``.

``book/api/<module>.md`` renders each module with Sphinx autodoc; every name in a module's
``__all__`` must have its entry (an ``id="dnnkit.<module>.<name>"`` anchor) on that page, or, for
a name a module re-exports (``dnnkit.diagnostics``), on the page of the module that defines it.
Uses the site built once for the browser and book tests (tests/browser_support.py).
"""

import pkgutil
import re
from importlib import import_module
from pathlib import Path

import browser_support
import pytest

import dnnkit

ROOT = Path(__file__).resolve().parents[1]
API = ROOT / "_build" / "html" / "book" / "api"


def _public_modules() -> list[str]:
    return sorted(
        info.name for info in pkgutil.iter_modules(dnnkit.__path__) if not info.name.startswith("_")
    )


def _anchors(page: Path) -> set[str]:
    return set(re.findall(r'id="([^"]+)"', page.read_text(encoding="utf-8")))


@pytest.fixture(scope="module")
def api_pages():
    build = browser_support.ensure_site_built()
    assert build.returncode == 0, f"jupyter-book build failed:\n{build.log}"
    return API


def _homes(module_name: str, name: str) -> list[str]:
    """Modules whose page may document ``name``: this one, and any other public module that
    lists the very same object in its ``__all__`` (a re-export documents it where it is defined).
    """
    obj = getattr(import_module(f"dnnkit.{module_name}"), name)
    homes = [module_name]
    for other in _public_modules():
        module = import_module(f"dnnkit.{other}")
        if other != module_name and name in getattr(module, "__all__", ()):
            if getattr(module, name) is obj:
                homes.append(other)
    return homes


def test_every_module_is_in_the_table_of_contents():
    toc = (ROOT / "_toc.yml").read_text()
    missing = [m for m in _public_modules() if f"file: book/api/{m}\n" not in toc]
    assert not missing, f"modules without an API page in _toc.yml: {missing}"


@pytest.mark.slow
@pytest.mark.parametrize("module_name", _public_modules())
def test_every_public_name_has_an_entry(api_pages, module_name):
    if module_name in ("layers", "models", "transfer"):
        pytest.importorskip("keras")
    module = import_module(f"dnnkit.{module_name}")
    page = api_pages / f"{module_name}.html"
    assert page.exists(), f"no API page for dnnkit.{module_name} (book/api/{module_name}.md)"
    assert f"module-dnnkit.{module_name}" in _anchors(page)
    names = getattr(module, "__all__", None)
    assert names, f"dnnkit.{module_name} has no __all__: its public names are not listed"
    missing = []
    for name in names:
        homes = _homes(module_name, name)
        if not any(f"dnnkit.{h}.{name}" in _anchors(api_pages / f"{h}.html") for h in homes):
            missing.append(f"{name} (looked on the pages of {homes})")
    assert not missing, f"dnnkit.{module_name}: no API entry for {missing}"


@pytest.mark.slow
def test_the_index_page_links_every_module(api_pages):
    index = (api_pages.parent / "api.html").read_text(encoding="utf-8")
    missing = [m for m in _public_modules() if f'href="api/{m}.html' not in index]
    assert not missing, f"book/api.md does not link {missing}"
