// Pooling and convolution in action: the slides' worked examples, computed by PyTorch on the
// server (/api/slide), stepped through one output cell at a time.

import { $, api } from "./api.js";

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
  const current = shown > 0 ? slide.windows[shown - 1] : null;
  slide.padded.forEach((row, i) => {
    const tr = input.insertRow();
    row.forEach((v, j) => {
      const td = tr.insertCell();
      const padded = i < top || j < left || i >= slide.padded.length - bottom || j >= row.length - right;
      td.textContent = v === null ? "−∞" : formatNumber(v);
      if (padded) td.classList.add("pad");
      if (current && i >= current[0] && i < current[2] && j >= current[1] && j < current[3]) td.classList.add("window");
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

export function startSlides() {
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
  return loadExamples();
}
