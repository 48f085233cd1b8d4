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

function paintGrid(canvas, rows, low, high) {
  // rows: H x W numbers; each drawn as a grey level between low and high (viridis-like ramp)
  const h = rows.length, w = rows[0].length;
  const ctx = canvas.getContext("2d");
  const cw = canvas.width / w, ch = canvas.height / h;
  const span = high - low || 1;
  for (let i = 0; i < h; i++) {
    for (let j = 0; j < w; j++) {
      const v = rows[i][j];
      const t = Number.isNaN(v) ? NaN : Math.min(1, Math.max(0, (v - low) / span));
      ctx.fillStyle = ramp(t);
      ctx.fillRect(j * cw, i * ch, Math.ceil(cw), Math.ceil(ch));
    }
  }
}

const VIRIDIS = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];

function ramp(t) {  // viridis, as matplotlib draws the --explain picture
  if (Number.isNaN(t)) return "white";
  const x = t * (VIRIDIS.length - 1), i = Math.min(Math.floor(x), VIRIDIS.length - 2), f = x - i;
  const [a, b] = [VIRIDIS[i], VIRIDIS[i + 1]];
  return `rgb(${a.map((v, k) => Math.round(v + f * (b[k] - v))).join(",")})`;
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
let drawing = false, dirty = false, inFlight = false, lastPicture = null;

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
  lastPicture = pad.toDataURL("image/png");
  dirty = true;
  send();
}

async function send() {
  if (inFlight || !dirty || !lastPicture) return;
  inFlight = true;
  dirty = false;
  try {
    show(await api("/api/predict", { image: lastPicture }));
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
  lastPicture = null;
  $("digit").textContent = "–";
  $("confidence").textContent = "";
  $("layers").replaceChildren();
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
    lastPicture = reader.result;
    dirty = true;
    $("status").textContent = `${file.name}`;
    const picture = new Image();
    picture.onload = () => { clearPad(); ink.drawImage(picture, 0, 0, pad.width, pad.height); };
    picture.src = reader.result;
    send();
  };
  reader.readAsDataURL(file);
});

// ---------------------------------------------------------------- showing the answer

function show(answer) {
  $("digit").textContent = answer.digit;
  $("confidence").textContent = `(${(100 * answer.probabilities[answer.digit]).toFixed(1)}%)`;
  $("timing").textContent = `one prediction with every layer's output: ${answer.milliseconds} ms on the server`;
  paintGrid($("prepared"), answer.input, 0, 1);
  const bars = answer.probabilities.map((p, d) => {
    const row = document.createElement("div");
    row.className = "bar" + (d === answer.digit ? " best" : "");
    row.dataset.digit = d;
    row.innerHTML = `<span class="label">${d}</span><span class="fill" style="width:${(100 * p).toFixed(1)}%"></span><span class="value">${(100 * p).toFixed(1)}%</span>`;
    return row;
  });
  $("bars").replaceChildren(...bars);
  const panels = [];
  answer.layers.forEach((layer, index) => {
    if (index === answer.flatten.before) panels.push(flattenPanel(answer.flatten));
    panels.push(layerPanel(layer));
  });
  $("layers").replaceChildren(...panels);
}

function panel(title) {
  const box = document.createElement("div");
  box.className = "layer";
  const heading = document.createElement("h3");
  heading.textContent = title;
  box.append(heading);
  return box;
}

function layerPanel(layer) {
  const box = panel(`${layer.name}: ${layer.shape.join(" x ")}`);
  box.dataset.layer = layer.name;
  if (layer.maps) {
    if (layer.maps.length < layer.shape[0]) {
      const note = document.createElement("p");
      note.className = "hint";
      note.textContent = `${layer.maps.length} of ${layer.shape[0]} channels, most active first`;
      box.append(note);
    }
    const maps = document.createElement("div");
    maps.className = "maps";
    for (const map of layer.maps) {
      const canvas = document.createElement("canvas");
      canvas.width = canvas.height = 56;
      canvas.title = `channel ${map.channel}`;
      const [low, high] = range(map.values);
      paintGrid(canvas, map.values, low, high);
      if (layer.filters) {
        canvas.classList.add("clickable");
        canvas.addEventListener("click", () => zoom(layer, map));
      }
      maps.append(canvas);
    }
    box.append(maps);
  } else {
    box.append(strip(layer.values));
  }
  return box;
}

function flattenPanel(flatten) {
  const box = panel(`flatten: ${flatten.size} → ${flatten.into}`);
  box.classList.add("flatten");
  box.append(strip(flatten.values));
  return box;
}

function strip(values) {
  const width = Math.max(1, Math.ceil(Math.sqrt(values.length) * 2));
  const rows = [];
  for (let i = 0; i < values.length; i += width) rows.push(values.slice(i, i + width));
  const last = rows[rows.length - 1];
  while (last.length < width) last.push(NaN);
  const canvas = document.createElement("canvas");
  canvas.width = 224;
  canvas.height = Math.max(8, Math.round(224 * rows.length / width));
  const [low, high] = range(values);
  paintGrid(canvas, rows, low, high);
  return canvas;
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

// ---------------------------------------------------------------- start

clearPad();
ink.strokeStyle = "black";
ink.lineWidth = 18;
ink.lineCap = ink.lineJoin = "round";
api("/api/info").then((info) => {
  $("network").textContent = `${info.network}.py: ${info.parameters.toLocaleString("en")} parameters, layers ${info.layers.join(", ")}; classifier ${info.classifier}`;
}).catch((error) => { $("network").textContent = error.message; });
loadExamples();
