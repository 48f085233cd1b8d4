// The page: a learner draws a digit and watches the network read it. It only draws: every
// number comes from the server's PyTorch (pipeline/serve.py). One module per feature:
//   api.js       requests, and "the latest request wins"
//   draw.js      grids of numbers on canvases
//   pad.js       the drawing pad, sent as it changes
//   answer.js    what the network sees: the prediction, the steps, the layers, where it looked
//   tolerate.js  the sliders and the probabilities across their range
//   slides.js    the slides' pooling and convolution, step by step
//   live.js      the run while it trains

import { $, api } from "./api.js";
import { attributeTo, onDigitClicked } from "./answer.js";
import { lastPicture, readAgain, replayPenDigit, startPad } from "./pad.js";
import { training, watch } from "./live.js";
import { startSlides } from "./slides.js";
import { askTolerance, buildSliders } from "./tolerate.js";

async function loadInfo() {
  try {
    const info = await api("/api/info");
    const trained = info.live === "training" ? "training now; " : "";
    const beside = info.compare ? `; beside it on the page: ${info.compare}` : "";
    $("network").textContent = `${info.network}.py: ${trained}${info.parameters.toLocaleString("en")} parameters, layers ${info.layers.join(", ")}; classifier ${info.classifier}${beside}`;
    if (!$("sliders").children.length) buildSliders(info.sliders, lastPicture);
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

onDigitClicked((digit) => attributeTo(lastPicture(), digit));
startPad({ training, strokeEnded: askTolerance });
replayPenDigit();
loadInfo().then((info) => {
  if (info.live) watch({ snapshot: readAgain, ended: () => { loadInfo(); readAgain(); } });
});
startSlides();
