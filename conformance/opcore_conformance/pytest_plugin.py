"""pytest integration: ``pytest --pyargs opcore_conformance --backend NAME``.

Registered as a ``pytest11`` entry point, so the options exist wherever the
suite is installed. Each (op, dtype binding) becomes one test item.
``--opcore-xfail PATH`` reads an xfail file (see ``opcore_conformance.xfail``):
its items that fail are reported as xfail, and those that pass fail (strict).
"""

from __future__ import annotations

from typing import Any


def pytest_addoption(parser: Any) -> None:
    group = parser.getgroup("opcore", "opcore conformance")
    group.addoption("--backend", action="store", default=None, help="opcore backend to check (default: numpy)")
    group.addoption("--opcore-ops", action="store", default=None, help="glob patterns of op names, comma-separated")
    group.addoption("--opcore-examples", action="store", type=int, default=None, help="Hypothesis cases per item")
    group.addoption("--opcore-xfail", action="store", default=None, help="xfail file: 'op dtype reason' lines")


def pytest_generate_tests(metafunc: Any) -> None:
    if "conformance_item" not in metafunc.fixturenames:
        return
    from opcore_conformance.runner import plan
    from opcore_conformance.xfail import load_xfail

    backend = metafunc.config.getoption("--backend") or "numpy"
    path = metafunc.config.getoption("--opcore-xfail")
    items = plan(backend, metafunc.config.getoption("--opcore-ops"), xfail=load_xfail(path) if path else ())
    metafunc.parametrize("conformance_item", items, ids=[i.id for i in items])
