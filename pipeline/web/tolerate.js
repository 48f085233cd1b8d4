// What it tolerates: sliders that shift, rotate, scale and thicken the prepared digit on the
// server; the ten probabilities as the slider moved last sweeps its range (the latest setting
// wins: one request at a time).

import { latest } from "./api.js";
import { paintGrid } from "./draw.js";

const TEN = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
             "#7f7f7f", "#bcbd22", "#17becf"];  // one colour per digit

export function initTolerate(page) {
  // values: each slider's, by name; sweep: the slider moved last; units: each one's
  const sliders = { page, $: page.$, values: {}, rests: {}, units: {}, sweep: "rotate" };
  sliders.ask = latest(() => askTolerance(sliders));
  page.on.strokeEnded = sliders.ask;
  sliders.$("rest").addEventListener("click", () => {
    for (const [name, rest] of Object.entries(sliders.rests)) {
      const input = sliders.$(`slider-${name}`);
      input.value = rest;
      input.dispatchEvent(new Event("input"));
    }
  });
  return { build: (list) => build(sliders, list) };
}

function build(sliders, list) {  // the sliders /api/info lists, made once
  if (Object.keys(sliders.rests).length) return;
  const rows = list.map((s) => {
    const label = document.createElement("label");
    const input = Object.assign(document.createElement("input"),
      { type: "range", min: s.low, max: s.high, step: s.step, value: s.rest, id: `slider-${s.name}` });
    input.dataset.slider = s.name;
    const shown = document.createElement("output");
    sliders.units[s.name] = s.unit;
    sliders.rests[s.name] = s.rest;
    sliders.values[s.name] = Number(s.rest);
    const say = () => { shown.textContent = `${Number(input.value)}${s.unit}`; };
    input.addEventListener("input", () => {
      sliders.values[s.name] = Number(input.value);
      sliders.sweep = s.name;
      say();
      sliders.ask();
    });
    say();
    label.append(s.label, input, shown);
    return label;
  });
  sliders.$("sliders").replaceChildren(...rows);
}

async function askTolerance(sliders) {
  const page = sliders.page, image = page.picture;
  if (!image) return;
  try {
    const answer = await page.ask("/api/tolerate", { image, sliders: { ...sliders.values }, sweep: sliders.sweep });
    if (page.picture) requestAnimationFrame(() => showTolerance(sliders, answer));
    sliders.$("tolerate-error").textContent = "";
  } catch (error) {
    sliders.$("tolerate-error").textContent = error.message;
  }
}

function showTolerance(sliders, answer) {
  const $ = sliders.$;
  paintGrid($("changed"), answer.input, 0, 1);
  $("changed-caption").textContent = answer.networks.length > 1 ? "what the networks read" : "what the network reads";
  const unit = sliders.units[answer.sweep.slider];
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
