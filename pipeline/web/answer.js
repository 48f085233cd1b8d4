// What the network sees: one answer of /api/predict drawn on the page (the prediction and
// its bars, the preparation step by step, each layer's maps, the flatten, where it looked).
// Panels are made once and repainted in place; they are made again only when their number
// (or, for the layers, their names and shapes) changes.

import { GREYS, numberTable, overlay, paintGrid, range, strip } from "./draw.js";

export function initAnswer(page) {
  // pending: the latest answer not drawn yet (at most one redraw per frame); shownInput: the
  // prepared 28 x 28 drawn last, under the attribution maps; made: each box's key, once made
  const view = { page, $: page.$, pending: null, shownInput: null, made: new Map() };
  page.on.show = (answer) => showSoon(view, answer);
  page.on.clear = () => clearAnswer(view);
  view.$("zoom-close").addEventListener("click", () => { view.$("zoom").hidden = true; });
}

function showSoon(view, answer) {  // at most one redraw per frame, of the latest answer
  if (view.pending === null) {
    requestAnimationFrame(() => {
      const started = performance.now();
      if (view.pending !== null) show(view, view.pending);
      view.pending = null;
      const times = view.$("timing").dataset;  // each answer's drawing time, for the tests
      times.drawnMs = [times.drawnMs, (performance.now() - started).toFixed(1)].filter(Boolean).join(" ");
    });
  }
  view.pending = answer;
}

function clearAnswer(view) {
  const $ = view.$;
  view.pending = null;
  view.shownInput = null;
  $("digit").textContent = "–";
  delete $("digit").dataset.drawing;
  $("confidence").textContent = "";
  $("torn").hidden = true;
  for (const id of ["layers", "steps", "attribution", "sweeps", "bars"]) {
    $(id).replaceChildren();
    view.made.delete(id);
  }
  delete $("timing").dataset.drawnMs;
}

function show(view, answer) {  // repainted in place: made again only when their number changes
  const $ = view.$;
  $("digit").textContent = answer.digit;
  $("digit").dataset.drawing = answer.drawing ?? "";  // the pad's version it answers (pad.js)
  $("confidence").textContent = `(${(100 * answer.probabilities[answer.digit]).toFixed(1)}%)`;
  $("torn").hidden = !answer.torn;  // the two likeliest close: both named (pipeline/styles.py's torn)
  $("torn").textContent = answer.torn ? `Torn: ${answer.torn.text}?` : "";
  const when = answer.at === null ? "" : `, by the network as it was at epoch ${answer.at} (a copy taken between batches)`;
  $("timing").textContent = `one prediction with every layer's output: ${answer.milliseconds} ms ${view.page.where}${when}`;
  paintGrid($("prepared"), answer.input, 0, 1);
  made(view, "steps", "", answer.steps, stepFigure).forEach((cell, i) => fillStep(cell, answer.steps[i], i));
  made(view, "bars", "", answer.probabilities, (_, d) => bar(view, d))
    .forEach((row, d) => fillBar(row, d, answer.probabilities[d], answer.digit));
  view.shownInput = answer.input;
  if (answer.attribution) showAttribution(view, answer.attribution);
  showLayers(view, answer);
}

function made(view, id, key, items, make) {  // box id's children, made anew when their number or key changes
  const box = view.$(id), kept = view.made.get(id);
  if (!kept || kept.count !== items.length || kept.key !== key) {
    box.replaceChildren(...items.map(make));
    view.made.set(id, { key, count: items.length, children: [...box.children] });
  }
  return view.made.get(id).children;
}

function bar(view, d) {
  const row = document.createElement("div");
  row.className = "bar";
  row.dataset.digit = d;  // for the page's tests
  row.innerHTML = '<span class="label"></span><span class="fill"></span><span class="value"></span>';
  row.addEventListener("click", () => attributeTo(view, d));
  return row;
}

function fillBar(row, d, p, best) {
  const [label, fill, value] = row.children;
  row.classList.toggle("best", d === best);
  row.dataset.p = p;  // the probability as PyTorch gave it, for the tests
  label.textContent = d;
  fill.style.width = `${(100 * p).toFixed(1)}%`;
  value.textContent = `${(100 * p).toFixed(1)}%`;
}

function showLayers(view, answer) {  // a panel per layer, made once per network, repainted after
  const shown = [];
  answer.layers.forEach((layer, index) => {
    if (index === answer.flatten.before) shown.push(answer.flatten);
    shown.push(layer);
  });
  const key = shown.map((l) => l.name ? `${l.name} ${l.shape} ${l.maps ? l.maps.length : ""}` : "flatten").join();
  made(view, "layers", key, shown, (l) => l.name ? layerPanel(l) : flattenPanel())
    .forEach((panel, i) => shown[i].name ? fillLayer(view, panel, shown[i]) : fillFlatten(panel, shown[i]));
}

// ---------------------------------------------------------------- where it looked (Captum)

const METHOD_NAMES = { saliency: "saliency", integrated_gradients: "Integrated Gradients", occlusion: "occlusion (4 x 4)" };

async function attributeTo(view, digit) {  // a bar clicked: where it looked for that digit
  const page = view.page;
  if (!page.picture) return;
  try {
    showAttribution(view, await page.ask("/api/attribute", { image: page.picture, target: digit }));
    view.$("attribution-error").textContent = "";
  } catch (error) {
    view.$("attribution-error").textContent = error.message;
  }
}

function showAttribution(view, attribution) {
  const $ = view.$;
  $("attribution-title").textContent = `Where it looked for a ${attribution.target}`;
  const rows = view.made.get("bars")?.children || [];
  rows.forEach((row, d) => row.classList.toggle("chosen", d === attribution.target));
  const cells = Object.entries(attribution.methods).map(([method, found]) => {
    const cell = document.createElement("figure");
    const canvas = document.createElement("canvas");
    canvas.dataset.method = method;
    overlay(canvas, view.shownInput, found.map);
    const caption = document.createElement("figcaption");
    caption.textContent = `${METHOD_NAMES[method] || method}, ${found.milliseconds} ms`;
    cell.append(canvas, caption);
    return cell;
  });
  $("attribution").replaceChildren(...cells);
}

// ---------------------------------------------------------------- the preparation and the layers

function stepFigure() {  // one step of the preparation: its picture and numbers
  const cell = document.createElement("figure");
  cell.append(document.createElement("canvas"), document.createElement("figcaption"));
  return cell;
}

function fillStep(cell, step, index) {
  const [canvas, caption] = cell.children;
  const [h, w] = [step.pixels.length, step.pixels[0].length];
  canvas.style.width = `${Math.round(84 * w / Math.max(h, w))}px`;
  canvas.style.height = `${Math.round(84 * h / Math.max(h, w))}px`;
  const [low, high] = step.name === "normalised" ? range(step.pixels) : [0, 1];
  paintGrid(canvas, step.pixels, low, high, GREYS);
  caption.innerHTML = `<b>${index + 1}. ${step.name}</b>`;
  caption.append(step.note);
}

function panel() {
  const box = document.createElement("div");
  box.className = "layer";
  box.append(document.createElement("h3"));
  return box;
}

function layerPanel(layer) {
  const box = panel();
  box.dataset.layer = layer.name;
  if (!layer.maps) {
    box.append(document.createElement("canvas"));
    if (layer.shape.length === 1 && layer.shape[0] <= 16) {  // the classifier's scores: labelled
      const classes = document.createElement("div");
      classes.className = "classes";
      for (let d = 0; d < layer.shape[0]; d++) classes.append(Object.assign(document.createElement("span"), { textContent: d }));
      box.append(classes);  // the cells, then their digits below them
    }
    return box;
  }
  const note = document.createElement("p");
  note.className = "hint";
  note.hidden = layer.maps.length === layer.shape[0];
  note.textContent = `${layer.maps.length} of ${layer.shape[0]} channels, most active first`;
  const maps = document.createElement("div");
  maps.className = "maps";
  for (const _ of layer.maps) {
    const canvas = document.createElement("canvas");
    canvas.width = canvas.height = 56;
    if (layer.filters) canvas.classList.add("clickable");
    maps.append(canvas);
  }
  box.append(note, maps);
  return box;
}

function fillLayer(view, box, layer) {
  box.firstChild.textContent = `${layer.name}: ${layer.shape.join(" x ")}`;
  if (!layer.maps) return strip(box.querySelector("canvas"), layer.values);
  [...box.lastChild.children].forEach((canvas, i) => {
    const map = layer.maps[i], [low, high] = range(map.values);
    canvas.title = `channel ${map.channel}`;
    paintGrid(canvas, map.values, low, high);
    if (layer.filters) canvas.onclick = () => zoom(view.$, layer, map);
  });
}

function flattenPanel() {
  const box = panel();
  box.classList.add("flatten");
  const note = Object.assign(document.createElement("p"), { className: "note" });
  box.append(document.createElement("canvas"), note);
  return box;
}

function fillFlatten(box, flatten) {  // the lecture's lesson: where the maps become one vector
  box.firstChild.textContent = `flatten: ${flatten.size} → ${flatten.into}`;
  strip(box.querySelector("canvas"), flatten.values);
  box.querySelector(".note").textContent = `Here the maps become one row of ${flatten.size} ` +
    `numbers, the classifier's input: its Linear must take exactly ${flatten.size}.`;
}

function zoom($, layer, map) {
  $("zoom").hidden = false;
  $("zoom-title").textContent = `${layer.name}, channel ${map.channel}: ${map.values.length} x ${map.values[0].length}`;
  const [low, high] = range(map.values);
  paintGrid($("zoom-map"), map.values, low, high);
  const weights = layer.filters[map.channel];  // in_channels x k x k
  $("zoom-filter-title").textContent = `the filter that made it: ${weights.length} x ${weights[0].length} x ${weights[0][0].length}`;
  const kernels = weights.map((kernel, c) => {
    const cell = document.createElement("figure");
    const canvas = document.createElement("canvas");
    canvas.width = canvas.height = 75;
    const [lo, hi] = range(kernel);
    paintGrid(canvas, kernel, lo, hi);
    const caption = document.createElement("figcaption");
    caption.textContent = weights.length > 1 ? `input ${c}` : "";
    cell.append(canvas, caption);
    if (weights.length === 1) cell.append(numberTable(kernel, 2));
    return cell;
  });
  $("zoom-filters").replaceChildren(...kernels);
}

