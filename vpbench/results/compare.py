"""Is model A really better than model B? A paired bootstrap over the test sequences both were scored on.

Two leaderboard numbers a few percent apart may be noise. Because every record stores one value per test
sequence, two models evaluated on the *same* clips (same dataset, source, protocol and test checksum) can be
compared sequence by sequence: resampling the per-sequence differences gives a confidence interval of the
mean difference and a p-value (the metric engine's `paired_bootstrap`). Records on different test sets are
refused, since a paired test between them means nothing. Pooled metrics (srvp-paper) have no per-sequence
values; their difference is shown without a test. `MODEL@STEPS` names one budget of a model, so a model can be
compared with itself at another budget ("did ten times the training help?").
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vpbench.errors import VpbenchError
from vpbench.results.columns import higher_is_better, prediction_metric
from vpbench.results.schema import Record
from vpbench.results.sections import CI_FIXTURE_PRESET, variant_label, variant_suffixes, within_budget
from vpbench.results.sequences import INDEX_KEY, SequenceCache, sequence_overall

SIGNIFICANCE = 0.05


@dataclass
class MetricComparison:
    convention: str
    metric: str
    higher_is_better: bool | None
    value_a: float
    value_b: float
    difference: float  # A - B, overall values as stored
    interval: tuple[float, float] | None = None  # 95% interval of the mean per-sequence difference A - B
    p_value: float | None = None  # two-sided, H0: no difference
    sequences: int = 0
    note: str = ""

    def verdict(self, model_a: str, model_b: str) -> str:
        if self.p_value is None:
            return self.note or "no test"
        if self.p_value >= SIGNIFICANCE or self.difference == 0 or self.higher_is_better is None:
            return f"no significant difference (p ≥ {SIGNIFICANCE})" if self.p_value >= SIGNIFICANCE else "—"
        a_better = (self.difference > 0) == self.higher_is_better
        return f"{model_a if a_better else model_b} better"


@dataclass
class Comparison:
    record_a: Record
    record_b: Record
    rows: list[MetricComparison] = field(default_factory=list)

    @property
    def labels(self) -> tuple[str, str]:
        """The two sides' names: the models, with their budgets (MODEL@STEPS) where two trained budgets differ
        or one model meets itself (a sanity predictor has no budget to show)."""
        a, b = self.record_a, self.record_b
        same_model = a.model.name == b.model.name
        if a.training.steps != b.training.steps and (same_model or (a.training.trained and b.training.trained)):
            return f"{a.model.name}@{a.training.steps}", f"{b.model.name}@{b.training.steps}"
        if not same_model:
            return a.model.name, b.model.name
        (label_a, _), (label_b, _) = self._variants
        return label_a, label_b

    @property
    def _variants(self) -> list[tuple[str, str]]:
        """(label, differences not in the label) of two runs of one model."""
        records = [self.record_a, self.record_b]
        return [variant_label(r, suffixes) for r, suffixes in zip(records, variant_suffixes(records), strict=True)]

    @property
    def title(self) -> str:
        a, (label_a, label_b) = self.record_a, self.labels
        title = (
            f"{label_a} vs {label_b} · {a.dataset.name} · data {a.dataset.source} · {a.protocol.name} · "
            f"{a.dataset.test_size} paired test sequences"
        )
        if a.model.name == self.record_b.model.name and label_a.startswith(f"{a.model.name}#"):
            title += "".join(f" · {label}: {differences}" for label, differences in self._variants)
        return title


def test_set(record: Record) -> tuple:
    """What makes two evaluations paired: the same clips, in the same order, under the same protocol."""
    data = record.dataset
    return (data.name, data.source, record.protocol.name, data.test_checksum, data.test_size)


def paired_statistics(values_a: np.ndarray, values_b: np.ndarray) -> tuple[tuple[float, float], float]:
    """95% interval of mean(A - B) and the two-sided p-value, from the metric engine's paired bootstrap."""
    from vpbench.metrics.stats import paired_bootstrap

    result = paired_bootstrap(values_a, values_b)
    return (float(result["low"]), float(result["high"])), float(result["p_value"])


def compare_records(
    record_a: Record,
    record_b: Record,
    results_dir: str | Path | None,
    conventions: Iterable[str] = (),
    metrics: Iterable[str] = (),
    sequences: SequenceCache | None = None,
) -> Comparison:
    """Per (convention, metric) present in both records: values, difference, interval and p-value."""
    if test_set(record_a) != test_set(record_b):
        raise VpbenchError(
            f"{record_a.record_id} and {record_b.record_id} were evaluated on different test sets; "
            "a paired test needs the same dataset, source, protocol and test clips"
        )
    sequences = sequences or SequenceCache(results_dir)
    wanted_conventions, wanted_metrics = list(conventions), list(metrics)
    comparison = Comparison(record_a, record_b)
    for convention in record_a.metrics:
        if convention not in record_b.metrics or (wanted_conventions and convention not in wanted_conventions):
            continue
        overall_a = record_a.metrics[convention]["overall"]
        overall_b = record_b.metrics[convention]["overall"]
        for metric in overall_a:
            if metric not in overall_b or (wanted_metrics and metric not in wanted_metrics):
                continue
            comparison.rows.append(_compare_metric(record_a, record_b, convention, metric, sequences))
    if not comparison.rows:
        raise VpbenchError(
            f"{record_a.model.name} and {record_b.model.name} share no metric for the chosen convention/metric; "
            f"conventions stored: {', '.join(record_a.metrics)}"
        )
    return comparison


def _compare_metric(
    record_a: Record, record_b: Record, convention: str, metric: str, sequences: SequenceCache
) -> MetricComparison:
    value_a = float(record_a.metrics[convention]["overall"][metric])
    value_b = float(record_b.metrics[convention]["overall"][metric])
    row = MetricComparison(convention, metric, higher_is_better(metric), value_a, value_b, value_a - value_b)
    per_a = sequences.values(record_a, convention, metric)
    per_b = sequences.values(record_b, convention, metric)
    if per_a is None or per_b is None:
        row.note = "pooled metric, no per-sequence values" if per_a is None and per_b is None else "values missing"
        return row
    indices_a = sequences.arrays(record_a).get(INDEX_KEY)
    indices_b = sequences.arrays(record_b).get(INDEX_KEY)
    if indices_a is not None and indices_b is not None and not np.array_equal(indices_a, indices_b):
        raise VpbenchError(
            f"{record_a.record_id} and {record_b.record_id} store values for different test sequences; "
            "a paired test needs the same ones — re-run one of them"
        )
    per_a, per_b = sequence_overall(per_a), sequence_overall(per_b)
    if per_a.shape != per_b.shape:
        raise VpbenchError(
            f"per-sequence {convention}/{metric} of {record_a.record_id} has {len(per_a)} values but "
            f"{record_b.record_id} has {len(per_b)}; its .npz does not belong to the record — re-run one of them"
        )
    if not (np.isfinite(per_a).all() and np.isfinite(per_b).all()):
        row.note = "infinite per-sequence values (identical frames), no test"
        return row
    row.interval, row.p_value = paired_statistics(per_a, per_b)
    row.sequences = len(per_a)
    return row


def compare_models(
    records: Iterable[Record],
    model_a: str,
    model_b: str,
    results_dir: str | Path | None,
    *,
    dataset: str | None = None,
    protocol: str | None = None,
    source: str | None = None,
    preset: str | None = None,
    seed: int | None = None,
    steps: int | None = None,
    conventions: Iterable[str] = (),
    metrics: Iterable[str] = (),
) -> list[Comparison]:
    """One comparison per test set on which both models have exactly one matching record. A model given as
    MODEL@STEPS takes only records of that budget (instead of `steps`); MODEL#SPEC only the records whose spec
    hash starts with SPEC (two runs of one model that differ in an argument)."""
    # Before the records: a typo is not "the models share no metric".
    metrics = tuple(prediction_metric(metric, "compare --metric") for metric in metrics)
    (model_a, spec_a), (model_b, spec_b) = split_spec(model_a), split_spec(model_b)
    (model_a, steps_a), (model_b, steps_b) = split_budget(model_a, steps), split_budget(model_b, steps)

    def matching(model: str, steps: int | None, spec: str) -> list[Record]:
        candidates = [
            r
            for r in records
            if r.model.name == model
            and r.spec_hash.startswith(spec)
            and (dataset is None or r.dataset.name == dataset)
            and (protocol is None or r.protocol.name == protocol)
            and (source is None or r.dataset.source == source)
            and (preset is None or r.model.preset == preset)
            and (seed is None or r.provenance.seed == seed)
            and within_budget(r, steps)
        ]
        # CI fixtures only when asked for, as in `table`
        found = [r for r in candidates if r.model.preset != CI_FIXTURE_PRESET or preset == CI_FIXTURE_PRESET]
        if not found:
            budget = f" at {steps} steps" if steps is not None else ""
            budget += f" with a spec starting {spec}" if spec else ""
            hint = (
                f"; only {CI_FIXTURE_PRESET}-preset CI fixtures match: add --preset {CI_FIXTURE_PRESET}"
                if candidates
                else "; `vpbench table` lists the stored ones"
            )
            raise VpbenchError(f"no record of model '{model}'{budget} matches the filters{hint}")
        return found

    records = list(records)
    by_set_a = _by_test_set(matching(model_a, steps_a, spec_a))
    by_set_b = _by_test_set(matching(model_b, steps_b, spec_b))
    shared = [key for key in by_set_a if key in by_set_b]
    if not shared:
        raise VpbenchError(
            f"{model_a} and {model_b} have no records on the same test set (same dataset, source, protocol and "
            "test clips); check --dataset/--protocol/--source"
        )
    sequences = SequenceCache(results_dir)
    comparisons = []
    for key in shared:
        pair = []
        candidates = _same_budget(by_set_a[key], by_set_b[key])
        for model, found in zip((model_a, model_b), candidates, strict=True):
            if len(found) > 1:
                variants = ", ".join(
                    f"{model}#{r.spec_hash[:8]} ({', '.join(suffix)}, budget {r.budget_label or 'none'})"
                    for r, suffix in zip(found, variant_suffixes(found), strict=True)
                )
                raise VpbenchError(
                    f"{model} has {len(found)} records on {key[0]} {key[2]}: {variants}; name one as MODEL#SPEC "
                    "as listed, or add --preset, --seed or --steps"
                )
            pair.append(found[0])
        if pair[0].record_id == pair[1].record_id:  # `compare srvp srvp`: a difference of 0, p = 1, says nothing
            raise VpbenchError(
                f"both names select the same record ({pair[0].record_id}); compare two runs: another model, "
                "or the same model as MODEL@STEPS or MODEL#SPEC"
            )
        comparisons.append(compare_records(pair[0], pair[1], results_dir, conventions, metrics, sequences))
    return comparisons


def split_spec(name: str) -> tuple[str, str]:
    """'convlstm#b834ddfa' -> ('convlstm', 'b834ddfa'): a spec hash prefix, as `table` and errors show it."""
    model, hash_mark, spec = name.partition("#")
    if hash_mark and not re.fullmatch(r"[0-9a-f]{1,16}", spec):
        raise VpbenchError(f"'{name}': the part after '#' is the start of a spec hash (hex), e.g. {model}#b834ddfa")
    return model, spec


def split_budget(name: str, steps: int | None) -> tuple[str, int | None]:
    """'predrnn@10000' -> ('predrnn', 10000); a name without '@' keeps the common `steps` filter."""
    model, at, budget = name.partition("@")
    if not at:
        return name, steps
    if not budget.isdigit():
        raise VpbenchError(f"'{name}': the part after '@' is a training budget in steps, e.g. {model}@600")
    return model, int(budget)


def _same_budget(first: list[Record], second: list[Record]) -> tuple[list[Record], list[Record]]:
    """Where a model has records of several budgets on one test set, keep those of the other model's budget."""
    budgets = {r.budget_label for r in first} & {r.budget_label for r in second} - {""}
    if len(budgets) == 1:
        budget = budgets.pop()

        def keep(records: list[Record]) -> list[Record]:
            return [r for r in records if r.budget_label in (budget, "")] if len(records) > 1 else records

        return keep(first), keep(second)
    return first, second


def _by_test_set(records: list[Record]) -> dict[tuple, list[Record]]:
    grouped: dict[tuple, list[Record]] = {}
    for record in records:
        grouped.setdefault(test_set(record), []).append(record)
    return grouped


def format_p_value(p_value: float | None) -> str:
    if p_value is None:
        return "—"
    return "<0.001" if p_value < 0.001 else f"{p_value:.3f}"


def comparison_lines(comparison: Comparison) -> list[dict[str, str]]:
    """Display strings per metric: what every renderer (rich, Markdown) shows."""
    from vpbench.results.columns import metric_column
    from vpbench.results.render import format_number

    a, b = comparison.labels
    lines = []
    for row in comparison.rows:
        column = metric_column(row.metric)
        interval = ""
        if row.interval is not None:
            interval = f"[{format_number(row.interval[0], column)}, {format_number(row.interval[1], column)}]"
        lines.append(
            {
                "convention": row.convention,
                "metric": column.header,
                a: format_number(row.value_a, column),
                b: format_number(row.value_b, column),
                f"{a} − {b}": format_number(row.difference, column),
                "95% CI of difference": interval or "—",
                "p": format_p_value(row.p_value),
                "verdict": row.verdict(a, b),
            }
        )
    return lines


def comparison_records(comparisons: list[Comparison]) -> list[dict]:
    """Numbers only, for CSV / JSON."""
    out = []
    for comparison in comparisons:
        a, b = comparison.record_a, comparison.record_b
        label_a, label_b = comparison.labels
        for row in comparison.rows:
            out.append(
                {
                    "model_a": a.model.name,
                    "model_b": b.model.name,
                    "record_a": a.record_id,
                    "record_b": b.record_id,
                    "dataset": a.dataset.name,
                    "source": a.dataset.source,
                    "protocol": a.protocol.name,
                    "convention": row.convention,
                    "metric": row.metric,
                    "higher_is_better": row.higher_is_better,
                    "value_a": row.value_a,
                    "value_b": row.value_b,
                    "difference": row.difference,
                    "ci_low": row.interval[0] if row.interval else None,
                    "ci_high": row.interval[1] if row.interval else None,
                    "p_value": row.p_value,
                    "sequences": row.sequences,
                    "steps_a": a.training.steps,
                    "steps_b": b.training.steps,
                    "verdict": row.verdict(label_a, label_b),
                }
            )
    return out


def render_comparison_markdown(comparisons: list[Comparison]) -> str:
    blocks = []
    for comparison in comparisons:
        lines = comparison_lines(comparison)
        header = list(lines[0])
        text = [f"### {comparison.title}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        text += ["| " + " | ".join(line[key] for key in header) + " |" for line in lines]
        text += ["", "Paired bootstrap over test sequences; p is two-sided (no difference as the null)."]
        blocks.append("\n".join(text) + "\n")
    return "\n".join(blocks)
