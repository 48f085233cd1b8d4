"""JupyterLab in a real browser: the notebook's widget (pipeline/notebook.py) as a learner
meets it.

The widget's browser test, tools.benchmark --drawing --notebook and the screenshot in docs/
start JupyterLab on a folder (no token, a free port, this machine only), open a notebook in
Debian's Chromium (tools/browser.py), run it top to bottom, add cells, and draw on a widget's
pad with tools/browser.py's own `draw` and `read`, which drive the --serve page too.

    python -m tools.jupyter --data-dir ../shared/data --shot docs/widget.png
"""
from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Iterator

from pipeline.errors import UserError

ROOT = Path(__file__).resolve().parents[1]

# JupyterLab's application object (--LabApp.expose_app_in_browser), the notebook open in it
NOTEBOOK = "window.jupyterapp.shell.currentWidget"
# each code cell's execution count, whether it failed, and the kernel's state
CELLS = f"""() => {{
    const nb = {NOTEBOOK}, cells = [];
    for (const cell of nb.content.model.cells) if (cell.type === "code")
        cells.push({{count: cell.executionCount, error: cell.outputs.toJSON().find((o) => o.output_type === "error") || null}});
    return {{cells, status: nb.sessionContext.session?.kernel?.status}};
}}"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def lab(folder: Path, env: dict[str, str] | None = None, seconds: float = 60) -> Iterator[str]:
    """JupyterLab serving `folder` on 127.0.0.1 with no token, its kernels given `env` too:
    its URL; stopped (with its kernels) after. Its log is kept for the error it raises."""
    runtime = Path(tempfile.mkdtemp(prefix="lab-"))
    port = free_port()
    command = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1",
               f"--port={port}", "--ServerApp.port_retries=0", "--IdentityProvider.token=",
               "--ServerApp.password=", f"--ServerApp.root_dir={folder}", "--allow-root",
               "--LabApp.expose_app_in_browser=True"]
    settings = {"JUPYTER_RUNTIME_DIR": str(runtime / "runtime"),
                "JUPYTER_CONFIG_DIR": str(runtime / "config"),
                "JUPYTERLAB_WORKSPACES_DIR": str(runtime / "workspaces"),
                "JUPYTERLAB_SETTINGS_DIR": str(runtime / "settings")}
    no_news = runtime / "settings" / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    no_news.parent.mkdir(parents=True)
    no_news.write_text('{"fetchNews": "false"}')  # offline: no toast asking to fetch news
    proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, start_new_session=True,
                            env={**os.environ, **settings, **(env or {})})
    log, up = [], threading.Event()

    def read_log() -> None:  # the whole log, so that JupyterLab never blocks on a full pipe
        for line in proc.stderr:
            log.append(line)
            if "is running at" in line:
                up.set()
        up.set()  # it ended

    threading.Thread(target=read_log, daemon=True).start()
    try:
        if not up.wait(seconds) or proc.poll() is not None:
            raise UserError("JupyterLab did not start:\n" + "".join(log[-20:]))
        yield f"http://127.0.0.1:{port}/"
    finally:
        stop(proc)
        shutil.rmtree(runtime, ignore_errors=True)


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM: JupyterLab shuts its kernels down and ends; whatever is left of its group
    after 30 s is killed."""
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        pass
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def open_notebook(browser, url: str, name: str, viewport: dict | None = None):
    """The notebook `name` open in JupyterLab, its kernel started: the browser's page."""
    page = browser.new_page(viewport=viewport or {"width": 1400, "height": 1400})
    page.goto(f"{url}lab/tree/{name}")
    page.wait_for_function(f"() => {NOTEBOOK}?.sessionContext?.session?.kernel")
    page.evaluate(f"() => {NOTEBOOK}.sessionContext.ready")
    return page


def run_all(page, seconds: float) -> None:
    """Run every cell, as Run → Run All Cells does, and wait until the last has run; a cell
    that fails is a UserError with its error."""
    page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
    finished(page, seconds)


def add_cell(page, source: str, seconds: float = 60) -> None:
    """A code cell added at the end of the notebook and run."""
    page.evaluate("""(source) => {
        const nb = window.jupyterapp.shell.currentWidget, shared = nb.content.model.sharedModel;
        shared.insertCell(shared.cells.length, {cell_type: "code", source});
        nb.content.activeCellIndex = shared.cells.length - 1;
        window.jupyterapp.commands.execute("notebook:run-cell");
    }""", source)
    finished(page, seconds)


def finished(page, seconds: float) -> None:
    """Wait until every code cell has run and the kernel is idle, or one has failed."""
    state = page.wait_for_function(f"""() => {{
        const s = ({CELLS})();
        const failed = s.cells.find((c) => c.error);
        if (failed) return s;
        return s.status === "idle" && s.cells.every((c) => c.count !== null) ? s : null;
    }}""", timeout=1000 * seconds).json_value()
    failed = [c["error"] for c in state["cells"] if c["error"]]
    if failed:
        e = failed[0]
        raise UserError(f"a cell failed: {e['ename']}: {e['evalue']}")


def pad_notebook(folder: Path, network: str) -> str:
    """A notebook in `folder` of one cell: the pad of `network`'s untrained Net (the
    project importable from anywhere). Its name."""
    import nbformat

    cell = nbformat.v4.new_code_cell(f"import sys\nsys.path.insert(0, {str(ROOT)!r})\n"
                                     f"import {network}\nfrom pipeline.notebook import pad\n"
                                     f"pad({network}.Net())")
    notebook = nbformat.v4.new_notebook(cells=[cell])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                       "language": "python"}
    nbformat.write(notebook, folder / "pad.ipynb")
    return "pad.ipynb"


def widgets(page):
    """The notebook's widgets (pipeline/notebook.py's pads), in the order shown."""
    return page.locator(".lecture10-page")


def project_copy(folder: Path) -> Path:
    """The project as a learner has it (its pen digits, no MNIST, no weights), in `folder`."""
    shutil.copytree(ROOT, folder, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns(".git", "__pycache__", "*.pt", "data"))
    shutil.copytree(ROOT / "data" / "unipen", folder / "data" / "unipen")
    return folder


def named(shot: Path, part: str) -> Path:
    return shot.with_stem(f"{shot.stem}-{part}")


def main() -> None:
    p = argparse.ArgumentParser(description="lecture10.ipynb run top to bottom in JupyterLab, "
                                "its widget drawn on and photographed")
    p.add_argument("--data-dir", default="./data", help="the folder holding MNIST/raw")
    p.add_argument("--shot", default="docs/widget.png", help="the screenshot's file")
    p.add_argument("--quick", action="store_true", help="LECTURE10_QUICK=1: every run short")
    args = p.parse_args()
    shoot(Path(args.data_dir).resolve(), Path(args.shot).resolve(), args.quick)


def shoot(data_dir: Path, shot: Path, quick: bool) -> None:
    """The notebook in a copy of the project, its pad after a 7 drawn, photographed in
    JupyterLab: its top (`shot`), its layers (-layers), and the training cell's pad (-live)."""
    from playwright.sync_api import sync_playwright

    from tools import browser

    with tempfile.TemporaryDirectory() as folder, sync_playwright() as p:
        project_copy(Path(folder))
        env = {"MNIST_DATA_DIR": str(data_dir), "LECTURE10_QUICK": "1" if quick else "0"}
        with lab(Path(folder), env) as url:
            chromium = browser.launch(p)
            page = open_notebook(chromium, url, "lecture10.ipynb", {"width": 1280, "height": 1300})
            run_all(page, 1800)
            widget = widgets(page).last
            browser.draw(page, browser.SEVEN, where=widget)
            print("the widget reads", browser.read(page, widget))
            parts = ((widget, shot), (widget.locator("#layers-panel"), named(shot, "layers")),
                     (widgets(page).first.locator("#live-panel"), named(shot, "live")))
            for part, name in parts:
                part.evaluate("(e) => e.scrollIntoView({block: 'start'})")
                page.screenshot(path=str(name))
                print(f"wrote {name}")
            chromium.close()


if __name__ == "__main__":
    main()
