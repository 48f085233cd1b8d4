"""The tool belt around common.py's loop, one module per concern.

common.py is the lecture's core (the loader, train(), test()) and imports nothing of this
package; these modules wrap it from outside and import it. A script's main() hands its `Net`
and recipe to cli.main, so the imports run one way: script -> cli -> ... -> common.

    cli.py          the command line's main(): signal handlers first, then one line and an
                    exit status for whatever went wrong
    flags.py        the flags, the checks of their combinations, the settings they resolve to
    settings.py     the run's settings, resolved once: recipe, typed flags, checkpoint
    recipes.py      --recipe lecture / fast / handwriting: values, optimiser, schedule
    networks.py     the networks: the scripts beside common.py that define `class Net`
    run.py          what a command asks: summary, predict, evaluate, or a training run
    training.py     the training run: its state, where an epoch is cut, its watchers
    parts.py        what a run builds before its first batch: data, optimiser, batch order
    progress.py     where a run is: its position, the losses added up, the metrics so far
    saving.py       what a run keeps after a test pass: metrics, the training state
    results.py      what a finished run says and leaves: its last line, weights, plot
    stops.py        what stopped a command, as one line and an exit status
    augment.py      training-time augmentation: shift, rotate, scale, shear, thickness
    device.py       the device, the network's layout on it, --amp's autocast
    data.py         MNIST's files checked before loading; the user's own pictures
    pens.py         people's pen digits (UNIPEN, data/unipen/): read, checked, drawn for training
    styles.py       ways whole regions write digits, made from pen strokes; torn between two
    checkpoints.py  atomic checkpoints, exact resume, safe loading
    report.py       metrics CSV, the plot, the layer summary
    board.py        --tensorboard: a watcher of the run (metrics, figures, graph)
    export.py       --export-onnx, checked with onnxruntime on the test set
    probe.py        one picture through a network, with hooks, in eval mode
    explain.py      --explain: one picture through the network, layer by layer (hooks)
    attribute.py    where it looked: Captum's saliency, Integrated Gradients, occlusion
    tolerate.py     what it tolerates: the digit shifted, turned, scaled, thickened
    shapes.py       a layer that does not fit (Linear(100, 10)), said before any data
    serve.py        --serve: the HTTP server of the page in web/ (HTML, JS modules, CSS)
    answers.py      the page's JSON answers: a drawing layer by layer, and why
    page.py         the page's answers by path, for every home: server, notebook, files
    notebook.py     the page's pad in a notebook cell (anywidget), answered by the kernel
    static.py       --export-page: the page as a static site, run by onnxruntime-web
    slides.py       the slides' worked examples of pooling and convolution
    live.py         --serve while training: a watcher of the run, pushed to the page
    files.py        writing files whole or not at all
    distributed.py  torchrun: process group, shards, all-reduce; no-ops without it
    interrupts.py   Ctrl-C, SIGTERM, SIGHUP: one line, and every rank stops at one step
    errors.py       UserError: one clear line, no traceback
    measured.py     what was measured, read from docs/measured.json

The blocks several networks share (BasicConv2d, Reduction_A) are model code: blocks.py, at
the root beside the scripts. What measures the project (benchmark, seeds, handwriting, styles,
the browser driver) is in tools/.
"""
