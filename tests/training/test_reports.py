"""HTML run reports: a real segments run and a logged arrears report, opened and checked figure by figure."""

from __future__ import annotations

import base64
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from features.errors import ModelNotReady
from features.settings import DataSettings
from tests.conftest import make_tenant
from training import registry
from training.cli.reports import report_cmd
from training.reports import (
    EXPECTED_FIGURES,
    Figure,
    RunReport,
    render_report,
    write_folder_report,
    write_run_report,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class _Figures(HTMLParser):
    """Collects ``<figure data-artifact=...>`` names and the decoded bytes of their ``<img>``."""

    def __init__(self) -> None:
        super().__init__()
        self.figures: dict[str, bytes] = {}
        self.external: list[str] = []
        self._current: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "figure":
            self._current = a["data-artifact"]
        elif tag == "img":
            src = a.get("src", "")
            if not src.startswith("data:image/png;base64,"):
                self.external.append(src)
            elif self._current is not None:
                self.figures[self._current] = base64.b64decode(src.split(",", 1)[1])
        elif tag in {"script", "link"}:
            self.external.append(tag)


def read_figures(path: Path) -> _Figures:
    parser = _Figures()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


def assert_expected_figures(parsed: _Figures, kind: str) -> None:
    stems = {Path(name).stem: png for name, png in parsed.figures.items()}
    for prefix in EXPECTED_FIGURES[kind]:
        found = [png for stem, png in stems.items() if stem.startswith(prefix)]
        assert found, f"{kind} report lacks figure {prefix!r}; has {sorted(stems)}"
        assert all(png.startswith(PNG_MAGIC) and len(png) > 1000 for png in found), prefix
    assert parsed.external == [], "the report must be self-contained"


def test_render_flags_missing_figures_and_escapes():
    png = PNG_MAGIC + b"x" * 2000
    report = RunReport(
        run_id="r1",
        kind="arrears",
        metrics={"roc_auc": 0.8123456, "bad": float("nan")},
        params={"note": "<b>", "data_hash_bills": "abc"},
        figures=[Figure("report/roc.png", png), Figure("report/lift.png", png)],
        tables={"t.csv": pd.DataFrame({"a": range(50)})},
    )
    page = render_report(report, max_rows=5)
    assert report.missing_figures() == ["calibration", "grades"]
    assert "missing expected figures: calibration, grades" in page
    assert page.count("<img ") == 2 and "0.8123" in page and "&lt;b&gt;" in page
    assert "data_hash_bills" not in page and "first 5 of 50 rows" in page


@pytest.mark.slow
def test_segments_run_report_has_every_expected_figure(tmp_path: Path, mlflow_settings):
    from training.segments_job import SegmentsConfig, train_segments

    folder = tmp_path / "tenant"
    folder.mkdir()
    for name, df in make_tenant(n_customers=24, days=400).items():
        df.to_parquet(folder / f"{name}.parquet", index=False)
    data = DataSettings(data_dir=folder, var_dir=tmp_path / "var", tenant="t1")
    result = train_segments(data, mlflow_settings, config=SegmentsConfig(k_min=2, k_max=3, n_boot=0))

    path = write_run_report(result.run_id, mlflow_settings, tenant="t1")
    assert path == mlflow_settings.var_dir / "reports" / "t1" / f"{result.run_id}.html"
    parsed = read_figures(path)
    assert_expected_figures(parsed, "segments")
    assert write_run_report("segments@champion", mlflow_settings, tenant="t1") == path  # through the registry
    assert write_run_report(f"segments:{result.version}", mlflow_settings, tenant="t1") == path
    with pytest.raises(ModelNotReady, match="belongs to tenant 't1'"):  # another tenant cannot read it
        write_run_report(result.run_id, mlflow_settings, tenant="t2")
    with pytest.raises(ModelNotReady, match="champion"):  # nor resolve t1's champion
        write_run_report("segments@champion", mlflow_settings, tenant="t2")
    page = path.read_text(encoding="utf-8")
    assert "silhouette" in page and "segment_profiles.csv" in page and "missing expected" not in page


def test_arrears_report_figures_from_the_shared_plots(tmp_path: Path, mlflow_settings, monkeypatch):
    from training.plots.arrears import write_arrears_report

    rng = np.random.default_rng(0)
    y = rng.random(400) < 0.3
    p = np.clip(0.3 + 0.4 * (y - 0.3) + rng.normal(0, 0.2, 400), 0.01, 0.99)
    grades = np.array(["A", "B", "C"])[np.digitize(p, [0.3, 0.6])]
    write_arrears_report(tmp_path / "figs", y.astype(int), p, grades, ["A", "B", "C"])
    reg = registry.open_registry(mlflow_settings, "t1")
    with reg.training_run("arrears", tags={}, params={"n": 400}) as run_id:
        reg.log_metrics({"roc_auc": 0.8})
        reg.log_artifacts(tmp_path / "figs", "report")

    out = tmp_path / "custom" / "arrears.html"
    assert write_run_report(run_id, mlflow_settings, out=out, tenant="t1") == out
    assert_expected_figures(read_figures(out), "arrears")
    assert len(read_figures(out).figures) == 4

    # the CLI command writes the default path from the environment's settings
    monkeypatch.setenv("METERWISE_VAR_DIR", str(mlflow_settings.var_dir))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_settings.tracking_uri)
    monkeypatch.setenv("METERWISE_TENANT", "t1")
    app = typer.Typer()
    app.command()(report_cmd)
    result = CliRunner().invoke(app, [run_id])
    assert result.exit_code == 0, result.output
    default = mlflow_settings.var_dir / "reports" / "t1" / f"{run_id}.html"
    assert result.output.rstrip().endswith(str(default))  # after any download progress bar
    assert_expected_figures(read_figures(default), "arrears")


def test_unknown_run_is_model_not_ready(mlflow_settings):
    with pytest.raises(ModelNotReady):
        write_run_report("0" * 32, mlflow_settings)
    with pytest.raises(ModelNotReady, match="champion"):
        write_run_report("arrears@champion", mlflow_settings)
    with pytest.raises(ValueError, match="expected <run-id>"):
        write_run_report("arrears@best", mlflow_settings)


def test_folder_report_for_a_job_to_log(tmp_path: Path):
    from training.plots.segments import plot_sizes

    plot_sizes({"low use": 5, "high use": 3}, None, tmp_path / "sizes.png")
    pd.DataFrame({"segment": ["low use"], "customers": [5]}).to_csv(tmp_path / "profiles.csv", index=False)
    path = write_folder_report(tmp_path, run_id="r9", kind="segments", metrics={"silhouette": 0.3})
    parsed = read_figures(path)
    assert list(parsed.figures) == ["sizes.png"] and parsed.figures["sizes.png"].startswith(PNG_MAGIC)
    page = path.read_text(encoding="utf-8")
    assert "missing expected figures: centroids" in page and "profiles.csv" in page


def test_common_helpers_draw_named_sizes_and_refuse_unknown_ones(tmp_path: Path):
    from training.plots import common

    fig, ax = common.new_figure("wide")
    assert tuple(fig.get_size_inches()) == common.SIZES["wide"]
    ax.plot([0, 1], [0, 1], color=common.color("champion"))
    path = common.save_png(fig, tmp_path / "deep" / "line.png")
    assert path.read_bytes().startswith(PNG_MAGIC)
    with pytest.raises(ValueError, match="size='huge'"):
        common.new_figure("huge")
    with pytest.raises(KeyError, match="role='nope'"):
        common.color("nope")
    table = pd.DataFrame([[1, 2], [3, np.nan]], index=["low", "high"], columns=["AAA", "C"])
    assert common.plot_heatmap(table, tmp_path / "h.png", title="t").stat().st_size > 1000
    frame = pd.DataFrame({"g": ["a", "a", "b"], "x": [1.0, 3.0, 5.0]})
    assert common.plot_group_means(frame, "g", ["x"], tmp_path / "g.png").exists()
    with pytest.raises(KeyError, match="missing_col"):
        common.plot_group_means(frame, "g", ["missing_col"], tmp_path / "bad.png")
