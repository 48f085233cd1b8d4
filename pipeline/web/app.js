// The page: a learner draws a digit and watches the network read it. It only draws: every
// number comes from PyTorch on the server (pipeline/serve.py). One module per feature, each
// started by its init with the one page state (api.js), doing nothing when imported:
//   api.js       where answers come from, the page's state, "the latest request wins"
//   draw.js      grids of numbers on canvases
//   pad.js       the drawing pad, sent as it changes
//   answer.js    what the network sees: the prediction, the steps, the layers, where it looked
//   tolerate.js  the sliders and the probabilities across their range
//   slides.js    the slides' pooling and convolution, step by step
//   live.js      the run while it trains

import { pageState, serverAsk, serverListen } from "./api.js";
import { initAnswer } from "./answer.js";
import { initLive } from "./live.js";
import { initPad } from "./pad.js";
import { initSlides } from "./slides.js";
import { initTolerate } from "./tolerate.js";

async function describe(page, sliders) {  // the network, from /api/info
  const $ = page.$;
  try {
    const info = await page.ask("/api/info");
    const trained = info.live === "training" ? "training now; " : "";
    const beside = info.compare ? `; beside it on the page: ${info.compare}` : "";
    $("network").textContent = `${info.network}.py: ${trained}${info.parameters.toLocaleString("en")} parameters, layers ${info.layers.join(", ")}; classifier ${info.classifier}${beside}`;
    sliders.build(info.sliders);
    const pens = info.pen_digits && info.pen_digits !== "none";  // null: the file does not say
    $("misread-hint").hidden = pens;
    $("pens-hint").hidden = !pens;
    $("pens-trained").textContent = pens ? info.pen_digits : "";
    return info;
  } catch (error) {
    $("network").textContent = error.message;
    return {};
  }
}

const page = pageState(document, serverAsk, serverListen);
initAnswer(page);
const sliders = initTolerate(page);
const pad = initPad(page);
page.on.info = () => describe(page, sliders);
pad.replayPenDigit();
describe(page, sliders).then((info) => { if (info.live) initLive(page); });
initSlides(page);
