"""Suites: the declared contents of a results folder (which models x dataset x preset x budget x protocols x seeds).

Why: the committed `results/` is the project's published table, so what it must contain is data, not
habit. `sweep --suite results/suite.json` fills a suite (skipping what is stored), `check` verifies that
every entry has records made with exactly the spec the entry resolves to and that `leaderboard.md` is
generated from the suite's records only — so ad-hoc runs in a checkout never change the published table.

Format (JSON)::

    {"version": 1,
     "entries": [{"name": "mmnist-cpu-track", "dataset": "mmnist", "preset": "small", "device": "cpu",
                  "models": ["zeros", "srvp", ...], "pending": ["mim"], "seeds": [42],
                  "steps": 600, "batch_size": 8, "test_size": 1000, "val_size": 128, "val_every": 50,
                  "protocols": ["10->10", "10->30"], "rerun": false, "description": "..."}]}

`checkpoint_every` (an execution field: it changes no number and no spec hash) lets a long entry checkpoint
more often than it validates, so a run cut off by the end of a session loses minutes, not a validation
interval.

`pending` lists models of the entry whose records are not made yet (the campaign is still running): `check`
reports them as notes instead of failures. `rerun: true` marks CI fixtures that `check` re-runs.
`figures` lists the entry's committed figures, which `vpbench render` draws (see vpbench.results.figures).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path

from vpbench.engine.config import RunConfig
from vpbench.errors import VpbenchError, unknown_name

SUITE_NAME = "suite.json"
RUN_FIELDS = (
    "preset", "steps", "batch_size", "test_size", "val_size", "val_every", "learning_rate", "eval_batch_size",
    "threads", "checkpoint_every",
)


@dataclass(frozen=True)
class SuiteEntry:
    name: str
    dataset: str
    models: tuple[str, ...]
    seeds: tuple[int, ...] = (42,)
    protocols: tuple[str, ...] = ()
    pending: tuple[str, ...] = ()
    rerun: bool = False
    device: str = "cpu"
    description: str = ""
    run: dict = field(default_factory=dict)  # the RunConfig fields in RUN_FIELDS
    figures: tuple = ()  # FigureSpecs (vpbench.results.figures): what `vpbench render` draws from the records

    def holds(self, record) -> bool:
        """Whether a stored record is one of this entry's runs, judged by what a leaderboard section shares
        (dataset, preset, budget, protocol) plus model and seed: cheap, with no run spec to resolve."""
        run = self.run
        return (
            record.dataset.name == self.dataset
            and record.model.name in self.models
            and record.provenance.seed in self.seeds
            and record.model.preset == run.get("preset", record.model.preset)
            and record.training.steps == run.get("steps", record.training.steps)
            and record.training.batch_size == run.get("batch_size", record.training.batch_size)
            and (not self.protocols or record.protocol.name in self.protocols)
        )

    def configs(self, results_dir: Path, runs_dir: Path = Path("runs"), data_root: Path | None = None):
        """(model, seed, RunConfig) for every run of the entry."""
        for model in self.models:
            for seed in self.seeds:
                yield model, seed, RunConfig(
                    model=model,
                    dataset=self.dataset,
                    protocols=list(self.protocols),
                    seed=seed,
                    device=self.device,
                    results_dir=Path(results_dir),
                    runs_dir=Path(runs_dir),
                    data_root=data_root,
                    command=f"vpbench sweep --suite {Path(results_dir) / SUITE_NAME} (entry {self.name})",
                    **self.run,
                )


def suite_path(results_dir: Path) -> Path:
    return Path(results_dir) / SUITE_NAME


def load_suite(path: Path) -> list[SuiteEntry]:
    """Parse a suite file; every problem is one line naming the file and the entry."""
    path = Path(path)
    try:
        document = json.loads(path.read_text())
    except FileNotFoundError:
        raise VpbenchError(f"suite file {path} does not exist; create it (see vpbench.engine.suite)") from None
    except (OSError, json.JSONDecodeError) as error:
        raise VpbenchError(f"suite file {path} is unreadable ({error})") from None
    if not isinstance(document, dict) or document.get("version") != 1 or not isinstance(document.get("entries"), list):
        raise VpbenchError(f"suite file {path}: expected {{\"version\": 1, \"entries\": [...]}}")
    entries = []
    allowed = {
        "name", "dataset", "models", "seeds", "protocols", "pending", "rerun", "device", "description", "figures",
    }
    for index, raw in enumerate(document["entries"]):
        where = f"suite file {path}, entry {raw.get('name', index) if isinstance(raw, dict) else index}"
        if not isinstance(raw, dict) or not {"name", "dataset", "models"} <= set(raw):
            raise VpbenchError(f"{where}: needs at least name, dataset and models")
        unknown = set(raw) - allowed - set(RUN_FIELDS)
        if unknown:
            valid = sorted(allowed | set(RUN_FIELDS))
            raise VpbenchError(f"{where}: unknown field(s) {sorted(unknown)}; allowed: {valid}")
        pending = tuple(raw.get("pending", ()))
        if not set(pending) <= set(raw["models"]):
            raise VpbenchError(f"{where}: pending models {sorted(set(pending) - set(raw['models']))} are not in models")
        run = {key: raw[key] for key in RUN_FIELDS if key in raw}
        entries.append(
            SuiteEntry(
                name=raw["name"],
                dataset=raw["dataset"],
                models=tuple(raw["models"]),
                seeds=tuple(raw.get("seeds", (42,))),
                protocols=tuple(raw.get("protocols", ())),
                pending=pending,
                rerun=bool(raw.get("rerun", False)),
                device=raw.get("device", "cpu"),
                description=raw.get("description", ""),
                run=run,
                figures=_figures(raw, run, where),
            )
        )
    names = [entry.name for entry in entries]
    if len(set(names)) != len(names):
        raise VpbenchError(f"suite file {path}: entry names must be unique")
    figures = [spec.name() for entry in entries for spec in entry.figures]
    if len(set(figures)) != len(figures):
        raise VpbenchError(f"suite file {path}: two entries declare the same figure; figure names must be unique")
    return entries


def _figures(raw: dict, run: dict, where: str) -> tuple:
    if not raw.get("figures"):
        return ()
    from vpbench.results.figures import entry_figures  # matplotlib: only for suites that declare figures

    if not isinstance(raw["figures"], list):
        raise VpbenchError(f"{where}: figures must be a list")
    return entry_figures(raw["dataset"], run, raw["figures"], where)


def select_configs(
    entries: list[SuiteEntry],
    entry_names: list[str] | None,
    models: list[str] | None,
    results_dir: Path,
    runs_dir: Path = Path("runs"),
    data_root: Path | None = None,
    threads: int | None = None,
) -> list[RunConfig]:
    """The runs `sweep --suite` makes: the chosen entries (all if none), only `models` if given, in the order
    `models` names them (so a long campaign can put its cheapest models first and land them first). `threads`
    overrides the entries' thread count: it is how a run executes, not part of its spec (a one-job sweep may
    give its model both cores to finish it sooner)."""
    known = [entry.name for entry in entries]
    for name in entry_names or []:
        if name not in known:
            raise unknown_name("suite entry", name, known)
    chosen = [entry for entry in entries if not entry_names or entry.name in entry_names]
    declared = {model for entry in chosen for model in entry.models}
    undeclared = sorted(set(models or ()) - declared)
    if undeclared:
        raise VpbenchError(f"--models {undeclared} not in the chosen suite entries; they declare {sorted(declared)}")
    configs = [
        config
        for entry in chosen
        for model, _, config in entry.configs(results_dir, runs_dir, data_root)
        if not models or model in models
    ]
    if models:
        configs.sort(key=lambda config: models.index(config.model))
    if threads is not None:
        configs = [replace(config, threads=threads) for config in configs]
    return configs
