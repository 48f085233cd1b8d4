// What the network sees: one answer of /api/predict drawn on the page (the prediction and
// its bars, the preparation step by step, each layer's maps, the flatten, where it looked).
// Panels are made once and repainted in place; they are made again only when their number
// (or, for the layers, their names and shapes) changes.

import { $, api } from "./api.js";
import { GREYS, numberTable, overlay, paintGrid, range, strip } from "./draw.js";

let pending = null;  // the latest answer not drawn yet (at most one redraw per frame)
let shownInput = null;  // the prepared 28 x 28 drawn last, under the attribution maps
let digitClicked = () => {};  // what a click on a digit's bar does (app.js says)

export function onDigitClicked(handler) { digitClicked = handler; }

export function showSoon(answer) {  // at most one redraw per frame, of the latest answer
  if (pending === null) {
    requestAnimationFrame(() => {
      const started = performance.now();
      if (pending !== null) show(pending);
      pending = null;
      const times = $("timing").dataset;  // each answer's drawing time, for the tests
      times.drawnMs = [times.drawnMs, (performance.now() - started).toFixed(1)].filter(Boolean).join(" ");
    });
  }
  pending = answer;
}

export function clearAnswer() {
  pending = null;
  shownInput = null;
  $("digit").textContent = "–";
  $("confidence").textContent = "";
  for (const id of ["layers", "steps", "attribution", "sweeps", "bars"]) $(id).replaceChildren();
  delete $("timing").dataset.drawnMs;
}

function show(answer) {  // repainted in place: the elements are made again only when their number changes
  $("digit").textContent = answer.digit;
  $("confidence").textContent = `(${(100 * answer.probabilities[answer.digit]).toFixed(1)}%)`;
  const when = answer.at === null ? "" : `, by the network as it was at epoch ${answer.at} (a copy taken between batches)`;
  $("timing").textContent = `one prediction with every layer's output: ${answer.milliseconds} ms on the server${when}`;
  paintGrid($("prepared"), answer.input, 0, 1);
  made($("steps"), "", answer.steps, stepFigure).forEach((cell, i) => fillStep(cell, answer.steps[i], i));
  made($("bars"), "", answer.probabilities, bar).forEach((row, d) => fillBar(row, answer.probabilities[d], answer.digit));
  shownInput = answer.input;
  if (answer.attribution) showAttribution(answer.attribution);
  showLayers(answer);
}

function made(box, key, items, make) {  // box's children, made anew only when their number or key changes
  if (box.children.length !== items.length || box.dataset.made !== key) {
    box.replaceChildren(...items.map(make));
    box.dataset.made = key;
  }
  return [...box.children];
}

function bar(_, d) {
  const row = document.createElement("div");
  row.className = "bar";
  row.dataset.digit = d;
  row.innerHTML = '<span class="label"></span><span class="fill"></span><span class="value"></span>';
  row.addEventListener("click", () => digitClicked(d));
  return row;
}

function fillBar(row, p, best) {
  const d = Number(row.dataset.digit), [label, fill, value] = row.children;
  row.classList.toggle("best", d === best);
  label.textContent = d;
  fill.style.width = `${(100 * p).toFixed(1)}%`;
  value.textContent = `${(100 * p).toFixed(1)}%`;
}

function showLayers(answer) {  // a panel per layer, made once per network, repainted after
  const shown = [];
  answer.layers.forEach((layer, index) => {
    if (index === answer.flatten.before) shown.push(answer.flatten);
    shown.push(layer);
  });
  const key = shown.map((l) => l.name ? `${l.name} ${l.shape} ${l.maps ? l.maps.length : ""}` : "flatten").join();
  made($("layers"), key, shown, (l) => l.name ? layerPanel(l) : flattenPanel())
    .forEach((panel, i) => shown[i].name ? fillLayer(panel, shown[i]) : fillFlatten(panel, shown[i]));
}

// ---------------------------------------------------------------- where it looked (Captum)

const METHOD_NAMES = { saliency: "saliency", integrated_gradients: "Integrated Gradients", occlusion: "occlusion (4 x 4)" };

export async function attributeTo(picture, digit) {
  if (!picture) return;
  try {
    showAttribution(await api("/api/attribute", { image: picture, target: digit }));
    $("attribution-error").textContent = "";
  } catch (error) {
    $("attribution-error").textContent = error.message;
  }
}

function showAttribution(attribution) {
  $("attribution-title").textContent = `Where it looked for a ${attribution.target}`;
  for (const row of $("bars").children) row.classList.toggle("chosen", Number(row.dataset.digit) === attribution.target);
  const cells = Object.entries(attribution.methods).map(([method, found]) => {
    const cell = document.createElement("figure");
    const canvas = document.createElement("canvas");
    canvas.dataset.method = method;
    overlay(canvas, shownInput, found.map);
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

function fillLayer(box, layer) {
  box.firstChild.textContent = `${layer.name}: ${layer.shape.join(" x ")}`;
  if (!layer.maps) return strip(box.querySelector("canvas"), layer.values);
  [...box.lastChild.children].forEach((canvas, i) => {
    const map = layer.maps[i], [low, high] = range(map.values);
    canvas.title = `channel ${map.channel}`;
    paintGrid(canvas, map.values, low, high);
    if (layer.filters) canvas.onclick = () => zoom(layer, map);
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

function zoom(layer, map) {
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

$("zoom-close").addEventListener("click", () => { $("zoom").hidden = true; });
