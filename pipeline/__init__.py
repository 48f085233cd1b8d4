"""The tool belt around common.py's loop, one module per concern.

common.py is the lecture's core (the loader, train(), test()); these modules wrap it from
outside and import it, never the other way round:

    cli.py          the command line: flags, their checks, main() and the exit statuses
    settings.py     the run's settings, resolved once: recipe, typed flags, checkpoint
    recipes.py      --recipe lecture / fast: the lecture's values, optimiser, schedule
    networks.py     the networks: the scripts beside common.py that define `class Net`
    run.py          what a command asks: summary, predict, evaluate, or a training run
    training.py     the training run: where an epoch is cut, test passes, the last line
    augment.py      training-time augmentation: shift, rotate, scale, shear, thickness
    device.py       the device, the network's layout on it, --amp's autocast
    data.py         MNIST's files checked before loading; the user's own pictures
    checkpoints.py  atomic checkpoints, exact resume, safe loading
    report.py       metrics CSV, the plot, the layer summary
    board.py        --tensorboard: the metrics, figures, histograms and graph
    export.py       --export-onnx, checked with onnxruntime on the test set
    probe.py        one picture through a network, with hooks, in eval mode
    explain.py      --explain: one picture through the network, layer by layer (hooks)
    shapes.py       a layer that does not fit (Linear(100, 10)), said before any data
    layers.py       blocks that several networks share (BasicConv2d, Reduction_A)
    serve.py        --serve: the page in web/ and its JSON API
    browser.py      the page in Chromium, drawn on with the mouse (Playwright)
    files.py        writing files whole or not at all
    distributed.py  torchrun: process group, shards, all-reduce; no-ops without it
    interrupts.py   Ctrl-C, SIGTERM, SIGHUP: one line, and every rank stops at one step
    errors.py       UserError: one clear line, no traceback
"""
