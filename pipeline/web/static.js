// The page with no Python behind it (pipeline/static.py, --export-page DIR): the page's own
// modules (page.js), their answers made here. network.onnx runs in onnxruntime-web (its
// single-threaded WebAssembly build, from ort/ beside this file: nothing fetched from
// elsewhere), a drawing is made into MNIST's 28 x 28 by prepare.js as --predict makes a file,
// and the answer takes the shape of the server's /api/predict (pipeline/answers.py).

import { pageState } from "./api.js";
import { initPage } from "./page.js";
import { greyOf, prepare } from "./prepare.js";

const MAPS_SHOWN = 16;  // a layer's most active maps, as pipeline/explain.py shows them
const STEP_SIDE = 56;  // a preparation step's picture is shown at most this large
const LEFT_OUT = ["attribution-title", "attribution", "attribution-hint", "tolerate-panel", "action-panel", "live-panel"];

async function start() {
  const ort = await import("./ort/ort.wasm.bundle.min.mjs");
  ort.env.wasm.numThreads = 1;  // no SharedArrayBuffer: no special headers on the host
  // the bundle holds its loader; the WebAssembly file beside it
  ort.env.wasm.wasmPaths = { wasm: new URL("./ort/ort-wasm-simd-threaded.wasm", import.meta.url).href };
  const network = await (await fetch("network.json")).json();
  const session = await ort.InferenceSession.create("network.onnx", { executionProviders: ["wasm"] });
  const ask = async (path, body) => answer(ort, session, network, path, body);
  const page = pageState(document, ask, () => () => {}, "in this browser");
  leaveOut(page, network.info.network);
  initPage(page);
}

function leaveOut(page, network) {  // what needs PyTorch, said with the command that gives it
  for (const id of LEFT_OUT) page.$(id).hidden = true;
  const note = document.createElement("p");
  note.className = "hint";
  note.id = "left-out";
  note.innerHTML = `This page runs the network in your browser (onnxruntime-web). Where it looked (Captum), what it tolerates and the slides' pooling need PyTorch: <code>python ${network}.py --load WEIGHTS --serve</code>.`;
  page.$("answer-panel").append(note);
  for (const home of document.querySelectorAll(".home")) home.textContent = "exported from PyTorch, run in this browser";
  const credits = document.createElement("p");  // what the folder ships of others': README.txt
  credits.innerHTML = 'People\'s pen digits: UNIPEN (I. Guyon et al., ICPR 1994; doi:10.5281/zenodo.1195803), CC BY 4.0, changed from the original; onnxruntime-web, MIT licence: <a href="README.txt">README.txt</a>.';
  document.querySelector("footer").append(credits);
}

async function answer(ort, session, network, path, body) {
  if (path === "/api/info") return network.info;
  if (path === "/api/pen") {
    const digit = network.pens[Math.floor(Math.random() * network.pens.length)];
    return digit;
  }
  if (path === "/api/predict") return predict(ort, session, network, body.image);
  throw new Error(`${path}: this page has no PyTorch behind it`);
}

async function predict(ort, session, network, image) {
  const started = performance.now();
  const picture = await createImageBitmap(await (await fetch(image)).blob());
  const canvas = new OffscreenCanvas(picture.width, picture.height), ctx = canvas.getContext("2d");
  ctx.drawImage(picture, 0, 0);
  const { input, steps } = prepare(greyOf(ctx.getImageData(0, 0, picture.width, picture.height)));
  const feeds = { [session.inputNames[0]]: new ort.Tensor("float32", Float32Array.from(input), [1, 1, 28, 28]) };
  const results = await session.run(feeds);
  const [logProbabilities, flattened, ...outputs] = session.outputNames.map((name) => results[name]);
  const probabilities = [...logProbabilities.data].map(Math.exp);
  const digit = probabilities.indexOf(Math.max(...probabilities));
  return {
    digit, probabilities, at: null, torn: torn(network.torn, probabilities),
    milliseconds: Number((performance.now() - started).toFixed(1)),
    input: steps[steps.length - 2].pixels.map((r) => r.map(drawn)),
    steps: steps.map(stepView),
    layers: outputs.map((output, i) => layerView(network.layers[i], output)),
    flatten: { size: flattened.data.length, values: [...flattened.data].map(drawn), ...network.flatten },
  };
}

function torn(rule, probabilities) {  // as pipeline/styles.py's torn
  const [first, second] = [...probabilities.keys()].sort((a, b) => probabilities[b] - probabilities[a] || a - b);
  if (probabilities[second] < rule.share * probabilities[first]) return null;
  const meant = rule.meant.find(([a, b]) => a === first && b === second);
  return { digit: second, text: `${first} \u2014 or ${meant ? meant[2] : `${second === 8 ? "an" : "a"} ${second}`}` };
}

function layerView(layer, output) {  // as pipeline/answers.py's layer_view
  const dims = output.dims.slice(1), values = output.data;
  const view = { name: layer.name, kind: layer.kind, shape: dims };
  if (dims.length === 3 && dims[1] * dims[2] > 1) {
    const [c, h, w] = dims, size = h * w;
    const means = Array.from({ length: c }, (_, k) => values.subarray(k * size, (k + 1) * size).reduce((a, b) => a + b, 0) / size);
    const channels = [...means.keys()].sort((a, b) => means[b] - means[a]).slice(0, MAPS_SHOWN);
    view.maps = channels.map((k) => ({ channel: k, values: grid(values.subarray(k * size, (k + 1) * size), w) }));
    if (layer.filters) view.filters = Object.fromEntries(channels.map((k) => [k, layer.filters[k]]));
  } else {
    view.values = [...values].map(drawn);
  }
  return view;
}

function stepView(step) {  // as pipeline/answers.py's step_view: a large picture shrunk by averaging
  const [h, w] = [step.pixels.length, step.pixels[0].length];
  return { name: step.name, note: step.note, shape: [h, w], pixels: shrunk(step.pixels, STEP_SIDE).map((r) => r.map(drawn)) };
}

function shrunk(pixels, side) {
  const [h, w] = [pixels.length, pixels[0].length];
  if (Math.max(h, w) <= side) return pixels;
  const scale = side / Math.max(h, w), [sh, sw] = [Math.max(1, Math.round(h * scale)), Math.max(1, Math.round(w * scale))];
  return Array.from({ length: sh }, (_, y) => Array.from({ length: sw }, (_, x) => {
    const [y0, y1, x0, x1] = [Math.floor(y * h / sh), Math.ceil((y + 1) * h / sh), Math.floor(x * w / sw), Math.ceil((x + 1) * w / sw)];
    let sum = 0;
    for (let yy = y0; yy < y1; yy++) for (let xx = x0; xx < x1; xx++) sum += pixels[yy][xx];
    return sum / ((y1 - y0) * (x1 - x0));
  }));
}

const drawn = (v) => Math.round(v * 1e4) / 1e4;  // 4 decimals, as the server sends them
const grid = (flat, w) => Array.from({ length: flat.length / w }, (_, y) => [...flat.subarray(y * w, (y + 1) * w)].map(drawn));

start().catch((error) => {
  document.getElementById("network").textContent = `this page could not start: ${error.message}`;
});
