// The page only draws: every number comes from the server's PyTorch (see pipeline/serve.py).

const $ = (id) => document.getElementById(id);

async function api(path, body) {
  const response = await fetch(path, body === undefined ? {} : {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  });
  const answer = await response.json();
  if (!response.ok) throw new Error(answer.error || `HTTP ${response.status}`);
  return answer;
}

// ---------------------------------------------------------------- drawing a grid of values

function paintGrid(canvas, rows, low, high, colours = RAMP) {
  // rows: H x W numbers, one pixel each (the canvas keeps its size on the page, pixelated),
  // coloured between low and high on a viridis-like ramp; NaN is white
  const h = rows.length, w = rows[0].length;
  if (!canvas.style.width) {
    canvas.style.width = `${canvas.width}px`;
    canvas.style.height = `${canvas.height}px`;
  }
  canvas.width = w;
  canvas.height = h;
  const ctx = canvas.getContext("2d"), picture = ctx.createImageData(w, h);
  const span = high - low || 1;
  for (let i = 0; i < h; i++) {
    for (let j = 0; j < w; j++) {
      const v = rows[i][j];
      const colour = Number.isNaN(v) ? WHITE
        : colours[Math.round(255 * Math.min(1, Math.max(0, (v - low) / span)))];
      picture.data.set(colour, 4 * (i * w + j));
    }
  }
  ctx.putImageData(picture, 0, 0);
}

const VIRIDIS = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
const WHITE = [255, 255, 255, 255];
const RAMP = Array.from({ length: 256 }, (_, k) => ramp(k / 255));  // looked up, not computed
const GREYS = Array.from({ length: 256 }, (_, k) => [k, k, k, 255]);  // 0 black, 1 white

function ramp(t) {  // viridis, as matplotlib draws the --explain picture: [r, g, b, 255]
  const x = t * (VIRIDIS.length - 1), i = Math.min(Math.floor(x), VIRIDIS.length - 2), f = x - i;
  const [a, b] = [VIRIDIS[i], VIRIDIS[i + 1]];
  return [...a.map((v, k) => Math.round(v + f * (b[k] - v))), 255];
}

function range(values) {
  let low = Infinity, high = -Infinity;
  for (const v of values.flat(2)) {
    if (Number.isNaN(v)) continue;
    if (v < low) low = v;
    if (v > high) high = v;
  }
  return [low, high];
}

// ---------------------------------------------------------------- the pad and the prediction

const pad = $("pad");
const ink = pad.getContext("2d");
// The pad's pointer handlers only draw ink and note that the picture changed: the picture is
// encoded when it is sent (one request at a time), and an answer is drawn at the next frame.
// While a stroke is being drawn the server is asked for the prediction and its layers only;
// where it looked and what it tolerates follow when the stroke ends.
let drawing = false, dirty = false, inFlight = false, hasPicture = false, dropped = null;
let sent = null, shownInput = null;  // the picture last sent, and its prepared 28 x 28

function clearPad() {
  ink.fillStyle = "white";
  ink.fillRect(0, 0, pad.width, pad.height);
}

function point(event) {
  const box = pad.getBoundingClientRect();
  return [(event.clientX - box.left) * pad.width / box.width,
          (event.clientY - box.top) * pad.height / box.height];
}

pad.addEventListener("pointerdown", (event) => {
  drawing = true;
  dropped = null;
  pad.setPointerCapture(event.pointerId);
  const [x, y] = point(event);
  ink.beginPath();
  ink.moveTo(x, y);
  ink.lineTo(x + 0.1, y + 0.1);
  ink.stroke();
  changed();
});
pad.addEventListener("pointermove", (event) => {
  if (!drawing) return;
  const [x, y] = point(event);
  ink.lineTo(x, y);
  ink.stroke();
  changed();
});
for (const end of ["pointerup", "pointercancel", "pointerleave"]) {
  pad.addEventListener(end, () => { if (drawing) { drawing = false; changed(); } });
}

function changed() {
  hasPicture = dirty = true;
  send();
}

async function send() {
  if (inFlight || !dirty || !hasPicture) return;
  inFlight = true;
  dirty = false;
  try {
    const image = dropped || pad.toDataURL("image/png");
    const training = run.source !== null && !run.over;  // while it trains, a bar's click asks
    const whole = !drawing;  // the stroke has ended: where it looked and what it tolerates too
    showSoon(await api("/api/predict", { image, attribution: whole && !training }));
    sent = image;
    for (const id of ["attribution", "sweeps"]) $(id).classList.toggle("stale", !whole);
    if (whole) askTolerance();
    $("status").textContent = "";
  } catch (error) {
    $("status").textContent = error.message;
  } finally {
    inFlight = false;
    if (dirty) send();  // the drawing moved on while we waited: ask again
  }
}

$("clear").addEventListener("click", () => {
  clearPad();
  hasPicture = false;
  dropped = null;
  pendingAnswer = null;
  $("digit").textContent = "–";
  $("confidence").textContent = "";
  $("layers").replaceChildren();
  $("steps").replaceChildren();
  $("attribution").replaceChildren();
  $("sweeps").replaceChildren();
  sent = null;
  delete $("timing").dataset.drawnMs;
  $("bars").replaceChildren();
  $("status").textContent = "";
});

pad.addEventListener("dragover", (event) => event.preventDefault());
pad.addEventListener("drop", (event) => {
  event.preventDefault();
  const file = event.dataTransfer.files[0];
  if (!file) return;
  const reader = new FileReader();
  reader.onload = () => {
    dropped = reader.result;
    hasPicture = dirty = true;
    $("status").textContent = `${file.name}`;
    const picture = new Image();
    picture.onload = () => { clearPad(); ink.drawImage(picture, 0, 0, pad.width, pad.height); };
    picture.src = reader.result;
    send();
  };
  reader.readAsDataURL(file);
});

// ---------------------------------------------------------------- showing the answer

let pendingAnswer = null;

function showSoon(answer) {  // at most one redraw per frame, of the latest answer
  if (pendingAnswer === null) {
    requestAnimationFrame(() => {
      const started = performance.now();
      if (pendingAnswer !== null && hasPicture) show(pendingAnswer);
      pendingAnswer = null;
      const times = $("timing").dataset;  // each answer's drawing time, for the tests
      times.drawnMs = [times.drawnMs, (performance.now() - started).toFixed(1)].filter(Boolean).join(" ");
    });
  }
  pendingAnswer = answer;
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
  row.addEventListener("click", () => attributeTo(d));
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

async function attributeTo(digit) {
  if (!sent) return;
  try {
    showAttribution(await api("/api/attribute", { image: sent, target: digit }));
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

const RED = [213, 71, 91], BLUE = [59, 76, 192];

function overlay(canvas, input, map) {  // the input in grey, the attribution over it
  const h = map.length, w = map[0].length;
  canvas.width = w;
  canvas.height = h;
  let limit = 0;
  for (const row of map) for (const v of row) limit = Math.max(limit, Math.abs(v));
  limit = limit || 1;
  const ctx = canvas.getContext("2d"), picture = ctx.createImageData(w, h), data = picture.data;
  for (let i = 0; i < h; i++) {
    for (let j = 0; j < w; j++) {
      const grey = 40 + 120 * (input ? input[i][j] : 0), a = map[i][j] / limit;
      const [r, g, b] = a >= 0 ? RED : BLUE, f = Math.min(1, Math.abs(a)), k = 4 * (i * w + j);
      data[k] = grey + f * (r - grey);
      data[k + 1] = grey + f * (g - grey);
      data[k + 2] = grey + f * (b - grey);
      data[k + 3] = 255;
    }
  }
  ctx.putImageData(picture, 0, 0);
}

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
  if (!layer.maps) return strip(box.lastChild, layer.values);
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
  box.append(document.createElement("canvas"));
  return box;
}

function fillFlatten(box, flatten) {
  box.firstChild.textContent = `flatten: ${flatten.size} → ${flatten.into}`;
  strip(box.lastChild, flatten.values);
}

function strip(canvas, values) {  // a vector as rows of cells, 224 pixels wide
  const width = Math.max(1, Math.ceil(Math.sqrt(values.length) * 2));
  const rows = [];
  for (let i = 0; i < values.length; i += width) rows.push(values.slice(i, i + width));
  const last = rows[rows.length - 1];
  while (last.length < width) last.push(NaN);
  canvas.style.width = "224px";
  canvas.style.height = `${Math.max(8, Math.round(224 * rows.length / width))}px`;
  const [low, high] = range(values);
  paintGrid(canvas, rows, low, high);
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

function numberTable(rows, digits) {
  const table = document.createElement("table");
  table.className = "grid small";
  rows.forEach((row) => {
    const tr = table.insertRow();
    row.forEach((v) => { tr.insertCell().textContent = v === null ? "" : v.toFixed(digits); });
  });
  return table;
}

// ---------------------------------------------------------------- what it tolerates

// The sliders come from /api/info; moving one asks the server (one request at a time, the
// latest setting last) for the changed digit and every network's probabilities across
// that slider's range.
const tolerance = { sweep: "rotate", inFlight: false, dirty: false, units: {} };
const TEN = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
             "#7f7f7f", "#bcbd22", "#17becf"];  // one colour per digit

function buildSliders(sliders) {
  const rows = sliders.map((s) => {
    const label = document.createElement("label");
    const input = Object.assign(document.createElement("input"),
      { type: "range", min: s.low, max: s.high, step: s.step, value: s.rest, id: `slider-${s.name}` });
    input.dataset.slider = s.name;
    input.dataset.rest = s.rest;
    const shown = document.createElement("output");
    tolerance.units[s.name] = s.unit;
    const say = () => { shown.textContent = `${Number(input.value)}${s.unit}`; };
    input.addEventListener("input", () => { tolerance.sweep = s.name; say(); askTolerance(); });
    say();
    label.append(s.label, input, shown);
    return label;
  });
  $("sliders").replaceChildren(...rows);
}

function sliderValues() {
  const values = {};
  for (const input of $("sliders").querySelectorAll("input")) values[input.dataset.slider] = Number(input.value);
  return values;
}

$("rest").addEventListener("click", () => {
  for (const input of $("sliders").querySelectorAll("input")) {
    input.value = input.dataset.rest;
    input.dispatchEvent(new Event("input"));
  }
});

async function askTolerance() {
  if (!sent) return;
  if (tolerance.inFlight) { tolerance.dirty = true; return; }
  tolerance.inFlight = true;
  tolerance.dirty = false;
  try {
    const answer = await api("/api/tolerate", { image: sent, sliders: sliderValues(), sweep: tolerance.sweep });
    if (sent) requestAnimationFrame(() => showTolerance(answer));
    $("tolerate-error").textContent = "";
  } catch (error) {
    $("tolerate-error").textContent = error.message;
  } finally {
    tolerance.inFlight = false;
    if (tolerance.dirty) askTolerance();
  }
}

function showTolerance(answer) {
  paintGrid($("changed"), answer.input, 0, 1);
  const unit = tolerance.units[answer.sweep.slider];
  const figures = answer.networks.map((found) => {
    const cell = document.createElement("figure");
    const heading = document.createElement("h3");
    heading.textContent = `${found.network} reads ${found.digit} (${(100 * found.probabilities[found.digit]).toFixed(1)}%)`;
    const canvas = document.createElement("canvas");
    canvas.width = 360;
    canvas.height = 180;
    sweepPlot(canvas, answer.sweep, found, answer.sliders[answer.sweep.slider], unit);
    const caption = document.createElement("figcaption");
    const h = found.holds;
    caption.textContent = `${answer.sweep.slider}: it reads ${h.digit} from ${h.from}${unit} to ${h.to}${unit}, ` +
      `around ${answer.sliders[answer.sweep.slider]}${unit}`;
    cell.append(heading, canvas, caption);
    return cell;
  });
  $("sweeps").replaceChildren(...figures);
}

function sweepPlot(canvas, sweep, found, at, unit) {  // the ten probabilities across a range
  const ctx = canvas.getContext("2d"), [w, h] = [canvas.width, canvas.height];
  const [left, right, top, bottom] = [34, 10, 8, 26];
  const values = sweep.values, low = values[0], high = values[values.length - 1];
  const X = (v) => left + (w - left - right) * (v - low) / (high - low);
  const Y = (p) => top + (h - top - bottom) * (1 - p);
  ctx.clearRect(0, 0, w, h);
  ctx.font = "10px system-ui, sans-serif";
  ctx.strokeStyle = "#bbc";
  ctx.strokeRect(left, top, w - left - right, h - top - bottom);
  ctx.fillStyle = "#445";
  ctx.textAlign = "right";
  for (const p of [0, 0.5, 1]) ctx.fillText(`${100 * p}%`, left - 3, Y(p) + 3);
  ctx.textAlign = "center";
  for (const v of [low, (low + high) / 2, high]) ctx.fillText(`${v}${unit}`, X(v), h - bottom + 12);
  ctx.fillText(sweep.slider, w / 2, h - 3);
  ctx.strokeStyle = "#223";  // where the slider is now: dashed, unlike any digit's line
  ctx.setLineDash([4, 3]);
  ctx.beginPath();
  ctx.moveTo(X(at), top);
  ctx.lineTo(X(at), h - bottom);
  ctx.stroke();
  ctx.setLineDash([]);
  for (let d = 0; d < 10; d++) {
    const points = values.map((v, i) => [X(v), Y(found.sweep[i][d])]);
    ctx.strokeStyle = ctx.fillStyle = TEN[d];
    ctx.lineWidth = d === found.holds.digit ? 2.5 : 1.2;
    ctx.beginPath();
    points.forEach(([x, y], i) => (i ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
    ctx.stroke();
    const peak = points.reduce((a, b) => (b[1] < a[1] ? b : a));  // labelled where it is highest
    if (peak[1] < Y(0.15)) ctx.fillText(String(d), peak[0], Math.max(peak[1] - 3, top + 10));
  }
  canvas.dataset.slider = sweep.slider;  // what was drawn, for the page's tests
  canvas.dataset.points = values.length;
}

// ---------------------------------------------------------------- pooling and convolution in action

let examples = [], slide = null, shown = 0, timer = null;

async function loadExamples() {
  examples = await api("/api/examples");
  $("example").replaceChildren(...examples.map((e, i) => new Option(e.title, i)));
  pick(0);
}

function pick(index) {
  const e = examples[index];
  $("op").value = e.op;
  $("kernel").value = e.kernel;
  $("stride").value = e.stride;
  $("padding").value = String(e.padding);
  compute();
}

async function compute() {
  stop();
  const e = examples[Number($("example").value)];
  const padding = $("padding").value === "same" ? "same" : Number($("padding").value);
  try {
    slide = await api("/api/slide", {
      op: $("op").value, input: e.input, kernel: Number($("kernel").value),
      stride: Number($("stride").value), padding,
    });
    $("slide-error").textContent = "";
  } catch (error) {
    slide = null;
    $("slide-error").textContent = error.message;
    $("slide-input").replaceChildren();
    $("slide-output").replaceChildren();
    $("formula").textContent = "";
    return;
  }
  shown = 0;
  $("formula").textContent = `output size: ${slide.formula}`;
  drawSlide();
}

function drawSlide() {
  const input = $("slide-input");
  input.replaceChildren();
  const [top, left, bottom, right] = slide.pad;
  const window = shown > 0 ? slide.windows[shown - 1] : null;
  slide.padded.forEach((row, i) => {
    const tr = input.insertRow();
    row.forEach((v, j) => {
      const td = tr.insertCell();
      const padded = i < top || j < left || i >= slide.padded.length - bottom || j >= row.length - right;
      td.textContent = v === null ? "−∞" : formatNumber(v);
      if (padded) td.classList.add("pad");
      if (window && i >= window[0] && i < window[2] && j >= window[1] && j < window[3]) td.classList.add("window");
    });
  });
  const output = $("slide-output");
  output.replaceChildren();
  const width = slide.output[0].length;
  slide.output.forEach((row, i) => {
    const tr = output.insertRow();
    row.forEach((v, j) => {
      const td = tr.insertCell();
      const k = i * width + j;
      td.textContent = k < shown ? formatNumber(v) : "";
      if (k === shown - 1) td.classList.add("window");
    });
  });
}

function formatNumber(v) {
  return Number.isInteger(v) ? String(v) : v.toFixed(2);
}

function step() {
  if (!slide) return;
  if (shown >= slide.windows.length) { stop(); return; }
  shown += 1;
  drawSlide();
}

function stop() {
  if (timer) { clearInterval(timer); timer = null; $("play").textContent = "Play"; }
}

$("step").addEventListener("click", () => { stop(); step(); });
$("play").addEventListener("click", () => {
  if (timer) { stop(); return; }
  if (slide && shown >= slide.windows.length) { shown = 0; }
  $("play").textContent = "Pause";
  timer = setInterval(step, 600);
});
$("reset").addEventListener("click", () => { stop(); shown = 0; if (slide) drawSlide(); });
$("example").addEventListener("change", () => pick(Number($("example").value)));
for (const id of ["op", "kernel", "stride", "padding"]) $(id).addEventListener("change", compute);

// ---------------------------------------------------------------- watching it learn

// While the network trains (--serve without --load), the server pushes the run's events
// (pipeline/live.py): a loss at every log line, an accuracy at every test pass, snapshots of
// the filters and mistakes taken between batches, and the run's end or the line it stopped on.

const run = { epochs: 1, from: 0, lr: null, losses: [], tests: [], source: null, over: false };

function watch() {
  $("live-panel").hidden = false;
  run.source = new EventSource("/api/live");
  run.source.onmessage = (message) => onEvent(JSON.parse(message.data));
  run.source.onerror = () => {
    if (!run.over) $("live-line").textContent = "the server does not answer; trying again…";
  };
}

function onEvent(e) {
  if (e.type === "start") {
    Object.assign(run, { epochs: e.epochs, from: e.from, lr: e.lr });
    $("pause").disabled = e.torchrun;
    $("save-now").disabled = e.torchrun || !e.checkpoint;
    $("save-now").title = e.checkpoint ? `writes ${e.checkpoint}` : "start the run with --checkpoint FILE to save from here";
    setState("training");
  } else if (e.type === "loss") {
    run.losses.push([e.x, e.loss]);
    run.lr = e.lr;
  } else if (e.type === "test") {
    run.tests.push([e.x, e.accuracy]);
  } else if (e.type === "snapshot") {
    showFilters(e.filters, e.x);
    showMistakes(e.mistakes);  // as the latest test pass (or the start) found them
    if (hasPicture) { dirty = true; send(); }  // the drawing, read by the new snapshot
  } else if (e.type === "paused" || e.type === "continued") {
    setState(e.type === "paused" ? "paused" : "training");
    $("live-line").textContent = e.line;
  } else if (e.type === "saved") {
    $("live-line").textContent = e.line;
  } else if (e.type === "end" || e.type === "stopped") {
    over(e);
  }
  if (!run.chartQueued) {
    run.chartQueued = true;
    requestAnimationFrame(() => { run.chartQueued = false; drawChart(); });
  }
}

function setState(state) {
  $("live-state").textContent = state;
  $("pause").hidden = state !== "training";
  $("continue").hidden = state !== "paused";
}

function over(e) {  // the run has ended (the page becomes the trained network's) or stopped
  run.over = true;
  run.source.close();
  setState(e.type === "end" ? "trained" : "stopped");
  $("live-line").textContent = e.line;
  for (const id of ["pause", "continue", "save-now"]) $(id).hidden = true;
  if (e.type === "end") {
    loadInfo();
    if (hasPicture) { dirty = true; send(); }
  }
}

async function ask(what, doing) {
  try {
    await api(`/api/${what}`, {});
    $("live-line").textContent = doing;
  } catch (error) {
    $("live-line").textContent = error.message;
  }
}

$("pause").addEventListener("click", () => ask("pause", "pausing at the next cut between two batches…"));
$("continue").addEventListener("click", () => ask("continue", "continuing…"));
$("save-now").addEventListener("click", () => ask("save", "saving at the next cut between two batches…"));

function drawChart() {
  const canvas = $("chart"), ctx = canvas.getContext("2d");
  const [w, h] = [canvas.width, canvas.height], [left, right, top, bottom] = [48, 48, 12, 30];
  ctx.clearRect(0, 0, w, h);
  const x0 = run.from, x1 = Math.max(run.epochs, x0 + 1e-9);
  const lossHigh = Math.max(0.1, ...run.losses.map((p) => p[1]));
  const accLow = Math.min(90, ...run.tests.map((p) => Math.floor(p[1] / 10) * 10));
  const X = (x) => left + (w - left - right) * (x - x0) / (x1 - x0);
  const yLoss = (v) => top + (h - top - bottom) * (1 - v / lossHigh);
  const yAcc = (v) => top + (h - top - bottom) * (100 - v) / (100 - accLow);
  ctx.font = "11px system-ui, sans-serif";
  ctx.strokeStyle = "#bbc";
  ctx.strokeRect(left, top, w - left - right, h - top - bottom);
  ctx.fillStyle = "#445";
  ctx.textAlign = "center";
  for (let e = Math.ceil(x0); e <= x1; e++) ctx.fillText(String(e), X(e), h - bottom + 14);
  ctx.fillText("epoch", w / 2, h - 3);
  ctx.textAlign = "right";
  ctx.fillStyle = "#5b7bd5";
  for (const v of [0, lossHigh / 2, lossHigh]) ctx.fillText(v.toFixed(2), left - 4, yLoss(v) + 4);
  ctx.textAlign = "left";
  ctx.fillStyle = "#d5475b";
  for (const v of [accLow, (accLow + 100) / 2, 100]) ctx.fillText(`${v}%`, w - right + 4, yAcc(v) + 4);
  line(ctx, run.losses.map(([x, v]) => [X(x), yLoss(v)]), "#5b7bd5", false);
  line(ctx, run.tests.map(([x, v]) => [X(x), yAcc(v)]), "#d5475b", true);
  canvas.dataset.losses = run.losses.length;  // the points drawn, for the page's tests
  canvas.dataset.tests = run.tests.length;
  const loss = run.losses[run.losses.length - 1], test = run.tests[run.tests.length - 1];
  $("live-numbers").textContent = [
    loss ? `epoch ${loss[0]}: training loss ${loss[1].toFixed(4)} (blue, at every log line)` : "",
    test ? `test accuracy ${test[1].toFixed(2)}% at epoch ${test[0]} (red, at every test pass)` : "",
    run.lr === null ? "" : `learning rate ${run.lr}`,
  ].filter(Boolean).join(" · ");
}

function line(ctx, points, colour, dots) {
  ctx.strokeStyle = ctx.fillStyle = colour;
  ctx.lineWidth = 1.5;
  ctx.beginPath();
  points.forEach(([x, y], i) => (i ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
  ctx.stroke();
  if (dots) for (const [x, y] of points) ctx.fillRect(x - 2.5, y - 2.5, 5, 5);
}

function diverging(t) {  // -1 blue .. 0 white .. 1 red, as the --plot filters are drawn
  const [a, b] = t < 0 ? [[255, 255, 255], [59, 76, 192]] : [[255, 255, 255], [180, 4, 38]];
  const f = Math.min(1, Math.abs(t));
  return `rgb(${a.map((v, k) => Math.round(v + f * (b[k] - v))).join(",")})`;
}

function showFilters(filters, at) {
  $("filters-title").textContent = `${filters.name}'s filters at epoch ${at}: ${filters.values.length} of ${filters.shape[0]}, ${filters.shape[2]} x ${filters.shape[3]}`;
  const cells = filters.values.map((kernel, c) => {
    const canvas = document.createElement("canvas");
    canvas.width = canvas.height = kernel.length * 8;
    canvas.title = `filter ${c}`;
    const limit = Math.max(...kernel.flat().map(Math.abs)) || 1;
    const ctx = canvas.getContext("2d");
    kernel.forEach((row, i) => row.forEach((v, j) => {
      ctx.fillStyle = diverging(v / limit);
      ctx.fillRect(j * 8, i * 8, 8, 8);
    }));
    return canvas;
  });
  $("filters").style.gridTemplateColumns = `repeat(${cells.length <= 10 ? 5 : 8}, 44px)`;
  $("filters").replaceChildren(...cells);
}

function showMistakes(mistakes) {
  $("mistakes-title").textContent = `Test digits it reads wrong at epoch ${mistakes.x}: ${mistakes.wrong} of the first ${mistakes.searched}` +
    (mistakes.digits.length ? `; the first ${mistakes.digits.length}` : "");
  const cells = mistakes.digits.map((d) => {
    const cell = document.createElement("figure");
    const canvas = document.createElement("canvas");
    canvas.width = canvas.height = 28;
    const picture = canvas.getContext("2d").createImageData(28, 28);
    d.pixels.flat().forEach((v, i) => picture.data.set([v, v, v, 255], 4 * i));
    canvas.getContext("2d").putImageData(picture, 0, 0);
    const caption = document.createElement("figcaption");
    caption.textContent = `a ${d.label}, read ${d.said}`;
    cell.append(canvas, caption);
    return cell;
  });
  $("mistakes").replaceChildren(...cells);
}

// ---------------------------------------------------------------- start

async function loadInfo() {
  try {
    const info = await api("/api/info");
    const trained = info.live === "training" ? "training now; " : "";
    const beside = info.compare ? `; beside it on the page: ${info.compare}` : "";
    $("network").textContent = `${info.network}.py: ${trained}${info.parameters.toLocaleString("en")} parameters, layers ${info.layers.join(", ")}; classifier ${info.classifier}${beside}`;
    if (!$("sliders").children.length) buildSliders(info.sliders);
    return info;
  } catch (error) {
    $("network").textContent = error.message;
    return {};
  }
}

clearPad();
ink.strokeStyle = "black";
ink.lineWidth = 18;
ink.lineCap = ink.lineJoin = "round";
loadInfo().then((info) => { if (info.live) watch(); });
loadExamples();
