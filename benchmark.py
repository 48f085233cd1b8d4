"""Time one epoch of each network with the project's pipeline and with the lecture's, side by side.

    python benchmark.py --data-dir ../shared/data
    python benchmark.py --data-dir ../shared/data --networks simple --repeats 3

The lecture's pipeline is its own code brought up to date: a DataLoader over
torchvision's MNIST with a per-sample ToTensor(), batch 64, shuffled, and the network in the
default memory format. The project's pipeline is common.py's: normalised tensors held on the
device, batches indexed from a permutation, channels_last. Both train the same network with
the same optimiser (SGD, lr 0.01, momentum 0.5) for one epoch and then run the test set; the
time is that wall time, which is what the scripts' "s/epoch" reports. The two run alternately
in one process, `--repeats` times, and the table shows the median of each.

This is a benchmark, not a test: run it on a quiet machine and read the ratio.
"""
from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch
import torch.nn.functional as F

import common
import inception_cnn
import simple_cnn

NETWORKS = {"simple": simple_cnn.Net, "inception": inception_cnn.Net}


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def lecture_epoch(net_factory, data_dir: str, device: torch.device) -> float:
    """The lecture's loop (10_1_cnn_mnist.py), minus its 2017 API, timed over train + test."""
    from torchvision import datasets, transforms

    train_set = datasets.MNIST(data_dir, train=True, transform=transforms.ToTensor())
    test_set = datasets.MNIST(data_dir, train=False, transform=transforms.ToTensor())
    train_loader = torch.utils.data.DataLoader(train_set, batch_size=64, shuffle=True)
    test_loader = torch.utils.data.DataLoader(test_set, batch_size=1000, shuffle=False)
    model = net_factory().to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.5)

    sync(device)
    start = time.perf_counter()
    model.train()
    for batch_idx, (data, target) in enumerate(train_loader):
        data, target = data.to(device), target.to(device)
        optimizer.zero_grad()
        loss = F.nll_loss(model(data), target)
        loss.backward()
        optimizer.step()
        if batch_idx % 10 == 0:
            loss.item()  # the lecture prints the loss every 10 batches
    model.eval()
    correct = 0
    with torch.no_grad():
        for data, target in test_loader:
            data, target = data.to(device), target.to(device)
            correct += (model(data).argmax(1) == target).sum().item()
    sync(device)
    return time.perf_counter() - start


def project_epoch(net_factory, train_data: common.Split, test_data: common.Split,
                  device: torch.device) -> float:
    """common.py's loop with its defaults (its log lines are counted, not shown)."""
    import contextlib
    import io

    torch.manual_seed(1)
    model = common.prepare_model(net_factory(), device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.5)
    generator = torch.Generator().manual_seed(1)
    sync(device)
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        common.train_epoch(model, optimizer, train_data, 1, 64, 10, generator)
        common.evaluate(model, test_data, 1000)
    sync(device)
    return time.perf_counter() - start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", default="./data", help="folder holding MNIST/raw (default: ./data)")
    p.add_argument("--device", default="auto", help="as in the scripts (default: auto)")
    p.add_argument("--networks", nargs="+", choices=list(NETWORKS), default=list(NETWORKS),
                   help="which networks to time (default: all)")
    p.add_argument("--repeats", type=common.positive_int, default=1,
                   help="epochs of each pipeline per network, alternating (default: 1)")
    args = p.parse_args()
    try:
        device = common.pick_device(args.device)
        train_data, test_data = common.load_mnist(args.data_dir, device)
    except common.UserError as e:
        raise SystemExit(f"error: {e}")

    cpu = platform.processor() or platform.machine()
    print(f"torch {torch.__version__}, device {device}, {torch.get_num_threads()} threads, "
          f"{cpu}, {platform.node()}")
    rows = []
    for name in args.networks:
        net = NETWORKS[name]
        lecture, project = [], []
        for r in range(args.repeats):
            lecture.append(lecture_epoch(net, args.data_dir, device))
            project.append(project_epoch(net, train_data, test_data, device))
            print(f"{name} repeat {r + 1}: lecture {lecture[-1]:.2f} s, project {project[-1]:.2f} s",
                  flush=True)
        rows.append((name, statistics.median(lecture), statistics.median(project)))

    print(f"\n{'network':<10} {'lecture s/epoch':>16} {'project s/epoch':>16} {'ratio':>7}")
    for name, lecture, project in rows:
        print(f"{name:<10} {lecture:>16.2f} {project:>16.2f} {project / lecture:>7.2f}")


if __name__ == "__main__":
    main()
