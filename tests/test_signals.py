"""Signals at any moment: Ctrl-C and SIGTERM at 20 evenly spaced moments of a run's start-up,
from the first line of the command line's main() (once Python has imported torch) until the
run is under way: --serve with weights, --serve while training, and a training run. Moments
are counted in calls into the project's code, not in seconds, so the sweep is the same on a
fast machine and a slow one."""
from __future__ import annotations

import concurrent.futures
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from conftest import ROOT

pytestmark = pytest.mark.slow  # python -m pytest --full

# Runs simple_cnn.py's main() and sends itself SIGNAL at the TARGET-th call into pipeline/ or
# common.py, counted from main()'s first line; TARGET 0 prints how many calls there are until
# the run is under way (the server waiting, or the first epoch training) and exits.
AT_CALL = textwrap.dedent("""
    import os, sys, time
    sys.path.insert(0, ROOT)
    import torch  # Python's own import of torch: before the sweep
    import simple_cnn
    target, signum, mark = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    count, counting = 0, False
    def profile(frame, event, arg):
        global count, counting
        code = frame.f_code
        if event != "call" or not ("/pipeline/" in code.co_filename
                                   or code.co_filename.endswith("/common.py")):
            return
        if not counting:  # from the first call main() makes
            counting = code.co_name == "main" and code.co_filename.endswith("cli.py")
            return
        count += 1
        if target == 0 and code.co_name in ("wait", "train_epochs"):
            print(count, file=sys.stderr, flush=True)
            os._exit(0)
        if count == target:  # the signal lands as this call begins
            sys.setprofile(None)
            with open(mark, "w") as f:
                f.write(str(time.time()))
            os.kill(os.getpid(), signum)
    sys.setprofile(profile)
    simple_cnn.main(sys.argv[4:])
""").replace("ROOT", repr(str(ROOT)))

WORDS = {signal.SIGINT: "interrupted", signal.SIGTERM: "terminated (SIGTERM)"}


def at_call(tmp_path, target: int, signum: int, args: list[str]):
    helper = tmp_path / "at_call.py"
    helper.write_text(AT_CALL)
    mark = tmp_path / f"sent-{target}-{signum}"
    result = subprocess.run([sys.executable, str(helper), str(target), str(signum), str(mark),
                             "--device", "cpu", *args], capture_output=True, text=True,
                            timeout=60)
    return result, float(mark.read_text()) if mark.exists() else None, time.time()


COMMANDS = {
    "serve --load": lambda t: ["--load", t["weights"], "--serve", "--port", "0"],
    "serve training": lambda t: ["--data-dir", t["data"], "--epochs", "1", "--serve",
                                 "--port", "0"],
    "training": lambda t: ["--data-dir", t["data"], "--epochs", "2"],
}


@pytest.mark.parametrize("command", COMMANDS)
def test_a_signal_at_any_moment_of_start_up_ends_the_run_with_one_line(command, trained,
                                                                       tmp_path):
    """Never ignored (the process ends within 5 s of the signal), never a traceback: one
    line, and the exit status 128 + N (130 for Ctrl-C, 143 for SIGTERM)."""
    args = COMMANDS[command](trained)
    calibration, _, _ = at_call(tmp_path, 0, signal.SIGINT, args)
    total = int(calibration.stderr.strip().splitlines()[-1])
    runs = [(1 + round(k * (total - 1) / 19), signum) for k in range(20) for signum in WORDS]
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        done = list(pool.map(lambda r: (r, *at_call(tmp_path, *r, args)), runs))
    failures = []
    for (target, signum), result, sent, ended in done:
        # SIGTERM before main() has put its handlers in place (its first call) ends the
        # process by the signal's own default action: status 143 in a shell, no line
        by_default = result.returncode == -signum and result.stderr == "" and target == 1
        ok = sent is not None and ended - sent < 5 and (by_default or (
            result.returncode == 128 + signum and result.stderr.count("\n") == 1
            and result.stderr.startswith(f"stopped: {WORDS[signum]}")))
        if not ok:
            failures.append(f"call {target} of {total}, {signal.Signals(signum).name}: "
                            f"status {result.returncode}, {result.stderr[-300:]!r}")
    assert not failures, failures
