"""`vpbench check`, the regression gate: are the stored results still true, and still what the code gives?

An application module above the engine and the results package (it uses both; neither uses it):
1. the suite (`results/suite.json`): every entry x model x seed resolves to a run spec, and a record made with
   exactly that spec exists for each protocol (models the entry lists as `pending` are noted, not failed,
   and a `pending` model whose records are all stored fails: the list would say something false);
2. every record of the folder parses, is internally consistent and has intact companion files, and its data
   checksum equals the test clips' as this machine produces them (`vpbench.results.check`);
3. `leaderboard.md` equals what the suite's records generate now (ad-hoc records in the folder are ignored),
   and every figure the suite declares was drawn from the stored records (`vpbench.results.figures`);
4. every record of a `rerun` entry (the CI fixtures) is re-run from its stored spec and compared number by
   number within `Tolerance`.
"""

from __future__ import annotations

import dataclasses
import json
import re
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from vpbench.engine.config import RunConfig
from vpbench.engine.spec import RunSpec
from vpbench.engine.suite import SuiteEntry, load_suite, suite_path
from vpbench.errors import VpbenchError
from vpbench.results.check import (
    CheckReport,
    ChecksumCache,
    Finding,
    Tolerance,
    _short,
    check_leaderboard,
    compare_numbers,
    environment_differences,
    validate_record,
)
from vpbench.results.figures import stale_figures
from vpbench.results.schema import Record
from vpbench.results.sequences import SequenceCache
from vpbench.results.store import existing_results_dir, load_record


@contextmanager
def torch_threads(count: int | None) -> Iterator[None]:
    """Run with `count` intra-op threads, then restore: CPU kernels reduce in a thread-dependent order, so a
    re-run matches its record to the last bit only at the record's own thread count."""
    import torch

    before = torch.get_num_threads()
    if count is not None:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def config_from_spec(spec: RunSpec, protocols: list[str], scratch: Path, command: str) -> RunConfig:
    """The RunConfig that resolves to `spec` again (on the CPU, writing nothing)."""
    from vpbench.registry import preset_overrides

    return RunConfig(
        model=spec.model,
        dataset=spec.dataset,
        preset=spec.preset,
        protocols=list(protocols),
        train_protocol=spec.train_protocol,
        steps=spec.steps if spec.trained else None,
        seed=spec.seed,
        device="cpu",
        threads=spec.threads,
        batch_size=spec.batch_size,
        learning_rate=spec.learning_rate if spec.trained else None,
        schedule=spec.optimizer.get("schedule") if spec.trained else None,
        test_size=spec.test_size,
        val_size=spec.val_size,
        val_every=spec.val_every,
        checkpoint_every=spec.checkpoint_every or None,
        eval_batch_size=spec.eval_batch_size,
        conventions=tuple(spec.conventions),
        model_overrides=preset_overrides(spec.model, spec.preset, spec.model_config),
        data_options=dict(spec.data_options),
        results_dir=scratch / "results",
        runs_dir=scratch / "runs",
        resume=False,
        write_records=False,
        command=command,
    )


def rerun_record(record: Record, results_dir: Path, _cache: dict | None = None) -> Record:
    """Run the engine again exactly as the record's stored spec says (same thread count), writing nothing.

    All protocols of a spec come from one run; `_cache` (spec hash -> records) lets the gate re-run a spec
    with several stored protocols once.
    """
    from vpbench.engine.run import run

    cache = _RERUNS if _cache is None else _cache
    if record.spec_hash not in cache:
        spec = RunSpec.from_dict(record.spec, origin=record.record_id)
        command = f"vpbench check (re-run of {record.record_id})"
        with tempfile.TemporaryDirectory(prefix="vpbench-check-") as scratch:
            config = config_from_spec(spec, list(spec.protocols), Path(scratch), command)
            with torch_threads(spec.threads):
                cache[record.spec_hash] = run(config)
    produced = [r for r in cache[record.spec_hash] if r.protocol.name == record.protocol.name]
    if len(produced) != 1:
        raise VpbenchError(f"re-running {record.record_id} gave {len(produced)} records for {record.protocol.name}")
    if produced[0].spec_hash != record.spec_hash:
        raise VpbenchError(
            f"the stored spec of {record.record_id} no longer resolves to itself (hash {record.spec_hash} -> "
            f"{produced[0].spec_hash}): a preset or default changed"
        )
    return produced[0]


_RERUNS: dict[str, list[Record]] = {}


def expected_records(entry: SuiteEntry, results_dir: Path, data_root) -> Iterator[tuple[str, int, RunSpec | None, str]]:
    """(model, seed, spec or None, why not) for every run an entry declares."""
    from vpbench.engine.run import prepare

    for model, seed, config in entry.configs(results_dir, data_root=data_root):
        try:
            yield model, seed, prepare(config).spec, ""
        except VpbenchError as error:
            yield model, seed, None, str(error)


def run_status(
    entry: SuiteEntry, results_dir: Path, data_root
) -> Iterator[tuple[str, int, RunSpec | None, str, list[str]]]:
    """(model, seed, spec or None, why not, the spec's protocols with no stored record) for every run of an
    entry: what `check` verifies and what `land` reads to take a model off `pending`."""
    from vpbench.engine.run import stored_records

    for model, seed, spec, why in expected_records(entry, results_dir, data_root):
        missing = [] if spec is None else [p for p in spec.protocols if p not in stored_records(results_dir, spec)]
        yield model, seed, spec, why, missing


def check_suite(results_dir: Path, data_root=None) -> tuple[list[Finding], list[str], set[str], list[SuiteEntry]]:
    """Findings and notes about the suite, the ids of the records it declares, and its entries."""
    path = suite_path(results_dir)
    if not path.exists():
        return [], [f"no {path.name}: every record counts as part of the results"], set(), []
    entries = load_suite(path)
    findings, notes, declared = [], [], set()
    from vpbench.results.schema import record_id

    for entry in entries:
        for model, seed, spec, why, missing in run_status(entry, results_dir, data_root):
            where = f"suite {entry.name}: {model} seed {seed}"
            if spec is None:
                findings.append(Finding(where, "suite", f"does not resolve: {why}"))
                continue
            for protocol in spec.protocols:
                declared.add(
                    record_id(spec.model, spec.preset, spec.dataset, spec.data_source, protocol, spec.seed,
                              spec.spec_hash)
                )
            if not missing:
                if model in entry.pending:  # the list the README quotes as "not stored yet" would be wrong
                    findings.append(
                        Finding(where, "suite", f"listed as pending but stored; remove '{model}' from {entry.name}'s "
                                f"pending list in {path}")
                    )
                continue
            if model in entry.pending:
                notes.append(f"{where}: pending (no record yet for {', '.join(missing)})")
            else:
                findings.append(
                    Finding(
                        where,
                        "suite",
                        f"no record made with the entry's spec {spec.spec_hash} for {', '.join(missing)}; "
                        f"run `vpbench sweep --suite {path}`",
                    )
                )
    return findings, notes, declared, entries


def run_check(
    results_dir: str | Path,
    *,
    rerun: bool = True,
    verify_checksums: bool = True,
    tolerance: Tolerance = Tolerance(),
    data_root: str | Path | None = None,
    rerunner: Callable[[Record, Path], Record] = rerun_record,
) -> CheckReport:
    """All checks over the folder; the report lists every finding."""
    results_dir = existing_results_dir(results_dir)
    report = CheckReport()
    try:
        suite_findings, suite_notes, declared, entries = check_suite(results_dir, data_root)
    except VpbenchError as error:
        suite_findings, suite_notes, declared, entries = [Finding("suite.json", "suite", str(error))], [], set(), []
    report.findings.extend(suite_findings)
    report.notes.extend(suite_notes)
    sequences = SequenceCache(results_dir)
    checksums = ChecksumCache(data_root)
    records: list[Record] = []
    for path in sorted(results_dir.glob("*/*.json")) if results_dir.exists() else []:
        where = str(path.relative_to(results_dir))
        try:
            record = load_record(path)
        except VpbenchError as error:
            report.findings.append(Finding(where, "schema", str(error)))
            continue
        if entries and record.record_id not in declared:
            report.notes.append(f"{where}: not declared by the suite (an ad-hoc run); not part of the leaderboard")
            continue
        records.append(record)
        report.findings.extend(validate_record(record, path, results_dir, sequences))
        if verify_checksums:
            current, why = checksums.current(record)
            if current is None:
                report.notes.append(f"{record.record_id}: checksum not verified ({why})")
            elif current != record.dataset.test_checksum:
                report.findings.append(
                    Finding(
                        where,
                        "checksum",
                        "test data differ from the data this record was evaluated on",
                        _short(record.dataset.test_checksum),
                        _short(current),
                    )
                )
            else:
                report.checksums_verified += 1
    report.records = len(records)
    leaderboard, report.leaderboard_diff = check_leaderboard(records, results_dir, entries)
    if leaderboard is not None:
        report.findings.append(leaderboard)
    figures = [spec for entry in entries for spec in entry.figures]
    if figures:
        stale = stale_figures(figures, records, results_dir, entries)
        report.findings.extend(Finding(where, "figure", problem) for where, problem in stale)
    if rerun:
        for record in records:
            if not _is_fixture(record, entries):
                continue
            try:
                now = rerunner(record, results_dir)
            except VpbenchError as error:
                report.findings.append(Finding(record.record_id, "re-run", f"could not re-run: {error}"))
                continue
            report.rerun += 1
            report.findings.extend(compare_numbers(record, now, tolerance))
            report.environment.extend(environment_differences(record, now))
    return report


def suite_records(results_dir: Path, data_root=None) -> list[Record]:
    """The records the suite declares (all records when the folder has no suite): what the leaderboard shows."""
    results_dir = Path(results_dir)
    records = [load_record(path) for path in sorted(results_dir.glob("*/*.json"))] if results_dir.exists() else []
    _, _, declared, entries = check_suite(results_dir, data_root)
    if not entries:
        return records
    return [record for record in records if record.record_id in declared]


def suite_entries(results_dir: Path) -> list[SuiteEntry]:
    """The entries of the folder's suite.json (none without one)."""
    path = suite_path(results_dir)
    return load_suite(path) if path.exists() else []


def _is_fixture(record: Record, entries: list[SuiteEntry]) -> bool:
    """A record of a suite entry marked `rerun` (without a suite: the smoke preset, the CI fixtures)."""
    from vpbench.results.sections import CI_FIXTURE_PRESET

    if not entries:
        return record.model.preset == CI_FIXTURE_PRESET
    return any(
        entry.rerun and entry.dataset == record.dataset.name and record.model.name in entry.models
        and record.model.preset == entry.run.get("preset", record.model.preset)
        for entry in entries
    )


def upgrade_v1_record(data: dict, results_dir: Path, data_root=None) -> Record:
    """A schema-1 record (no stored spec) as a schema-2 one: its run resolved from the facts it stores.

    What schema 1 did not store is inferred and said so in the spec's budget text: the validation cadence
    from the learning curve (else the old default, a tenth of the steps).
    """
    from vpbench.engine.run import prepare
    from vpbench.registry import preset_overrides

    model, training = data["model"], data["training"]
    curve = training.get("curve") or []
    steps = training["steps"] if training.get("trained", True) else None
    val_every = (curve[0]["step"] if curve else max(1, (steps or 0) // 10)) if steps else None
    match = re.search(r"on (\d+) validation clips", training.get("validation_metric", ""))
    threads = re.fullmatch(r"cpu \(.*, (\d+) threads?\)", data["provenance"]["device"])
    config = RunConfig(
        model=model["name"],
        dataset=data["dataset"]["name"],
        preset=model["preset"],
        protocols=_sibling_protocols(data, results_dir),
        train_protocol=data["protocol"]["train_protocol"],
        steps=steps,
        seed=data["provenance"]["seed"],
        device="cpu",
        threads=int(threads.group(1)) if threads else None,
        batch_size=training["batch_size"] if steps else None,
        learning_rate=training["optimizer"].get("lr") if steps else None,
        schedule=training["optimizer"].get("schedule") if steps else None,
        test_size=data["dataset"]["test_size"],
        val_size=int(match.group(1)) if match else None,
        val_every=val_every,
        eval_batch_size=data["efficiency"]["eval_batch_size"],
        conventions=tuple(data["metrics"]),
        model_overrides=preset_overrides(model["name"], model["preset"], model["config"]),
        data_options=dict(data["dataset"].get("options") or {}),
        data_root=data_root,
        write_records=False,
    )
    spec = prepare(config).spec
    spec = dataclasses.replace(spec, budget=f"{training.get('budget', '')} (upgraded from schema 1)".strip())
    upgraded = {**data, "schema_version": 2, "spec": spec.to_dict(), "spec_hash": spec.spec_hash, "files": {}}
    return Record.from_dict(upgraded, origin="upgraded record")


def _sibling_protocols(data: dict, results_dir: Path) -> list[str]:
    """Schema 1 stored one protocol per record; the run's protocols are those of its sibling records."""
    folder = Path(results_dir) / data["dataset"]["name"]
    stem = f"{data['model']['name']}__{data['model']['preset']}__"
    found = set()
    for path in folder.glob(f"{stem}*.json"):
        other = json.loads(path.read_text())
        same = all(
            other[part][key] == data[part][key]
            for part, key in (("dataset", "source"), ("provenance", "seed"), ("training", "steps"),
                              ("dataset", "test_size"), ("protocol", "train_protocol"))
        )
        if same and other.get("schema_version") == 1:
            found.add(other["protocol"]["name"])
    order = sorted(found, key=lambda name: tuple(int(n) for n in name.split("->")))
    return order or [data["protocol"]["name"]]


def upgrade_folder(results_dir: Path, data_root=None) -> list[str]:
    """Upgrade every schema-1 record under `results_dir` in place (new ids, hashed companions); lines of what
    was done. The old files are removed only after the new record is written."""
    from vpbench.results.store import write_record

    results_dir = existing_results_dir(results_dir)
    planned = []  # resolve every record first: a run's protocols are read from its not-yet-upgraded siblings
    for path in sorted(results_dir.glob("*/*.json")):
        data = json.loads(path.read_text())
        if data.get("schema_version") == 1:
            planned.append((path, upgrade_v1_record(data, results_dir, data_root)))
    done = []
    for path, record in planned:
        old_stem = path.with_suffix("")
        companions = {}
        for suffix in (".npz", ".samples.npz"):
            old = Path(f"{old_stem}{suffix}")
            if old.exists():
                with np.load(old) as arrays:
                    companions[suffix] = {name: arrays[name] for name in arrays.files}
        record.per_sequence_file = None
        new_path = write_record(results_dir, record, companions.get(".npz"), companions.get(".samples.npz"))
        for suffix in (".json", ".npz", ".samples.npz"):
            Path(f"{old_stem}{suffix}").unlink(missing_ok=True)
        done.append(f"{path.name} -> {new_path.name}")
    return done
