from __future__ import annotations

import pytest

from tests.clinical.factories import setup_build


@pytest.fixture
def setup(owner_a, practitioner_a):
    return setup_build(owner_a, practitioner_a)
