// Pooling and convolution in action: the slides' worked examples, computed by PyTorch on the
// server (/api/slide), stepped through one output cell at a time.

export function initSlides(page) {
  const $ = page.$;
  // examples: the slides'; slide: the computed one shown; shown: its output cells shown so far
  const slides = { page, $, examples: [], slide: null, shown: 0, timer: null };
  $("step").addEventListener("click", () => { stop(slides); step(slides); });
  $("play").addEventListener("click", () => {
    if (slides.timer) { stop(slides); return; }
    if (slides.slide && slides.shown >= slides.slide.windows.length) slides.shown = 0;
    $("play").textContent = "Pause";
    slides.timer = setInterval(() => step(slides), 600);
  });
  $("reset").addEventListener("click", () => {
    stop(slides);
    slides.shown = 0;
    if (slides.slide) drawSlide(slides);
  });
  $("example").addEventListener("change", () => pick(slides, Number($("example").value)));
  for (const id of ["op", "kernel", "stride", "padding"]) $(id).addEventListener("change", () => compute(slides));
  return loadExamples(slides);
}

async function loadExamples(slides) {
  try {
    slides.examples = await slides.page.ask("/api/examples");
  } catch (error) {
    slides.$("slide-error").textContent = error.message;
    return;
  }
  slides.$("example").replaceChildren(...slides.examples.map((e, i) => new Option(e.title, i)));
  pick(slides, 0);
}

function pick(slides, index) {  // an example's own settings into the controls
  const e = slides.examples[index], $ = slides.$;
  $("op").value = e.op;
  $("kernel").value = e.kernel;
  $("stride").value = e.stride;
  $("padding").value = String(e.padding);
  compute(slides);
}

async function compute(slides) {  // the controls as the learner set them, computed by PyTorch
  const $ = slides.$;
  stop(slides);
  const e = slides.examples[Number($("example").value)];
  const padding = $("padding").value === "same" ? "same" : Number($("padding").value);
  try {
    slides.slide = await slides.page.ask("/api/slide", {
      op: $("op").value, input: e.input, kernel: Number($("kernel").value),
      stride: Number($("stride").value), padding,
    });
    $("slide-error").textContent = "";
  } catch (error) {
    slides.slide = null;
    $("slide-error").textContent = error.message;
    $("slide-input").replaceChildren();
    $("slide-output").replaceChildren();
    $("formula").textContent = "";
    return;
  }
  slides.shown = 0;
  $("formula").textContent = `output size: ${slides.slide.formula}`;
  drawSlide(slides);
}

function drawSlide(slides) {
  const { slide, shown } = slides;
  const input = slides.$("slide-input");
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
  const output = slides.$("slide-output");
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

function step(slides) {
  if (!slides.slide) return;
  if (slides.shown >= slides.slide.windows.length) { stop(slides); return; }
  slides.shown += 1;
  drawSlide(slides);
}

function stop(slides) {
  if (slides.timer) {
    clearInterval(slides.timer);
    slides.timer = null;
    slides.$("play").textContent = "Play";
  }
}
