"""Signals at any moment: Ctrl-C or SIGTERM at 20 evenly spaced moments of a run's start-up,
from the first line of the command line's main() (once Python has imported torch) until the
run is under way, and of its shutdown, from a first signal until the process ends: --serve
with weights, --serve while training, and a training run. Moments are counted in calls into
the project's code, not in seconds, so the sweep is the same on a fast machine and a slow one."""
from __future__ import annotations

import json
import signal
import sys
import textwrap
from dataclasses import dataclass

import pytest

from conftest import ROOT, limit, run_process

pytestmark = pytest.mark.slow  # python -m pytest --full

# The hooks a run is armed with, in the child, just before simple_cnn.main(). Moments are
# calls into pipeline/ or common.py, counted from the first call main() makes.
#
# at_call: SIGNAL at the TARGET-th call; TARGET 0 prints how many calls there are until the
# run is under way (the server waiting, or the first epoch training) and exits.
#
# after_first: a first SIGINT once the run is under way (as at_call's count ends: the training
# run's or the server's method wrapped), then SIGNAL at the TARGET-th call after it, while the
# run shuts down, counted by a trace hook set then. TARGET 0 prints how many calls the shutdown
# makes.
HOOKS = """
def ours(code):
    return "/pipeline/" in code.co_filename or code.co_filename.endswith("/common.py")


def under_way(code):
    return code.co_name in ("wait", "train_epochs")


def send(signum, mark):
    with open(mark, "w") as f:
        f.write("sent")
    os.kill(os.getpid(), signum)


def at_call(target, signum, mark):
    count, counting = 0, False

    def profile(frame, event, arg):
        nonlocal count, counting
        code = frame.f_code
        if event != "call" or not ours(code):
            return
        if not counting:  # from the first call main() makes
            counting = code.co_name == "main" and code.co_filename.endswith("cli.py")
            return
        count += 1
        if target == 0 and under_way(code):
            print(count, file=sys.stderr, flush=True)
            os._exit(0)
        if count == target:  # the signal lands as this call begins
            sys.setprofile(None)
            send(signum, mark)
    sys.setprofile(profile)


def after_first(target, signum, mark):
    count = 0

    def trace(frame, event, arg):
        nonlocal count
        if event != "call" or not ours(frame.f_code):
            return None
        count += 1
        if count == target:
            sys.settrace(None)
            send(signum, mark)
        return None

    def first(original):
        def under_way(*args, **kwargs):
            try:
                os.kill(os.getpid(), signal.SIGINT)  # its handler raises here, as it begins
                return original(*args, **kwargs)
            finally:
                sys.settrace(trace)  # each call after the first signal's handler counts
        return under_way
    from pipeline import serve, training  # the parent has imported them
    training.Training.train_epochs = first(training.Training.train_epochs)
    serve.Server.wait = first(serve.Server.wait)
    if target == 0:
        atexit.register(lambda: print(count, file=sys.stderr, flush=True))


def prepare_after_first():  # what a run loads as it starts: a shutdown's sweep begins later
    import torchvision.datasets
    from pipeline import flags, serve, training
"""

# Imports torch and simple_cnn once (what Python does before the script's first line: not
# part of the sweep; for a shutdown's sweep, all that a run loads as it starts), then forks a
# child for each run, two at a time. A child is the script
# from main()'s first line, armed with HOOK for its (TARGET, SIGNAL), its output in files of
# its own, and ends as a script ends (the interpreter's own exit included), or by SIGALRM at
# the deadline. Prints each run's exit status (-N: ended by signal N), as JSON.
SWEEPER = textwrap.dedent("""
    import atexit, json, os, signal, sys
    sys.path.insert(0, ROOT)
    import torch
    import simple_cnn
    exec(HOOKS)
    globals().get(f"prepare_{sys.argv[1]}", lambda: None)()
    arm, folder, runs, args = globals()[sys.argv[1]], sys.argv[2], json.loads(sys.argv[3]), sys.argv[4:]
    children, statuses, child = {}, {}, None

    def reap():
        pid, status = os.wait()
        statuses[children.pop(pid)] = os.waitstatus_to_exitcode(status)

    for i in range(len(runs)):
        if len(children) == 2:
            reap()
        pid = os.fork()
        if pid == 0:
            child = i
            break
        children[pid] = i
    if child is None:
        while children:
            reap()
        print(json.dumps([statuses[i] for i in range(len(runs))]))
    else:
        for fd, name in ((1, "out"), (2, "err")):
            os.dup2(os.open(f"{folder}/{child}.{name}", os.O_WRONLY | os.O_CREAT), fd)
        signal.alarm(DEADLINE)
        arm(*runs[child], f"{folder}/{child}.sent")
        simple_cnn.main(args)
""")


@dataclass
class Result:
    returncode: int
    stderr: str
    sent: bool


def forked(tmp_path, hook: str, runs: list[tuple[int, int]], args: list[str]) -> list[Result]:
    """Each (target, signal) of `runs`, as SWEEPER runs them."""
    folder = tmp_path / f"{hook}-{len(runs)}"
    folder.mkdir()
    script = tmp_path / "sweeper.py"
    script.write_text(SWEEPER.replace("ROOT", repr(str(ROOT))).replace("HOOKS", repr(HOOKS))
                      .replace("DEADLINE", str(round(limit(60)))))
    done = run_process([sys.executable, str(script), hook, str(folder), json.dumps(runs),
                        "--device", "cpu", *args], seconds=60 + 30 * len(runs))
    assert done.returncode == 0, done.stderr[-2000:]
    return [Result(status, (folder / f"{i}.err").read_text(), (folder / f"{i}.sent").exists())
            for i, status in enumerate(json.loads(done.stdout))]


def sweep(tmp_path, hook: str, args: list[str]):
    """How many calls the hook counts (its TARGET 0), and 20 evenly spaced calls, each run
    with one signal, Ctrl-C and SIGTERM in turn (the first and the last call with both):
    ((call, signal), result). Each run costs about a second of the interpreter's own exit
    with torch loaded, which keeps the full tier to ten minutes only at 22 runs, not 40."""
    calibration = forked(tmp_path, hook, [(0, signal.SIGINT)], args)[0]
    total = int(calibration.stderr.strip().splitlines()[-1])
    calls = [1 + round(k * (total - 1) / 19) for k in range(20)]
    runs = [(call, list(WORDS)[k % 2]) for k, call in enumerate(calls)]
    runs += [(calls[0], signal.SIGTERM), (calls[-1], signal.SIGINT)]
    return total, list(zip(runs, forked(tmp_path, hook, runs, args)))


WORDS = {signal.SIGINT: "interrupted", signal.SIGTERM: "terminated (SIGTERM)"}


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
    total, done = sweep(tmp_path, "at_call", COMMANDS[command](trained))
    failures = []
    for (target, signum), result in done:
        # SIGTERM before main() has put its handlers in place (its first call) ends the
        # process by the signal's own default action: status 143 in a shell, no line
        by_default = result.returncode == -signum and result.stderr == "" and target == 1
        ok = result.sent and (by_default or (
            result.returncode == 128 + signum and result.stderr.count("\n") == 1
            and result.stderr.startswith(f"stopped: {WORDS[signum]}")))
        if not ok:
            failures.append(f"call {target} of {total}, {signal.Signals(signum).name}: "
                            f"status {result.returncode}, {result.stderr[-300:]!r}")
    assert not failures, failures


@pytest.mark.parametrize("command", COMMANDS)
def test_a_second_signal_at_any_moment_of_shutdown_ends_the_run_with_one_line(command, trained,
                                                                              tmp_path):
    """A Ctrl-C once the run is under way, then Ctrl-C or SIGTERM at any moment of what it
    does to stop: the process ends, with the first one's line alone
    and its status (130), never a traceback."""
    total, done = sweep(tmp_path, "after_first", COMMANDS[command](trained))
    assert total > 0
    failures = []
    for (target, signum), result in done:
        ok = (result.sent and result.returncode == 130
              and result.stderr.count("\n") == 1
              and result.stderr.startswith("stopped: interrupted"))
        if not ok:
            failures.append(f"call {target} of {total}, {signal.Signals(signum).name}: "
                            f"status {result.returncode}, {result.stderr[-300:]!r}")
    assert not failures, failures
