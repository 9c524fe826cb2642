"""The module import graph, read from the source by grimp (imports inside functions included):
no cycle between files, and no arrow pointing up the layers below.

Layers, lowest first — a module may import its own package and anything lower:
- `core`: tenancy, errors, time, events, tasks, database;
- the domain modules in DOMAIN order: their models, services, selectors, events and tasks;
  a module that must react to a higher one's change subscribes to that module's events in its
  `ready()` (see clinic/core/events.py), it never imports it;
- the HTTP toolkits (`api` auth/errors/pagination, `web` access/forms/templates);
- each module's presentation: `api.py`, `views.py`, `schemas.py`, `forms.py`, `urls.py`, ...;
  it may use other modules' services and selectors, never their presentation;
- the composition root (`clinic.urls`, `clinic.cli`, `clinic.wsgi`, `clinic.api.main`, demo
  loaders): wires everything together.
"""

from __future__ import annotations

import grimp
import pytest

# audit records who did what for every module (accounts included): lowest of the domain
DOMAIN = [
    "audit",
    "accounts",
    "directory",
    "scheduling",
    "care",
    "clinical",
    "billing",
    "notifications",
    "waitlist",
    "privacy",
]
PRESENTATION = {
    "api",
    "views",
    "schemas",
    "forms",
    "urls",
    "presenters",
    "templatetags",
    "pagination",
}
# a module's own command-line, demo data and management commands compose several modules
ENTRY_POINTS = {"cli", "demo", "generator", "management"}
COMPOSITION = {
    "clinic.urls",
    "clinic.cli",
    "clinic.wsgi",
    "clinic.settings",
    "clinic.api.main",
    "clinic.core.demo",
    "clinic.core.management",
}
TOOLKITS = {"api", "web"}
WEB_PAGES = {"clinic.web.views", "clinic.web.urls"}


@pytest.fixture(scope="module")
def graph():
    return grimp.build_graph("clinic", include_external_packages=False)


def _modules(graph) -> list[str]:
    return sorted(m for m in graph.modules if ".migrations" not in m)


def _layer(module: str) -> tuple[int, str]:
    """(rank, package) of a module; a higher rank may import a lower one."""
    parts = module.split(".")
    package = parts[1] if len(parts) > 1 else ""
    if any(module == c or module.startswith(c + ".") for c in COMPOSITION):
        return 40, "composition"
    if package in TOOLKITS:
        return (30, package) if module in WEB_PAGES else (20, package)
    if package == "core" or not package:
        return 0, "core"
    if package in DOMAIN:
        if len(parts) > 2 and parts[2] in ENTRY_POINTS:
            return 40, "composition"
        if len(parts) > 2 and (parts[2] in PRESENTATION or parts[2].endswith(("_api", "_views"))):
            return 30, package
        return 1 + DOMAIN.index(package), package
    if package == "locale":
        return 0, "core"
    raise AssertionError(f"{module}: add its package to the layers of {__file__}")


def test_no_import_cycle_between_files(graph):
    modules = set(_modules(graph))
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.find_modules_directly_imported_by(v) & modules:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in sorted(modules):
        if module not in index:
            visit(module)
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_no_upward_import(graph):
    upward = []
    for module in _modules(graph):
        rank, package = _layer(module)
        for imported in graph.find_modules_directly_imported_by(module):
            if ".migrations" in imported:
                continue
            other_rank, other_package = _layer(imported)
            if other_package == package and other_rank <= rank:
                continue
            if other_rank < rank and not (other_rank == 30 and rank == 30):
                continue
            if other_package == package and rank == other_rank:
                continue
            upward.append(f"{module} -> {imported}")
    assert not upward, "upward imports:\n" + "\n".join(upward)


def test_the_layers_are_real():
    # the check above is only as good as its classification
    assert _layer("clinic.scheduling.services") < _layer("clinic.care.services")
    assert _layer("clinic.care.views")[0] > _layer("clinic.billing.services")[0]
    assert _layer("clinic.api.auth")[0] < _layer("clinic.api.main")[0]
