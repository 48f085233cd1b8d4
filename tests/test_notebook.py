"""lecture10.ipynb: the lecture as a notebook, run top to bottom on the tests' small MNIST."""
from __future__ import annotations

import importlib.util
import json
import re

import pytest

from conftest import NETWORKS, ROOT, limit

NOTEBOOK = ROOT / "lecture10.ipynb"


def cells(kind: str) -> list[dict]:
    return [c for c in json.loads(NOTEBOOK.read_text())["cells"] if c["cell_type"] == kind]


def test_the_notebook_is_committed_without_outputs():
    """Outputs are made where it runs: none in the repository, so a diff shows only code."""
    code = cells("code")
    assert code and all(c["outputs"] == [] and c["execution_count"] is None for c in code)


def test_the_notebook_runs_the_project_s_code_and_copies_none_of_it():
    source = "\n".join("".join(c["source"]) for c in cells("code"))
    for module in ("common", "simple_cnn", "inception_cnn"):
        assert re.search(rf"^import .*\b{module}\b", source, re.M), module
    for written_again in ("class Net", ".backward()", "optimizer.step()", "def train", "def test"):
        assert written_again not in source, written_again
    assert "common.train(" in source and "common.test(" in source


@pytest.mark.slow
def test_the_notebook_runs_top_to_bottom(mnist_dir, monkeypatch):
    """Every cell runs (a failing one fails the test with its traceback); the lecture's lines,
    the 320 and the 1408 are printed, and the figures drawn inline."""
    for package in ("nbclient", "ipykernel"):
        if importlib.util.find_spec(package) is None:
            pytest.skip(f"{package} is not installed (pip install -r requirements-dev.txt)")
    import nbformat
    from nbclient import NotebookClient

    monkeypatch.setenv("MNIST_DATA_DIR", str(mnist_dir))
    monkeypatch.setenv("LECTURE10_QUICK", "1")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(notebook, timeout=limit(300), kernel_name="python3",
                   resources={"metadata": {"path": str(ROOT)}}).execute()
    outputs = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs]
    printed = "".join(o.text for o in outputs if o.output_type == "stream" and o.name == "stdout")
    assert "so fc = nn.Linear(320, 10)" in printed and "into fc: 1408" in printed
    assert re.search(r"^Train Epoch: 1 \[0/1000 \(0%\)\]\tLoss: ", printed, re.M)
    assert re.search(r"^Test set: Average loss: [\d.]+, Accuracy: \d+/500 ", printed, re.M)
    figures = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(figures) == 5  # curves, filters, one digit's maps, confusion, mistakes


@pytest.mark.parametrize("network", NETWORKS)
def test_the_layer_figure_s_captions_do_not_run_into_each_other(network):
    """The notebook's layer-by-layer figure: each layer's caption within its own column."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch

    from pipeline import networks
    from pipeline.explain import Explainer, layer_maps

    torch.manual_seed(0)
    fig = layer_maps(Explainer(networks.load(network).Net())(torch.rand(1, 28, 28)))
    renderer = fig.canvas.get_renderer()
    boxes = [cell._suptitle.get_window_extent(renderer) for cell in fig.subfigs]
    plt.close(fig)
    for left, right in zip(boxes, boxes[1:]):
        assert left.x1 <= right.x0, (left, right)


@pytest.mark.slow
def test_offline_without_mnist_the_notebook_stops_on_the_scripts_line(tmp_path, offline, monkeypatch):
    """No MNIST in DATA_DIR and no network: the data cell's error is the line the scripts
    print, not torchvision's download traceback."""
    for package in ("nbclient", "ipykernel"):
        if importlib.util.find_spec(package) is None:
            pytest.skip(f"{package} is not installed (pip install -r requirements-dev.txt)")
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    monkeypatch.setenv("MNIST_DATA_DIR", str(tmp_path / "nothing here"))
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    with pytest.raises(CellExecutionError):
        NotebookClient(notebook, timeout=limit(300), kernel_name="python3",
                       resources={"metadata": {"path": str(ROOT)}}).execute()
    errors = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs
              if o.output_type == "error"]
    assert len(errors) == 1 and len(errors[0].traceback) == 1, errors
    assert errors[0].traceback[0].startswith(
        f"error: MNIST is not in {tmp_path / 'nothing here' / 'MNIST' / 'raw'} and could not be downloaded (")
    assert not (tmp_path / "nothing here").exists()  # nothing left behind
