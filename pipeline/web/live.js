// Watching it learn: while the network trains (--serve without --load), the server pushes the
// run's events (pipeline/live.py): a loss at every log line, an accuracy at every test pass,
// snapshots of the filters and mistakes taken between batches, and the run's end or the line
// it stopped on.

import { diverging } from "./draw.js";

export function initLive(page) {
  const $ = page.$;
  const run = { page, $, epochs: 1, from: 0, lr: null, losses: [], tests: [], over: false, chartQueued: false };
  page.training = true;
  $("live-panel").hidden = false;
  run.close = page.listen("/api/live", (e) => onEvent(run, e), () => {
    if (!run.over) $("live-line").textContent = "the server does not answer; trying again…";
  });
  $("pause").addEventListener("click", () => ask(run, "pause", "pausing at the next cut between two batches…"));
  $("continue").addEventListener("click", () => ask(run, "continue", "continuing…"));
  $("save-now").addEventListener("click", () => ask(run, "save", "saving at the next cut between two batches…"));
}

function onEvent(run, e) {
  const $ = run.$;
  if (e.type === "start") {
    Object.assign(run, { epochs: e.epochs, from: e.from, lr: e.lr });
    $("pause").disabled = e.torchrun || Boolean(e.unpausable);
    $("pause").title = e.unpausable || "";  // why not (a notebook's cell trains it)
    $("save-now").disabled = e.torchrun || !e.checkpoint;
    $("save-now").title = e.checkpoint ? `writes ${e.checkpoint}` : "start the run with --checkpoint FILE to save from here";
    setState(run, "training");
  } else if (e.type === "loss") {
    run.losses.push([e.x, e.loss]);
    run.lr = e.lr;
  } else if (e.type === "test") {
    run.tests.push([e.x, e.accuracy]);
  } else if (e.type === "snapshot") {
    showFilters($, e.filters, e.x);
    showMistakes($, e.mistakes);  // as the latest test pass (or the start) found them
    if (e.answer) run.page.on.show(e.answer);  // the drawing read as it is now (a notebook's kernel)
    else run.page.on.readAgain();  // the drawing, read by the new snapshot
  } else if (e.type === "paused" || e.type === "continued") {
    setState(run, e.type === "paused" ? "paused" : "training");
    $("live-line").textContent = e.line;
  } else if (e.type === "saved") {
    $("live-line").textContent = e.line;
  } else if (e.type === "end" || e.type === "stopped") {
    over(run, e);
  }
  if (!run.chartQueued) {
    run.chartQueued = true;
    requestAnimationFrame(() => { run.chartQueued = false; drawChart(run); });
  }
}

function setState(run, state) {
  run.$("live-state").textContent = state;
  run.$("pause").hidden = state !== "training";
  run.$("continue").hidden = state !== "paused";
}

function over(run, e) {  // the run has ended (the page becomes the trained network's) or stopped
  run.over = true;
  run.page.training = false;
  run.close();
  setState(run, e.type === "end" ? "trained" : "stopped");
  run.$("live-line").textContent = e.line;
  for (const id of ["pause", "continue", "save-now"]) run.$(id).hidden = true;
  if (e.type === "end") {  // the trained network's page: described and read again
    run.page.on.info();
    run.page.on.readAgain();
  }
}

async function ask(run, what, doing) {  // said before it is sent: the run's event may come first
  run.$("live-line").textContent = doing;
  try {
    await run.page.ask(`/api/${what}`, {});
  } catch (error) {
    run.$("live-line").textContent = error.message;
  }
}

function drawChart(run) {
  const $ = run.$, canvas = $("chart"), ctx = canvas.getContext("2d");
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
    run.lr === null ? "" : `learning rate ${Number(run.lr.toPrecision(3))}`,
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

function showFilters($, filters, at) {
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

function showMistakes($, mistakes) {
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
