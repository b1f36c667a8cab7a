"""Test-suite wiring: keep work that shares state on one pytest-xdist worker.

`make test` runs `pytest -n 2 --dist loadgroup`. Tests in one `xdist_group` run on the same
worker, one after the other; everything else is spread freely. Grouped here:
- the cells of one notebook run by nbval (they share one kernel);
- the site build and the browser checks of the built site (one `_build/html`).
"""

import pytest

SITE_MODULES = {"test_book.py", "test_site.py"}


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.get_closest_marker("xdist_group"):
            continue
        path = item.path
        if path.suffix == ".ipynb":
            item.add_marker(pytest.mark.xdist_group(f"nbval-{path.stem}"))
        elif path.name in SITE_MODULES:
            item.add_marker(pytest.mark.xdist_group("site"))
