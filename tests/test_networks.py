"""Every network, found as the scripts beside common.py that define `class Net` (a learner's
copy too): its output, its gradients, the flatten size its shape comment documents, and that
a copied and edited script is a network like the others."""
from __future__ import annotations

import re
import shutil
import sys

import pytest
import torch

import common
from conftest import FINISHED, NETWORKS, ROOT, TEST_LINE, run_process
from pipeline import networks
from pipeline.report import classifier as classifier_of, flatten_size

FLATTEN_COMMENT = re.compile(r"^\s+x = .*\.flatten\(1\).*# N x (\d+)\s*$", re.M)


@pytest.fixture(params=NETWORKS)
def module(request):
    return networks.load(request.param)


def documented_flatten(name: str) -> int:
    """The flatten size the script's forward states in its shape comment: `# N x 320`."""
    found = FLATTEN_COMMENT.findall((ROOT / f"{name}.py").read_text())
    assert len(found) == 1, f"{name}.py: forward needs one `x = ....flatten(1)  # N x K` line"
    return int(found[0])


def test_output_is_log_probabilities(module):
    torch.manual_seed(0)
    net = module.Net().eval()
    out = net(torch.randn(5, 1, 28, 28))
    assert out.shape == (5, 10)
    torch.testing.assert_close(out.exp().sum(dim=1), torch.ones(5))


def test_gradients_reach_every_parameter(module):
    torch.manual_seed(0)
    net = module.Net().train()
    common.training_loss(net(torch.randn(4, 1, 28, 28)), torch.tensor([0, 1, 2, 3])).backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_flatten_size_is_the_documented_one(module):
    net, name = module.Net(), module.__name__
    fc_name, classifier = classifier_of(net)
    got, documented = flatten_size(net), documented_flatten(name)
    assert classifier.in_features == got, (
        f"{name}.py: {got} features reach {fc_name}, which expects {classifier.in_features}: "
        f"make it nn.Linear({got}, ...)")
    assert documented == got, (
        f"{name}.py: the shape comment on forward's flatten line says N x {documented}, but "
        f"{got} features reach {fc_name}: change the comment (and those above it) to match")


def test_channels_last_gives_the_same_output(module):
    torch.manual_seed(0)
    net, x = module.Net().eval(), torch.randn(3, 1, 28, 28)
    expected = net(x)
    net = net.to(memory_format=torch.channels_last)
    got = net(x.contiguous(memory_format=torch.channels_last))
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)


def test_every_script_s_fast_recipe_is_flags_its_command_line_takes(module):
    """Each value of FAST, typed as its flag, is accepted by the parser and comes out as the
    recipe's value: no key without a flag, no value out of the flag's range or choices."""
    from pipeline.flags import make_parser

    assert module.DEFAULT_RECIPE in ("lecture", "fast")
    argv = [f"--{key.replace('_', '-')}={value}" for key, value in module.FAST.items()]
    parsed = vars(make_parser(None).parse_args(argv))
    assert {key: parsed[key] for key in module.FAST} == module.FAST


def my_cnn(folder):
    """simple_cnn.py copied to my_cnn.py for exercise 10-1, its Net made wider: conv1 gives 16
    channels and conv2 32, so 32 x 4 x 4 = 512 reach the classifier."""
    source = (ROOT / "simple_cnn.py").read_text()
    for old, new in [("nn.Conv2d(1, 10,", "nn.Conv2d(1, 16,"), ("nn.Conv2d(10, 20,", "nn.Conv2d(16, 32,"),
                     ("nn.Linear(320,", "nn.Linear(512,"), ("# N x 320", "# N x 512")]:
        assert old in source
        source = source.replace(old, new)
    (folder / "my_cnn.py").write_text(source)
    return folder / "my_cnn.py"


@pytest.mark.slow
def test_a_copied_and_edited_script_is_found_checked_and_trained(mnist_dir, tmp_path):
    folder = tmp_path / "scripts"
    folder.mkdir()
    for name in networks.names():
        shutil.copy(ROOT / f"{name}.py", folder)
    script = my_cnn(folder)
    assert "my_cnn" in networks.names(folder)
    mine = networks.load("my_cnn", folder)
    assert flatten_size(mine.Net()) == 512 == documented_flatten_in(script)
    result = run_process([sys.executable, str(script), "--recipe", "fast", "--epochs", "1",
                          "--data-dir", str(mnist_dir), "--device", "cpu",
                          "--log-interval", "1000"],
                         seconds=300,
                         env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    assert len(TEST_LINE.findall(result.stdout)) == 1 and FINISHED.search(result.stdout)


def documented_flatten_in(path) -> int:
    return int(FLATTEN_COMMENT.findall(path.read_text())[0])
