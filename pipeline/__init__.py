"""The shared pipeline behind every script, split by concern; `common.py` re-exports it.

    errors.py       UserError: one clear line, no traceback
    data.py         MNIST on disk -> normalised tensors on the device; the user's own pictures
    loop.py         one training epoch, one evaluation, the lecture's printed lines
    recipes.py      --recipe lecture / fast: optimiser, schedule, batch size, epochs
    distributed.py  torchrun: process group, shards, all-reduce; no-ops without it
    checkpoints.py  atomic checkpoints, exact resume, safe loading
    report.py       metrics CSV, the plot, the layer summary
    cli.py          the command line, the device, and the run that ties them together
"""
