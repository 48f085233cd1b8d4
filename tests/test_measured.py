"""What was measured is stated once: docs/measured.json, written by the measuring tools
(tools.seeds --record, tools.handwriting folds --record). The README's table says what it
holds, and each script's --help states its own row."""
from __future__ import annotations

import json
import re

import pytest

from conftest import NETWORKS, ROOT, run
from pipeline import measured, networks

# | `simple_cnn.py` | slide ... | accuracy | one run | pen digits | static page |
ROW = re.compile(r"^\| `(\w+)\.py` \| [^|]+ \| ([^|]+) \| ([^|]+) \| ([^|]+) \| [^|]+ \|$", re.M)


def readme_table() -> dict[str, tuple[str, str, str]]:
    text = (ROOT / "README.md").read_text()
    return {m.group(1): tuple(cell.strip() for cell in m.groups()[1:])
            for m in ROW.finditer(text)}


def test_the_readme_s_table_says_what_docs_measured_json_holds():
    table, recorded = readme_table(), json.loads(measured.PATH.read_text())
    assert set(table) == set(recorded["accuracy"]) >= {"simple_cnn", "inception_cnn"}
    for network, (accuracy, seconds, pens) in table.items():
        m = recorded["accuracy"][network]
        assert accuracy.startswith(f"{m['mean']:.2f}% ± {m['std']:.2f}, {m['seeds']} seeds"), \
            network
        assert seconds == f"{m['seconds'][0]}–{m['seconds'][1]} s", network
        p = recorded["pen digits"].get(network)
        if p is None:
            assert "%" not in pens, network  # nothing measured, nothing said
        else:
            one = f", seed {p['first_seed']}" if p["seeds"] == 1 else ""
            assert pens == f"{p['pictures']:.1f}%; {p['drawn']:.1f}%{one}", network


@pytest.mark.parametrize("script", [n for n in NETWORKS if n in json.loads(
    measured.PATH.read_text())["accuracy"]])
def test_help_states_the_script_s_own_row(script, capsys):
    module = networks.load(script)
    code, out, _ = run(module, capsys, "--help")
    m = json.loads(measured.PATH.read_text())["accuracy"][script]
    assert code == 0 and (f"What a run reaches (real MNIST, {m['settings']}, seeds "
                          f"{m['first_seed']}-{m['first_seed'] + m['seeds'] - 1}): "
                          f"{m['mean']:.2f}% ± {m['std']:.2f}") in " ".join(out.split())


def test_the_readme_s_mouse_move_is_the_one_measured():
    move = json.loads(measured.PATH.read_text())["drawing"]["simple_cnn"]["move_ms"]
    readme = " ".join((ROOT / "README.md").read_text().split())
    assert f"A mouse move waits {move:.0f} ms in Chromium while answers arrive" in readme


def test_the_readme_s_notebook_mouse_move_is_the_one_measured():
    m = json.loads(measured.PATH.read_text())["drawing in a notebook"]["simple_cnn"]
    readme = " ".join((ROOT / "README.md").read_text().split())
    assert (f"A mouse move on it waits {m['widget_move_ms']:.0f} ms beside the page's "
            f"{m['page_move_ms']:.0f} ms in one run") in readme
