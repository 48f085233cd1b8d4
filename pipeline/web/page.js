// The page's modules started together, with one page state (api.js), wherever the page is:
// app.js starts it for --serve's page, widget.js for the notebook's widget.

import { initAnswer } from "./answer.js";
import { initLive } from "./live.js";
import { initPad } from "./pad.js";
import { initSlides } from "./slides.js";
import { initTolerate } from "./tolerate.js";

// `live`: the network trains as the page opens (a notebook's widget knows it before it asks)
export function initPage(page, live = false) {
  initAnswer(page);
  const sliders = initTolerate(page);
  const pad = initPad(page);
  page.on.info = () => describe(page, sliders);
  pad.replayPenDigit();
  if (live) initLive(page);
  describe(page, sliders).then((info) => { if (info.live && !live) initLive(page); });
  initSlides(page);
}

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
