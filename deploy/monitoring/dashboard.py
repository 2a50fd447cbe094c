"""The Sguardo Grafana dashboard, as code (grafana-foundation-sdk, Grafana 11.x).

    python deploy/monitoring/dashboard.py --output deploy/monitoring/grafana/sguardo.json
    python deploy/monitoring/dashboard.py --check     # exit 1 if the committed JSON is stale

The JSON is committed so Grafana provisioning needs no Python; a test keeps it in sync and
another runs every query against a real Prometheus scraping a real service.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from grafana_foundation_sdk.builders import bargauge, stat, table, timeseries
from grafana_foundation_sdk.builders.common import ReduceDataOptions, VizLegendOptions
from grafana_foundation_sdk.builders.dashboard import (
    Dashboard,
    DatasourceVariable,
    QueryVariable,
    Row,
)
from grafana_foundation_sdk.builders.prometheus import Dataquery
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.common import (
    BigValueGraphMode,
    BigValueTextMode,
    LegendDisplayMode,
    LegendPlacement,
)
from grafana_foundation_sdk.models.dashboard import (
    DataSourceRef,
    VariableRefresh,
    VariableSort,
)
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

COMMITTED = Path(__file__).resolve().parent / "grafana" / "sguardo.json"
UID = "sguardo-service"
DATASOURCE = DataSourceRef(type_val="prometheus", uid="${datasource}")
# Every service query is narrowed by the job and instance pickers; "All" is the regex below.
ALL = ".+"
S = 'job=~"$job",instance=~"$instance"'
NIGHTLY = 'job="sguardo-nightly"'
# Scrapes and probes would drown the API in the request panels.
API = 'endpoint!~"/metrics|/healthz|/readyz"'
RATE = "[$__rate_interval]"

AnyPanel = timeseries.Panel | stat.Panel | table.Panel | bargauge.Panel


def query(expr: str, legend: str = "", ref: str = "A") -> Dataquery:
    target = Dataquery().expr(expr).legend_format(legend or "__auto").ref_id(ref)
    return target.datasource(DATASOURCE)


def quantile(q: float, metric: str, by: str, selector: str = S) -> str:
    return f"histogram_quantile({q}, sum by ({by}, le) (rate({metric}_bucket{{{selector}}}{RATE})))"


def graph(
    title: str, unit: str, description: str, *targets: Dataquery, width: int = 12
) -> timeseries.Panel:
    panel = (
        timeseries.Panel()
        .title(title)
        .description(description)
        .unit(unit)
        .datasource(DATASOURCE)
        .height(8)
        .span(width)
        .legend(
            VizLegendOptions()
            .show_legend(True)
            .display_mode(LegendDisplayMode.TABLE)
            .placement(LegendPlacement.BOTTOM)
            .calcs(["lastNotNull", "max"])
        )
    )
    for ref, target in zip("ABCDEFGH", targets, strict=False):
        panel = panel.with_target(target.ref_id(ref))
    return panel


def single(
    title: str, unit: str, description: str, target: Dataquery, *, text_name: bool = False
) -> stat.Panel:
    return (
        stat.Panel()
        .title(title)
        .description(description)
        .unit(unit)
        .datasource(DATASOURCE)
        .height(5)
        .span(6)
        .graph_mode(BigValueGraphMode.AREA)
        .text_mode(BigValueTextMode.NAME if text_name else BigValueTextMode.AUTO)
        .reduce_options(ReduceDataOptions().calcs(["lastNotNull"]).values(False))
        .with_target(target)
    )


def info_table(title: str, description: str, expr: str, width: int = 12) -> table.Panel:
    target = query(expr).instant().format(PromQueryFormat.TABLE)
    return (
        table.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .height(5)
        .span(width)
        .with_target(target)
    )


def traffic() -> list[AnyPanel]:
    ratio_5xx = (
        f'sum by (endpoint) (rate(sguardo_requests_total{{{S},{API},status=~"5.."}}{RATE})'
        f" or 0 * rate(sguardo_requests_total{{{S},{API}}}{RATE}))"
        f" / sum by (endpoint) (rate(sguardo_requests_total{{{S},{API}}}{RATE}))"
    )
    latency = "sguardo_request_duration_seconds"
    return [
        graph(
            "Requests per second by endpoint",
            "reqps",
            "Every HTTP request, by route template.",
            query(f"sum by (endpoint) (rate(sguardo_requests_total{{{S}}}{RATE}))", "{{endpoint}}"),
        ),
        graph(
            "Responses by status",
            "reqps",
            "API responses (probes and scrapes excluded) by HTTP status.",
            query(
                f"sum by (status) (rate(sguardo_requests_total{{{S},{API}}}{RATE}))", "{{status}}"
            ),
        ),
        graph(
            "5xx ratio by endpoint",
            "percentunit",
            "Share of API requests answered with a 5xx; 0 when none failed.",
            query(ratio_5xx, "{{endpoint}}"),
        ),
        graph(
            "Latency by endpoint (p50, p95, p99)",
            "s",
            "Request latency quantiles from the histogram, per route template.",
            query(quantile(0.5, latency, "endpoint", f"{S},{API}"), "{{endpoint}} p50"),
            query(quantile(0.95, latency, "endpoint", f"{S},{API}"), "{{endpoint}} p95"),
            query(quantile(0.99, latency, "endpoint", f"{S},{API}"), "{{endpoint}} p99"),
        ),
        graph(
            "SLO burn rate over 1 h (/search, /embed)",
            "x",
            "Error budget burn rate from the recording rules (all replicas): 1 spends the "
            "30-day budget in 30 days; the fast-burn alerts page at 14.4.",
            query("endpoint:sguardo_requests_errors:ratio_rate1h / 0.001", "{{endpoint}} 5xx"),
            query("endpoint:sguardo_requests_slow:ratio_rate1h / 0.01", "{{endpoint}} > 1 s"),
            width=24,
        ),
    ]


def batching() -> list[AnyPanel]:
    batch = "sguardo_batch_size"
    return [
        graph(
            "Rows per inference (mean, p95)",
            "short",
            "How many items the dynamic batcher groups into one encoder call, per tower.",
            query(
                f"sum by (tower) (rate({batch}_sum{{{S}}}{RATE}))"
                f" / sum by (tower) (rate({batch}_count{{{S}}}{RATE}))",
                "{{tower}} mean",
            ),
            query(quantile(0.95, batch, "tower"), "{{tower}} p95"),
            width=8,
        ),
        graph(
            "Queue depth",
            "short",
            "Items waiting for the encoder (fullest replica) and the queue's bound: beyond it, "
            "503 with Retry-After.",
            query(f"max by (tower) (sguardo_queue_depth{{{S}}})", "{{tower}} waiting"),
            query(f"max by (tower) (sguardo_queue_capacity{{{S}}})", "{{tower}} capacity"),
            width=8,
        ),
        graph(
            "Rejected requests by reason",
            "reqps",
            "Requests refused before any work: full queues, unauthorised, too large.",
            query(
                f"sum by (reason) (rate(sguardo_rejected_requests_total{{{S}}}{RATE}))",
                "{{reason}}",
            ),
            width=8,
        ),
    ]


def backends() -> list[AnyPanel]:
    encoder, store = "sguardo_encoder_duration_seconds", "sguardo_store_duration_seconds"
    return [
        graph(
            "Encoder latency per batch (p50, p99)",
            "s",
            "One inference call (a whole batch), per tower.",
            query(quantile(0.5, encoder, "tower"), "{{tower}} p50"),
            query(quantile(0.99, encoder, "tower"), "{{tower}} p99"),
        ),
        graph(
            "Vector store latency (p50, p99)",
            "s",
            "One vector store call, per operation.",
            query(quantile(0.5, store, "operation"), "{{operation}} p50"),
            query(quantile(0.99, store, "operation"), "{{operation}} p99"),
        ),
    ]


def index_and_model() -> list[AnyPanel]:
    return [
        single(
            "Indexed images",
            "short",
            "Points in the collection behind each alias (largest replica's view).",
            query(f"max by (alias) (sguardo_collection_points{{{S}}})", "{{alias}}"),
        ),
        single(
            "Ready replicas",
            "short",
            "Replicas whose /readyz answers ready.",
            query(f"sum(sguardo_ready{{{S}}})", "ready"),
        ),
        info_table(
            "Collection behind the alias",
            "The physical collection and the bundle that built it; it must match the model.",
            f"max by (instance, alias, collection, bundle_id) (sguardo_collection_info{{{S}}})",
        ),
        info_table(
            "Loaded model",
            "The bundle each replica serves and the execution providers really active.",
            "max by (instance, bundle_id, model_id, precision, backend, providers)"
            f" (sguardo_model_info{{{S}}})",
            width=24,
        ),
    ]


def retraining() -> list[AnyPanel]:
    return [
        single(
            "Since the last successful retraining",
            "s",
            "Pushed by the nightly pipeline; the alert fires at 36 h.",
            query(
                f"time() - max(sguardo_retrain_last_success_timestamp_seconds{{{NIGHTLY}}})",
                "age",
            ),
        ),
        single(
            "Last run's decision",
            "none",
            "promoted, rejected (by the gate) or failed.",
            query(
                f"max by (decision) (sguardo_retrain_decision{{{NIGHTLY}}}) == 1", "{{decision}}"
            ),
            text_name=True,
        ),
        single(
            "Last run's duration",
            "s",
            "Wall time of the last nightly run.",
            query(f"max(sguardo_retrain_duration_seconds{{{NIGHTLY}}})", "duration"),
        ),
        single(
            "Since the last run",
            "s",
            "Successful or not.",
            query(f"time() - max(sguardo_retrain_last_run_timestamp_seconds{{{NIGHTLY}}})", "age"),
        ),
        bargauge.Panel()
        .title("Candidate vs current model")
        .description("The gate's evaluation metrics of the last run, for both models.")
        .datasource(DATASOURCE)
        .unit("percentunit")
        .min(0)
        .max(1)
        .height(8)
        .span(24)
        .reduce_options(ReduceDataOptions().calcs(["lastNotNull"]).values(False))
        .with_target(
            query(
                f"max by (metric, model) (sguardo_retrain_metric{{{NIGHTLY}}})",
                "{{metric}} {{model}}",
            )
        ),
    ]


def variables() -> list[DatasourceVariable | QueryVariable]:
    def picker(name: str, expr: str) -> QueryVariable:
        return (
            QueryVariable(name)
            .label(name)
            .datasource(DATASOURCE)
            .query(expr)
            .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
            .sort(VariableSort.ALPHABETICAL_ASC)
            .multi(True)
            .include_all(True)
            .all_value(ALL)
        )

    return [
        DatasourceVariable("datasource").label("Prometheus").type("prometheus"),
        picker("job", "label_values(sguardo_requests_total, job)"),
        picker("instance", 'label_values(sguardo_requests_total{job=~"$job"}, instance)'),
    ]


ROWS = {
    "Traffic and SLOs": traffic,
    "Batching": batching,
    "Encoder and vector store": backends,
    "Index and model": index_and_model,
    "Nightly retraining": retraining,
}


def build() -> Dashboard:
    dashboard = (
        Dashboard("Sguardo")
        .uid(UID)
        .description("Sguardo: requests, SLOs, batching, backends, index, model, retraining.")
        .tags(["sguardo", "generated"])
        .refresh("30s")
        .time("now-3h", "now")
        .timezone("browser")
        .editable()
    )
    for variable in variables():
        dashboard = dashboard.with_variable(variable)
    # Stable ids: Grafana keys panel links and row collapsing on them.
    panel_id = 0
    for title, panels in ROWS.items():
        panel_id += 1
        dashboard = dashboard.with_row(Row(title).id(panel_id))
        for panel in panels():
            panel_id += 1
            dashboard = dashboard.with_panel(panel.id(panel_id))
    return dashboard


def render() -> str:
    return JSONEncoder(sort_keys=True, indent=2).encode(build().build()) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, help="write the dashboard JSON here")
    parser.add_argument("--check", action="store_true", help=f"compare with {COMMITTED.name}")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        if COMMITTED.read_text() != text:
            print(f"{COMMITTED} is stale: run {Path(__file__).name} --output {COMMITTED}")
            return 1
        return 0
    if args.output:
        args.output.write_text(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
