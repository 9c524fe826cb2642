"""The OpenAPI document names each schema by its class name: two classes with one name overwrite
each other there (billing's and scheduling's `SettingsOut` did, so the billing settings operation
documented the scheduling settings body). Every schema the API uses has its own name."""

from __future__ import annotations

from collections import defaultdict

from ninja import Schema

from clinic.api.main import api


def _subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def test_schema_class_names_are_unique_across_modules():
    documented = set(api.get_openapi_schema()["components"]["schemas"])
    where = defaultdict(set)
    for cls in _subclasses(Schema):
        if cls.__module__.startswith("clinic.") and cls.__name__ in documented:
            where[cls.__name__].add(cls.__module__)
    clashes = {name: sorted(modules) for name, modules in where.items() if len(modules) > 1}
    assert not clashes, clashes
