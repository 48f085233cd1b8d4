"""People's pen digits (data/unipen/, pipeline/pens.py): the shipped file, and damaged ones."""
from __future__ import annotations

import collections
import gzip
import json

import pytest

from pipeline import pens
from pipeline.errors import UserError


def test_the_shipped_file_holds_every_pen_digit_of_the_six_institutions():
    digits = pens.load()
    assert len(digits) == 11243
    by_source = collections.Counter(d.source for d in digits)
    assert by_source == {"syn": 4554, "apb": 2033, "ibm": 1571, "ced": 1347, "app": 1046,
                         "apa": 692}
    assert {d.label for d in digits} == set(range(10))
    first = digits[0]
    assert first.strokes and all(len(point) == 2 for stroke in first.strokes for point in stroke)
    assert min(x for s in first.strokes for x, _ in s) == 0  # shifted to the digit's box
    assert min(y for s in first.strokes for _, y in s) == 0


def write(path, lines: list[str]) -> None:
    with gzip.open(path, "wt") as f:
        f.write("".join(line + "\n" for line in lines))


GOOD = json.dumps({"label": 7, "writer": "w1", "source": "syn", "strokes": [[[0, 0], [5, 9]]]})


@pytest.mark.parametrize("bad", [
    "not json",
    json.dumps({"label": 12, "writer": "w", "source": "syn", "strokes": [[[0, 0]]]}),
    json.dumps({"label": 3, "writer": "w", "source": "mnist", "strokes": [[[0, 0]]]}),
    json.dumps({"label": 3, "writer": "w", "source": "syn", "strokes": [[[0.5, 0]]]}),
    json.dumps({"label": 3, "writer": "w", "source": "syn", "strokes": []}),
    json.dumps({"label": 3, "source": "syn", "strokes": [[[0, 0]]]}),
])
def test_a_line_that_is_not_a_pen_digit_is_named(bad, tmp_path):
    path = tmp_path / "digits.jsonl.gz"
    write(path, [GOOD, bad])
    with pytest.raises(UserError, match=rf"^{path}, line 2: not a pen digit \(") as error:
        pens.load(path)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("damage", ["cut short", "not gzip", "empty"])
def test_a_damaged_or_missing_file_is_one_line(damage, tmp_path):
    path = tmp_path / "digits.jsonl.gz"
    write(path, [GOOD] * 50)
    data = path.read_bytes()
    path.write_bytes({"cut short": data[:len(data) // 2], "not gzip": b"{\"label\": 7}",
                      "empty": gzip.compress(b"")}[damage])
    with pytest.raises(UserError, match=rf"^{path}: ") as error:
        pens.load(path)
    assert "\n" not in str(error.value)
    with pytest.raises(UserError, match="no such file"):
        pens.load(tmp_path / "missing.jsonl.gz")
