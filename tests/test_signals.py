"""Signals at any moment: Ctrl-C and SIGTERM at 20 evenly spaced moments of a run's start-up,
from the first line of the command line's main() (once Python has imported torch) until the
run is under way, and of its shutdown, from a first signal until the process ends: --serve
with weights, --serve while training, and a training run. Moments are counted in calls into
the project's code, not in seconds, so the sweep is the same on a fast machine and a slow one."""
from __future__ import annotations

import concurrent.futures
import signal
import sys
import textwrap

import pytest

from conftest import ROOT, run_process

pytestmark = pytest.mark.slow  # python -m pytest --full

# Runs simple_cnn.py's main() and sends itself SIGNAL at the TARGET-th call into pipeline/ or
# common.py, counted from main()'s first line; TARGET 0 prints how many calls there are until
# the run is under way (the server waiting, or the first epoch training) and exits.
AT_CALL = textwrap.dedent("""
    import os, sys
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
                f.write("sent")
            os.kill(os.getpid(), signum)
    sys.setprofile(profile)
    simple_cnn.main(sys.argv[4:])
""").replace("ROOT", repr(str(ROOT)))

WORDS = {signal.SIGINT: "interrupted", signal.SIGTERM: "terminated (SIGTERM)"}


def signalled(tmp_path, helper: str, target: int, signum: int, args: list[str]):
    """`helper` (AT_CALL or AFTER_FIRST) run with these arguments: its result, and whether
    it sent the signal."""
    script = tmp_path / f"helper-{abs(hash(helper))}.py"
    script.write_text(helper)
    mark = tmp_path / f"sent-{abs(hash(helper))}-{target}-{signum}"
    result = run_process([sys.executable, str(script), str(target), str(signum), str(mark),
                          "--device", "cpu", *args], seconds=60)
    return result, mark.exists()


def sweep(tmp_path, helper: str, args: list[str]):
    """How many calls the helper counts (its TARGET 0), and each of 20 evenly spaced calls,
    Ctrl-C and SIGTERM, run: ((call, signal), result, sent), two at a time."""
    calibration, _ = signalled(tmp_path, helper, 0, signal.SIGINT, args)
    total = int(calibration.stderr.strip().splitlines()[-1])
    runs = [(1 + round(k * (total - 1) / 19), signum) for k in range(20) for signum in WORDS]
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        return total, list(pool.map(lambda r: (r, *signalled(tmp_path, helper, *r, args)), runs))


COMMANDS = {
    "serve --load": lambda t: ["--load", t["weights"], "--serve", "--port", "0"],
    "serve training": lambda t: ["--data-dir", t["data"], "--epochs", "1", "--serve",
                                 "--port", "0"],
    "training": lambda t: ["--data-dir", t["data"], "--epochs", "2"],
}


@pytest.mark.parametrize("command", COMMANDS)
def test_a_signal_at_any_moment_of_start_up_ends_the_run_with_one_line(command, trained,
                                                                       tmp_path):
    """Never ignored (the process ends, by the signal: a run that went on would serve until
    the deadline, or train and exit 0), never a traceback: one line, and the exit status
    128 + N (130 for Ctrl-C, 143 for SIGTERM)."""
    total, done = sweep(tmp_path, AT_CALL, COMMANDS[command](trained))
    failures = []
    for (target, signum), result, sent in done:
        # SIGTERM before main() has put its handlers in place (its first call) ends the
        # process by the signal's own default action: status 143 in a shell, no line
        by_default = result.returncode == -signum and result.stderr == "" and target == 1
        ok = sent and (by_default or (
            result.returncode == 128 + signum and result.stderr.count("\n") == 1
            and result.stderr.startswith(f"stopped: {WORDS[signum]}")))
        if not ok:
            failures.append(f"call {target} of {total}, {signal.Signals(signum).name}: "
                            f"status {result.returncode}, {result.stderr[-300:]!r}")
    assert not failures, failures


# Runs simple_cnn.py's main(), sends itself FIRST (SIGINT) once the run is under way (as
# AT_CALL's count ends), then SIGNAL at the TARGET-th call into the project's code after that,
# while the run shuts down. The first signal's KeyboardInterrupt, raised inside the profile
# hook, takes that hook away (as Python does with a hook that raises), so the calls after it
# are counted by a trace hook. TARGET 0 prints how many calls the shutdown makes.
AFTER_FIRST = textwrap.dedent("""
    import atexit, os, signal, sys
    sys.path.insert(0, ROOT)
    import torch
    import simple_cnn
    target, signum, mark = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    count, counting, first = 0, False, False
    def ours(code):
        return "/pipeline/" in code.co_filename or code.co_filename.endswith("/common.py")
    def profile(frame, event, arg):
        global counting, first
        code = frame.f_code
        if event != "call" or not ours(code):
            return
        counting = counting or (code.co_name == "main" and code.co_filename.endswith("cli.py"))
        if counting and code.co_name in ("wait", "train_epochs"):
            first = True
            sys.setprofile(None)
            os.kill(os.getpid(), signal.SIGINT)
    def trace(frame, event, arg):
        global count
        if event != "call" or not first or not ours(frame.f_code):
            return None
        count += 1
        if count == target:
            sys.settrace(None)
            with open(mark, "w") as f:
                f.write("sent")
            os.kill(os.getpid(), signum)
        return None
    if target == 0:
        atexit.register(lambda: print(count, file=sys.stderr, flush=True))
    sys.setprofile(profile)
    sys.settrace(trace)
    simple_cnn.main(sys.argv[4:])
""").replace("ROOT", repr(str(ROOT)))


@pytest.mark.parametrize("command", COMMANDS)
def test_a_second_signal_at_any_moment_of_shutdown_ends_the_run_with_one_line(command, trained,
                                                                              tmp_path):
    """A Ctrl-C once the run is under way, then Ctrl-C or SIGTERM at any moment of what it
    does to stop: the process ends, with the first one's line alone
    and its status (130), never a traceback."""
    total, done = sweep(tmp_path, AFTER_FIRST, COMMANDS[command](trained))
    assert total > 0
    failures = []
    for (target, signum), result, sent in done:
        ok = (sent and result.returncode == 130
              and result.stderr.count("\n") == 1
              and result.stderr.startswith("stopped: interrupted"))
        if not ok:
            failures.append(f"call {target} of {total}, {signal.Signals(signum).name}: "
                            f"status {result.returncode}, {result.stderr[-300:]!r}")
    assert not failures, failures
