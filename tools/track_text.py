"""What the README's generated blocks share: a track as stored (its suite entry and records, compared pairwise
once each) and the few phrases every block writes (model lists, differences with their intervals and p, the
README's wrapped bullets and paragraphs). `readme_track.py` writes the blocks; `srvp_verdicts.py` and
`long_runs_text.py` write two families of them."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TRACK = "mmnist-cpu-track"
LONG_TRACK = "mmnist-cpu-long"  # its blocks fill in as its records land; until then they say what is pending
DOUBLE_TRACK = "mmnist-cpu-2x"  # the long track at twice its budget: the next step toward the SSIM target
SANITY = ("zeros", "last-frame")
PROTOCOLS = ("10->10", "10->30")  # the two horizons every track stores
WIDTH = 115  # the README's line length


def record_files(results_dir: Path) -> list[Path]:
    """The files a results folder's records are read from: each record (DATASET/RECORD.json) and the suite."""
    return sorted(Path(results_dir).glob("*/*.json")) + sorted(Path(results_dir).glob("*.json"))


def declared_records(results_dir: Path) -> tuple:
    """The suite's records in `results_dir`, loaded once per state of its files: a rewrite reads them for both
    tracks, the long fits and the figure, and each load (every record checked against the suite) takes most of a
    second; a record landed or a suite edited in between is a new state, so it is never served stale."""
    stats = [(str(f), f.stat()) for f in record_files(results_dir)]
    return _declared_records(Path(results_dir), tuple((name, s.st_mtime_ns, s.st_size) for name, s in stats))


@cache
def _declared_records(results_dir: Path, state: tuple) -> tuple:
    from vpbench.gate import suite_records

    return tuple(suite_records(results_dir))


@dataclass
class Track:
    """One track as stored (the 600-step one unless `name` says another suite entry): its entry and records."""

    results_dir: Path
    name: str = TRACK

    @cached_property
    def entry(self):
        from vpbench.gate import suite_entries

        found = [entry for entry in suite_entries(self.results_dir) if entry.name == self.name]
        if not found:
            raise SystemExit(
                f"{self.results_dir}/suite.json declares no entry '{self.name}': pass the repository's results/"
            )
        return found[0]

    @property
    def steps(self) -> int:
        """The track's budget in optimizer steps."""
        return self.entry.run["steps"]

    @cached_property
    def records(self) -> list:
        from vpbench.results.sections import within_budget

        return [
            record
            for record in declared_records(self.results_dir)
            if record.dataset.name == self.entry.dataset
            and record.model.preset == self.entry.run["preset"]
            and record.model.name in self.entry.models
            and within_budget(record, self.entry.run["steps"])
        ]

    @property
    def trained(self) -> list[str]:
        return [model for model in self.entry.models if model not in SANITY]

    @property
    def stored(self) -> list[str]:
        return [model for model in self.trained if model not in self.entry.pending]

    def record(self, model: str, protocol: str):
        (found,) = [r for r in self.records if r.model.name == model and r.protocol.name == protocol]
        return found

    @cached_property
    def _comparisons(self) -> dict[tuple[str, str, str], dict[str, object]]:
        return {}

    def compare(self, model_a: str, model_b: str, protocol: str) -> dict[str, object]:
        """metric -> MetricComparison of A against B (vpbench convention). Each pair is bootstrapped once: the
        backbone, ablation and poster-claim verdicts ask for several of the same pairs."""
        key = (model_a, model_b, protocol)
        if key not in self._comparisons:
            self._comparisons[key] = self._compare(*key)
        return self._comparisons[key]

    def _compare(self, model_a: str, model_b: str, protocol: str) -> dict[str, object]:
        return compare_rows(self.records, self.results_dir, model_a, model_b, protocol)


def compare_rows(records: list, results_dir: Path, name_a: str, name_b: str, protocol: str) -> dict[str, object]:
    """metric -> MetricComparison of A against B on MSE and SSIM (vpbench convention), as `vpbench compare` tests
    them; a name may carry its budget (MODEL@STEPS) to compare two budgets of one model."""
    from vpbench.results.compare import compare_models

    (comparison,) = compare_models(
        records, name_a, name_b, results_dir, protocol=protocol, conventions=("vpbench",), metrics=("mse", "ssim")
    )
    return {row.metric: row for row in comparison.rows}


def joined(items: list[str]) -> str:
    """"a", "a and b", "a, b and c": a list as a sentence reads it."""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def names(models: list[str]) -> str:
    return joined([f"`{model}`" for model in models])


def names_are(models: list[str]) -> str:
    """The models as a subject with its verb: "`a` is", "`a` and `b` are"."""
    return f"{names(models)} {'is' if len(models) == 1 else 'are'}"


def p_text(p_value: float) -> str:
    return "p < 0.001" if p_value < 0.001 else f"p = {p_value:.3f}"


def difference(row) -> str:
    """'MSE -0.0012 [-0.0015, -0.0009] (p < 0.001)': A minus B with its paired 95% interval and p."""
    digits = 4 if row.metric == "mse" else 3
    low, high = row.interval
    return (
        f"{row.metric.upper()} {row.difference:+.{digits}f} [{low:+.{digits}f}, {high:+.{digits}f}] "
        f"({p_text(row.p_value)})"
    )


def better(row, model: str) -> bool:
    return row.verdict("a", "b") == f"{model} better"


def bullet(text: str) -> str:
    return "\n".join(textwrap.wrap(text, WIDTH, initial_indent="- ", subsequent_indent="  ", break_on_hyphens=False))


def paragraph(text: str) -> str:
    return "\n".join(textwrap.wrap(text, WIDTH, break_on_hyphens=False))
