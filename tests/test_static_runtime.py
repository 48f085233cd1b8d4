"""Where the static page's runtime comes from (pipeline/static.py): npm at export time into a
cache, or a folder given; every way that fails is one line, and nothing is written."""
from __future__ import annotations

import io
import os
import shutil
import stat
import sys
import tarfile

import pytest

from conftest import ROOT, run_process
from pipeline import static
from pipeline.errors import UserError

COPY = shutil.which("cp")  # found before a test narrows PATH


def fake_npm(folder, script: str) -> None:
    """An `npm` first on PATH that runs `script` (sh)."""
    npm = folder / "npm"
    npm.write_text(f"#!/bin/sh\n{script}\n")
    npm.chmod(npm.stat().st_mode | stat.S_IEXEC)


def package(path) -> None:
    """A tarball laid out as npm pack writes onnxruntime-web's (its dist files, tiny)."""
    with tarfile.open(path, "w:gz") as tgz:
        for name in static.ORT_FILES:
            data = f"// {name}\n".encode()
            info = tarfile.TarInfo(f"package/dist/{name}")
            info.size = len(data)
            tgz.addfile(info, io.BytesIO(data))


@pytest.fixture
def elsewhere(tmp_path, monkeypatch):
    """An empty cache, and a PATH of only `bin` (where a test may put its npm)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    (tmp_path / "bin").mkdir()
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    return tmp_path


def test_without_npm_it_says_what_to_do(elsewhere):
    with pytest.raises(UserError, match=r"npm is not installed here \(install Node.js\), or "
                                        r"download onnxruntime-web-[\d.]+\.tgz"):
        static.onnxruntime_web(None)


def test_npm_failing_is_its_last_line(elsewhere):
    fake_npm(elsewhere / "bin", "echo 'npm error code ENOTFOUND' >&2\necho 'npm error network unreachable' >&2\nexit 1")
    with pytest.raises(UserError, match=r"npm could not fetch onnxruntime-web@[\d.]+ \(npm error "
                                        r"network unreachable\); connect to the registry"):
        static.onnxruntime_web(None)


def test_npm_s_package_fills_the_cache_once(elsewhere):
    package(elsewhere / "pack.tgz")
    fake_npm(elsewhere / "bin", f'{COPY} {elsewhere / "pack.tgz"} "$4/onnxruntime-web.tgz"\n'
                                f'echo run >> {elsewhere / "runs"}')
    first = static.onnxruntime_web(None)
    assert first == static.cache_dir() and all((first / f).is_file() for f in static.ORT_FILES)
    assert static.onnxruntime_web(None) == first
    assert (elsewhere / "runs").read_text() == "run\n"  # the second time from the cache


def test_a_folder_given_is_the_package_or_its_dist(tmp_path):
    package(tmp_path / "pack.tgz")
    with tarfile.open(tmp_path / "pack.tgz") as tgz:
        tgz.extractall(tmp_path / "unpacked", filter="data")
    assert static.onnxruntime_web(str(tmp_path / "unpacked")) == tmp_path / "unpacked" / "package" / "dist"
    assert static.onnxruntime_web(str(tmp_path / "unpacked" / "package")) == tmp_path / "unpacked" / "package" / "dist"
    with pytest.raises(UserError, match=r"--onnxruntime .*: no ort\.wasm\.bundle\.min\.mjs and "
                                        r"ort-wasm-simd-threaded\.wasm there"):
        static.onnxruntime_web(str(tmp_path))


@pytest.mark.slow
def test_the_script_says_it_in_one_line_and_writes_nothing(trained, tmp_path):
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache"), "PATH": str(tmp_path)}
    result = run_process([sys.executable, str(ROOT / "simple_cnn.py"), "--load", trained["weights"],
                          "--export-page", str(tmp_path / "site")], env=env)
    assert result.returncode == 1 and result.stderr.startswith("error: --export-page needs onnxruntime-web")
    assert len(result.stderr.splitlines()) == 1 and not (tmp_path / "site").exists()
    usage = run_process([sys.executable, str(ROOT / "simple_cnn.py"), "--onnxruntime", str(tmp_path)])
    assert usage.returncode == 2 and "--onnxruntime gives --export-page its runtime" in usage.stderr


@pytest.mark.slow
def test_after_training_the_script_writes_the_page(mnist_dir, tmp_path):
    """--export-page after a (dry) run, from the runtime in the cache."""
    cached = all((static.cache_dir() / f).is_file() for f in static.ORT_FILES)
    if not cached:
        pytest.skip(f"onnxruntime-web is not in {static.cache_dir()} (python -m pipeline.static)")
    result = run_process([sys.executable, str(ROOT / "simple_cnn.py"), "--data-dir", str(mnist_dir),
                          "--dry-run", "--export-page", str(tmp_path / "site")])
    assert result.returncode == 0, result.stderr
    assert f"page: {tmp_path / 'site'}: " in result.stdout and (tmp_path / "site" / "network.onnx").is_file()
