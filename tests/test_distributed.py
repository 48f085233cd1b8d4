"""torchrun with two gloo processes on the CPU, on small generated data."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
import torch

from conftest import FINISHED, ROOT, TEST_LINE, TRAIN_LINE, run_process
from pipeline import checkpoints, pens

pytestmark = [pytest.mark.slow,  # python -m pytest --full
              pytest.mark.skipif(not torch.distributed.is_available(),
                                 reason="this torch build has no torch.distributed")]

# Runs a script's main() under torchrun and then saves this rank's weights, so the test can
# compare the ranks. The script itself only ever writes from rank 0.
DUMP_RANK_WEIGHTS = textwrap.dedent("""
    import os, sys
    sys.path.insert(0, {root!r})
    import torch
    import pipeline.run
    models = []
    prepare = pipeline.run.prepare_model
    pipeline.run.prepare_model = lambda net, device: models.append(prepare(net, device)) or models[-1]
    import {script} as script
    try:
        script.main(sys.argv[1:])
    finally:
        torch.save(models[0].state_dict(), os.path.join({out!r}, f"rank{{os.environ['RANK']}}.pt"))
""")


def torchrun(tmp_path, script: str, *args: str, nproc: int = 2, extra=()):
    wrapper = tmp_path / f"dump_{script}.py"
    wrapper.write_text(DUMP_RANK_WEIGHTS.format(root=str(ROOT), script=script, out=str(tmp_path)))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return run_process(
        [sys.executable, "-m", "torch.distributed.run", "--standalone",
         f"--nproc-per-node={nproc}", *extra, str(wrapper), "--device", "cpu", *args],
        seconds=600, env=env, cwd=tmp_path)


def failure(result: subprocess.CompletedProcess) -> str:
    """What a failed torchrun printed: the end of rank 0's log (where it got to), then stderr."""
    return f"stdout:\n{result.stdout[-1500:]}\nstderr:\n{result.stderr[-3000:]}"


@pytest.mark.parametrize("script", ["simple_cnn", "deep_cnn"])
def test_two_processes_train_one_model(script, mnist_dir, tmp_path, capsys):
    checkpoint = tmp_path / "ck.pt"
    result = torchrun(tmp_path, script, "--data-dir", str(mnist_dir), "--epochs", "2",
                      "--checkpoint", str(checkpoint), "--batch-size", "32",
                      "--log-interval", "5", "--lr", "0.05", "--recipe", "lecture")
    assert result.returncode == 0, failure(result)
    out = result.stdout
    # one log: rank 0's lines only, each once
    assert len(TEST_LINE.findall(out)) == 2 and len(FINISHED.findall(out)) == 1
    firsts = [m for m in TRAIN_LINE.finditer(out) if m.group(1) == "1"]
    # rank 0's lines: its half of the 2000 images, 32 x 5 of them at the second line
    assert [m.group(2, 3) for m in firsts[:2]] == [("0", "1000"), ("160", "1000")]
    # the ranks end with identical weights
    rank0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    rank1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    for name, value in rank0.items():
        assert torch.equal(value, rank1[name]), name
    # one checkpoint, written by rank 0, that a single process evaluates to the same line
    assert sorted(f for f in os.listdir(tmp_path) if f.endswith(".pt")) == [
        "ck.pt", "rank0.pt", "rank1.pt"]
    ck = checkpoints.read(str(checkpoint))
    assert ck["epoch"] == 2 and len(ck["rng"]["torch"]) == 2
    for name, value in rank0.items():
        assert torch.equal(value, ck["model"][name]), name
    module = __import__(script)
    module.main(["--device", "cpu", "--data-dir", str(mnist_dir), "--load", str(checkpoint),
                 "--evaluate"])
    single = capsys.readouterr().out
    assert TEST_LINE.findall(single) == TEST_LINE.findall(out)[-1:]


def test_resume_under_torchrun_and_a_restarted_worker_carries_on(mnist_dir, tmp_path):
    checkpoint = tmp_path / "ck.pt"
    common_args = ("--data-dir", str(mnist_dir), "--checkpoint", str(checkpoint),
                   "--batch-size", "32", "--log-interval", "100")
    first = torchrun(tmp_path, "simple_cnn", *common_args, "--epochs", "1")
    assert first.returncode == 0, failure(first)
    resumed = torchrun(tmp_path, "simple_cnn", *common_args, "--epochs", "2",
                       "--resume", str(checkpoint))
    assert resumed.returncode == 0, failure(resumed)
    assert [m.group(1) for m in TRAIN_LINE.finditer(resumed.stdout)] == ["2"]
    assert checkpoints.read(str(checkpoint))["epoch"] == 2
    # A worker that dies in epoch 3 is restarted by torchrun (with the other ranks), and the
    # run continues from epoch 2's checkpoint instead of starting over.
    crash = tmp_path / "crash_once.py"
    crash.write_text(textwrap.dedent(f"""
        import os, sys
        sys.path.insert(0, {str(ROOT)!r})
        import common
        train = common.train
        def crashing(model, optimizer, batches, epoch, log_interval):
            if epoch == 3 and os.environ["TORCHELASTIC_RESTART_COUNT"] == "0":
                os._exit(17) if os.environ["RANK"] == "1" else None
            return train(model, optimizer, batches, epoch, log_interval)
        common.train = crashing
        import simple_cnn
        simple_cnn.main(sys.argv[1:])
    """))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    restarted = run_process(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2",
         "--max-restarts=1", str(crash), "--device", "cpu", *common_args, "--epochs", "4",
         "--resume", str(checkpoint)],
        seconds=600, env=env, cwd=tmp_path)
    assert restarted.returncode == 0, failure(restarted)
    epochs_trained = [m.group(1) for m in TRAIN_LINE.finditer(restarted.stdout)]
    assert "1" not in epochs_trained and "2" not in epochs_trained  # nothing repeated from scratch
    assert epochs_trained.count("4") == 1
    assert checkpoints.read(str(checkpoint))["epoch"] == 4


def test_cleanup_frees_the_ddp_wrapper_before_leaving_the_group(tmp_path):
    """A DistributedDataParallel wrapper in a reference cycle is freed only by a garbage
    collection (in a fresh process, torch 2.14.1, DDP makes such a cycle itself). Left to one
    during interpreter shutdown, a finished torchrun run could end in SIGABRT ("terminate called
    without an active exception"), so cleanup() collects before it leaves the group."""
    import gc
    import weakref

    from pipeline import distributed

    store = torch.distributed.FileStore(str(tmp_path / "store"), 1)
    torch.distributed.init_process_group("gloo", store=store, rank=0, world_size=1)
    gc.disable()  # only an explicit collection may free it
    try:
        ddp = torch.nn.parallel.DistributedDataParallel(torch.nn.Linear(3, 2))
        ddp(torch.randn(4, 3)).sum().backward()
        wrapper = weakref.ref(ddp)
        cycle = [ddp]
        cycle.append(cycle)
        del ddp, cycle
        assert wrapper() is not None  # held by the cycle alone
        distributed.cleanup()
        assert wrapper() is None and not distributed.active()
    finally:
        gc.enable()
        if distributed.active():
            torch.distributed.destroy_process_group()


def test_each_rank_trains_its_shard_of_mnist_and_the_pen_digits(mnist_dir, tmp_path):
    result = torchrun(tmp_path, "simple_cnn", "--data-dir", str(mnist_dir), "--epochs", "1",
                      "--batch-size", "32", "--log-interval", "5", "--pen-digits", "apa")
    assert result.returncode == 0, failure(result)
    assert result.stdout.count("Training on 2,000 MNIST images and 692 pen digits (apa)") == 1
    firsts = [m for m in TRAIN_LINE.finditer(result.stdout) if m.group(1) == "1"]
    drawn = pens.PenPictures.of(pens.chosen("apa"), torch.device("cpu")).per_epoch  # and styles
    half = str((2000 + drawn) // 2)
    assert [m.group(2, 3) for m in firsts[:2]] == [("0", half), ("160", half)]
    rank0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    rank1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    for name, value in rank0.items():
        assert torch.equal(value, rank1[name]), name
