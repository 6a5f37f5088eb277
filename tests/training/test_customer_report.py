"""The customer report: views, alerts and the report page from a tenant on disk (I/O edges)."""

from __future__ import annotations

import pandas as pd
import pytest

from features.errors import UnknownCustomer
from features.settings import DataSettings
from training.alerts_job import alerts_dir, write_alerts
from training.customer_report import write_customer_report


@pytest.fixture
def data(tenant_dir, tmp_path, monkeypatch) -> DataSettings:
    monkeypatch.delenv("METERWISE_DATABASE_URL", raising=False)
    return DataSettings(tenant="t1", data_dir=tenant_dir, var_dir=tmp_path / "var")


def test_report_page_holds_the_key_facts_and_charts(data):
    path = write_customer_report(data, "C000")
    page = path.read_text()
    assert path.name == "customer_C000.html"
    assert "kWh over 365 days" in page and "load factor" in page and page.count("<img") >= 2


def test_report_of_an_unknown_customer_names_it(data):
    with pytest.raises(UnknownCustomer, match="NOPE"):
        write_customer_report(data, "NOPE")


def test_alert_list_is_written_with_latest(data):
    path, alerts = write_alerts(data, as_of=pd.Timestamp("2024-05-15"))
    assert path.exists() and (alerts_dir(data.var_dir, "t1") / "latest.parquet").exists()
    assert set(alerts.columns) >= {"customer_id", "kind", "level", "days_left"}
