"""Figures from stored records: files written in both formats, every curve/point/row labelled directly and
legibly (no overlapping labels), and only one test setting per figure."""

from __future__ import annotations

import numpy as np
import pytest
from _records import leaderboard_records, make_record, store, store_samples, variant_record
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.image import imread
from matplotlib.text import Annotation, Text

from vpbench.errors import VpbenchError
from vpbench.results.plots import (
    efficiency_figure,
    horizon_figure,
    model_colors,
    samples_figure,
    save_figure,
    spread,
)
from vpbench.results.store import load_records
from vpbench.results.table import TableOptions

MODELS = ("srvp", "srvp-wo-sa", "convgru", "simvp", "mimo-vp", "last-frame", "zeros")
ONE_SETTING = TableOptions(dataset="mmnist", protocol="10->10")


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    results_dir = tmp_path_factory.mktemp("results")
    pairs = leaderboard_records(MODELS, test_size=16)
    store(results_dir, pairs)
    store(results_dir, leaderboard_records(("srvp", "convgru"), protocol="10->30", test_size=16))
    for record, _ in pairs[:3] + pairs[-1:]:
        store_samples(results_dir, record, indices=(0, 5))
    return results_dir, load_records(results_dir)


def label_boxes(figure, texts):
    renderer = FigureCanvasAgg(figure).get_renderer()
    found = {}
    for axes in figure.axes:
        for text in axes.texts:
            if text.get_text() in texts:  # the text itself, not its leader line
                if isinstance(text, Annotation):
                    text.update_positions(renderer)
                found[text.get_text()] = Text.get_window_extent(text, renderer)
    return found


def assert_no_overlap(boxes):
    items = list(boxes.items())
    for i, (first, a) in enumerate(items):
        for second, b in items[i + 1 :]:
            assert not a.overlaps(b), f"labels '{first}' and '{second}' overlap"


def test_horizon_figure_labels_every_curve_at_its_end_without_overlap(results):
    results_dir, records = results
    figure = horizon_figure(records, "mse", ONE_SETTING, results_dir)
    boxes = label_boxes(figure, set(MODELS))
    assert set(boxes) == set(MODELS)  # every model named on the figure itself, no legend
    assert figure.axes[0].get_legend() is None
    assert_no_overlap(boxes)
    axes_right = figure.axes[0].get_window_extent(FigureCanvasAgg(figure).get_renderer()).x1
    assert all(box.x0 >= axes_right for box in boxes.values())  # at the line ends, right of the plot
    assert len(figure.axes[0].lines) == len(MODELS)


def test_horizon_figure_with_published_rows_draws_them_too(results):
    results_dir, records = results
    options = TableOptions(dataset="mmnist", protocol="10->10", conventions=("srvp-paper",), reference=True)
    figure = horizon_figure(records, "mse", options, results_dir)
    texts = {text.get_text() for text in figure.axes[0].texts}
    assert "SRVP (published, SRVP paper)" in texts  # the only published per-horizon MSE curve
    assert_no_overlap(label_boxes(figure, texts))


def test_figures_are_written_as_png_and_pdf(results, tmp_path):
    results_dir, records = results
    paths = save_figure(horizon_figure(records, "ssim", ONE_SETTING, results_dir), tmp_path / "figures" / "horizon")
    assert [path.suffix for path in paths] == [".png", ".pdf"]
    image = imread(paths[0])
    assert image.ndim == 3 and image.shape[0] > 300 and image.shape[1] > 600
    assert paths[1].read_bytes()[:5] == b"%PDF-"
    first = [path.read_bytes() for path in paths]
    again = save_figure(horizon_figure(records, "ssim", ONE_SETTING, results_dir), tmp_path / "figures" / "horizon")
    assert [path.read_bytes() for path in again] == first  # no timestamps: regenerating changes nothing in git


def test_efficiency_figure_labels_points_and_turns_parameter_free_models_into_lines(results):
    results_dir, records = results
    figure = efficiency_figure(records, "ssim", ONE_SETTING, results_dir)
    axes = figure.axes[0]
    assert axes.get_xscale() == "log"
    trained = {"srvp", "srvp-wo-sa", "convgru", "simvp", "mimo-vp"}
    boxes = label_boxes(figure, trained | {"last-frame (0 MACs)", "zeros (0 MACs)"})
    assert set(boxes) == trained | {"last-frame (0 MACs)", "zeros (0 MACs)"}
    assert_no_overlap({name: box for name, box in boxes.items() if name in trained})
    horizontal = [line for line in axes.lines if len(set(line.get_ydata())) == 1 and len(line.get_ydata()) == 2]
    assert len(horizontal) >= 2


def test_a_figure_refuses_a_y_axis_without_per_prediction_values_in_one_line(results, tmp_path, vpbench_cli):
    """`plot efficiency --metric macs` (or params) ended in a StopIteration traceback, and `plot horizon
    --metric macs` said no record had MACs while listing macs as available."""
    results_dir, records = results
    for metric in ("macs", "params", "static-mse", "sim"):
        with pytest.raises(VpbenchError, match=rf"efficiency figure \(against MACs\) shows one of .*; not '{metric}'"):
            efficiency_figure(records, metric, ONE_SETTING, results_dir)
        with pytest.raises(VpbenchError, match=rf"the per-horizon figure shows one of .*; not '{metric}'"):
            horizon_figure(records, metric, ONE_SETTING, results_dir)
    assert efficiency_figure(records, "SSIM", ONE_SETTING, results_dir).axes  # case as `table` takes it
    code, _, error = vpbench_cli("plot", "efficiency", "--metric", "macs", "--results-dir", str(results_dir),
                                 "--protocol", "10->10", "--output", str(tmp_path / "efficiency"))
    assert code == 2 and error.count("\n") == 1 and "Traceback" not in error
    assert not list(tmp_path.glob("efficiency*"))


def test_samples_grid_puts_ground_truth_above_each_model(results):
    results_dir, records = results
    figure = samples_figure(records, ONE_SETTING, results_dir, indices=[5], max_frames=4)
    labels = [axes.get_ylabel() for axes in figure.axes if axes.get_ylabel()]
    assert labels[0].startswith("test #5")
    assert labels[1:] == ["srvp", "srvp-wo-sa", "convgru", "zeros"]  # rows in leaderboard order (MSE)
    titles = [axes.get_title() for axes in figure.axes if axes.get_title()]
    assert titles == ["t=-1", "t=0", "t+1", "t+4", "t+7", "t+10"]  # evenly spaced horizons
    images = [axes.images[0].get_array() for axes in figure.axes if axes.images]
    assert len(images) == 2 + 4 * 5 and all(np.asarray(image).shape == (64, 64) for image in images)
    # frames are drawn unresampled: a PDF then embeds 64x64 pixels per frame, not the figure's dpi
    assert {axes.images[0].get_interpolation() for axes in figure.axes if axes.images} == {"none"}


def test_a_samples_grid_needs_at_least_one_predicted_frame(results):
    """`--max-frames -3` ended in numpy's linspace traceback; 0 drew a grid of context frames only."""
    results_dir, records = results
    for max_frames in (0, -3):
        with pytest.raises(VpbenchError, match=f"at least 1, not {max_frames}$"):
            samples_figure(records, ONE_SETTING, results_dir, max_frames=max_frames)
    assert samples_figure(records, ONE_SETTING, results_dir, max_frames=1).axes


def test_samples_of_different_test_sets_or_missing_indices_are_refused(tmp_path):
    pairs = [make_record(model, test_size=8) for model in ("srvp", "convgru")]
    store(tmp_path, pairs)
    records = load_records(tmp_path)
    with pytest.raises(VpbenchError, match="no stored sample predictions"):
        samples_figure(records, ONE_SETTING, tmp_path)
    store_samples(tmp_path, records[0], indices=(0,))
    store_samples(tmp_path, records[1], indices=(1,))
    with pytest.raises(VpbenchError, match="not stored for every model"):
        samples_figure(records, ONE_SETTING, tmp_path)
    path = store_samples(tmp_path, records[1], indices=(0,))
    with np.load(path) as stored:
        altered = {key: stored[key] for key in stored.files}
    altered["context"] = 255 - altered["context"]
    np.savez_compressed(path, **altered)
    with pytest.raises(VpbenchError, match="different frames for test sequence 0"):
        samples_figure(records, ONE_SETTING, tmp_path)


def test_a_figure_shows_one_test_setting(results):
    results_dir, records = results
    with pytest.raises(VpbenchError, match="span 2 test settings.*add --dataset/--protocol"):
        horizon_figure(records, "ssim", TableOptions(), results_dir)


def test_a_second_budget_needs_steps_and_gets_its_own_figure_name(tmp_path, vpbench_cli):
    """Once a longer track lands beside the first, a figure must say which budget it shows."""
    store(tmp_path, leaderboard_records(("srvp", "convgru", "zeros"), test_size=16))
    store(tmp_path, leaderboard_records(("srvp", "convgru"), test_size=16, steps=3000))
    records = load_records(tmp_path)
    with pytest.raises(VpbenchError, match="span 2 test settings.*--steps"):
        horizon_figure(records, "ssim", ONE_SETTING, tmp_path)
    figure = horizon_figure(records, "ssim", TableOptions(dataset="mmnist", protocol="10->10", steps=3000), tmp_path)
    assert "budget 3000 steps x 8" in figure.axes[0].get_title()
    code, _, error = vpbench_cli("plot", "horizon", "--metric", "ssim", "--steps", "3000", "--formats", "png",
                                 "--results-dir", str(tmp_path))
    assert code == 0, error
    assert (tmp_path / "figures" / "horizon_ssim_3000steps.png").is_file()


def test_model_colours_are_distinct_and_never_the_sanity_rows_grey():
    """With eight or more models tab10's grey came up and a model looked like a sanity row."""
    from skimage.color import rgb2lab

    colours = list(model_colors(f"model-{i:02d}" for i in range(13)).values())  # every registered model
    assert len(set(colours)) == 13
    assert all(max(colour) - min(colour) > 0.1 for colour in colours)
    # told apart by eye, not just by value: Dark2's purple beside tab10's was 'distinct' and looked the same
    lab = rgb2lab(np.array(colours, dtype=float).reshape(1, -1, 3))[0]
    distances = np.linalg.norm(lab[:, None] - lab[None, :], axis=-1) + np.eye(len(colours)) * 1e9
    assert distances.min() > 25


def test_spread_keeps_labels_apart_and_in_range():
    placed = spread([0.50, 0.51, 0.52, 0.10, 0.99], gap=0.05)
    ordered = sorted(placed)
    assert all(b - a >= 0.05 - 1e-12 for a, b in zip(ordered, ordered[1:], strict=False))
    assert max(placed) <= 1.0 and placed[3] == pytest.approx(0.10)  # an isolated label does not move


def test_cli_plot_samples_writes_both_formats(results, tmp_path, vpbench_cli):
    results_dir, _ = results
    stem = tmp_path / "grid"
    code, _, error = vpbench_cli("plot", "samples", "--results-dir", str(results_dir), "--protocol", "10->10",
                                 "--index", "0", "--max-frames", "3", "--output", str(stem))
    assert code == 0, error
    assert (tmp_path / "grid.png").stat().st_size > 0 and (tmp_path / "grid.pdf").stat().st_size > 0


def test_samples_rows_of_two_runs_of_one_model_are_named_as_in_the_table(tmp_path):
    first, arrays = make_record("srvp", test_size=8)
    seed_7, arrays_7 = make_record("srvp", test_size=8, seed=7)
    store(tmp_path, [(first, arrays), (seed_7, arrays_7)])
    records = load_records(tmp_path)
    for record in records:
        store_samples(tmp_path, record, indices=(0,))
    figure = samples_figure(records, ONE_SETTING, tmp_path, indices=[0], max_frames=2)
    labels = [axes.get_ylabel() for axes in figure.axes if axes.get_ylabel()]
    assert sorted(labels[1:]) == ["srvp (seed 42)", "srvp (seed 7)"]


def test_two_runs_of_one_model_are_drawn_in_two_colours(tmp_path):
    """Two records of one model that differ in an argument (`srvp (hidden=16)` beside `srvp (hidden=32)`) were
    drawn in the model's one colour, so their curves and labels could not be told apart."""
    from matplotlib.colors import to_hex

    wide = make_record("srvp", test_size=16)
    narrow = variant_record(make_record("srvp", test_size=16, quality=0.5), "abcdef0123456789", hidden=16)
    store(tmp_path, [wide, narrow, make_record("zeros", test_size=16)])
    figure = horizon_figure(load_records(tmp_path), "ssim", ONE_SETTING, tmp_path)
    colours = {text.get_text(): to_hex(text.get_color()) for text in figure.axes[0].texts}
    assert sorted(colours) == ["srvp (hidden=16)", "srvp (hidden=32)", "zeros"]
    assert len(set(colours.values())) == 3


@pytest.mark.parametrize("command", [["plot", "horizon", "--metric", "ssim"], ["table", "--metric", "ssim"]])
def test_an_output_path_under_a_file_is_one_line(results, tmp_path, vpbench_cli, command):
    """`--output somefile/name` ended in mkdir's FileExistsError traceback (figures and tables alike)."""
    results_dir, _ = results
    blocker = tmp_path / "afile"
    blocker.write_text("keep me")
    output = blocker / "sub" / "name.md"
    code, _, error = vpbench_cli(*command, "--results-dir", str(results_dir), "--protocol", "10->10", "-o", str(output))
    assert code == 2
    assert error == f"error: cannot write {output}: {blocker} is a file, not a folder; pass another --output\n"
    assert blocker.read_text() == "keep me"
