"""Reliability fixtures: a 1,000-customer var/ folder (5 stale) and apps around the serving stubs
(built by :mod:`harness.service`, shared with ``benchmarks/reliability.py``)."""

from __future__ import annotations

import pytest
from harness.service import make_client, stub_settings, stub_store

from serving.model_store import ModelStore
from serving.settings import ServingSettings


@pytest.fixture(scope="module")
def rel_settings(tmp_path_factory) -> ServingSettings:
    return stub_settings(tmp_path_factory.mktemp("rel"))


@pytest.fixture(scope="module")
def rel_store(rel_settings: ServingSettings) -> ModelStore:
    return stub_store(rel_settings)


@pytest.fixture(scope="module")
def rel_client(rel_settings: ServingSettings, rel_store: ModelStore):
    with make_client(rel_settings, rel_store) as client:
        yield client
