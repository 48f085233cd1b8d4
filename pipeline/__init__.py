"""The shared pipeline behind every script, split by concern; `common.py` re-exports it.

    cli.py          the command line: flags, their checks, main() and the exit statuses
    run.py          what a command asks: summary, predict, evaluate, or a training run
    training.py     the training run: start or resume, epochs, test passes, the last line
    loop.py         one training epoch, one evaluation, the lecture's printed lines
    recipes.py      --recipe lecture / fast: settings, optimiser, schedule
    device.py       the device, and the network's place and layout on it
    data.py         MNIST on disk -> normalised tensors on the device; the user's own pictures
    checkpoints.py  atomic checkpoints, exact resume, safe loading
    report.py       metrics CSV, the plot, the layer summary
    board.py        --tensorboard: the metrics, figures, histograms and graph
    export.py       --export-onnx, checked with onnxruntime on the test set
    explain.py      --explain: one picture through the network, layer by layer (hooks)
    shapes.py       a layer that does not fit (Linear(100, 10)), said before any data
    serve.py        --serve: the page in web/ and its JSON API
    files.py        writing files whole or not at all
    distributed.py  torchrun: process group, shards, all-reduce; no-ops without it
    interrupts.py   Ctrl-C, SIGTERM, SIGHUP: one line, and every rank stops at one step
    errors.py       UserError: one clear line, no traceback
"""
