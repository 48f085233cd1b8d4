// The page: a learner draws a digit and watches the network read it. It only draws: every
// number comes from PyTorch on the server (pipeline/serve.py). One module per feature, each
// started by its init with the one page state (api.js), doing nothing when imported:
//   api.js       where answers come from, the page's state, "the latest request wins"
//   page.js      the modules below started together (here, and in the notebook's widget.js)
//   draw.js      grids of numbers on canvases
//   pad.js       the drawing pad, sent as it changes
//   answer.js    what the network sees: the prediction, the steps, the layers, where it looked
//   tolerate.js  the sliders and the probabilities across their range
//   slides.js    the slides' pooling and convolution, step by step
//   live.js      the run while it trains

import { pageState, serverAsk, serverListen } from "./api.js";
import { initPage } from "./page.js";

initPage(pageState(document, serverAsk, serverListen));
