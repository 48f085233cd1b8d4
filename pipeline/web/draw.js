// Drawing grids of numbers on canvases: feature maps, filters, pictures, attributions.

export function paintGrid(canvas, rows, low, high, colours = RAMP) {
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
export const GREYS = Array.from({ length: 256 }, (_, k) => [k, k, k, 255]);  // 0 black, 1 white

function ramp(t) {  // viridis, as matplotlib draws the --explain picture: [r, g, b, 255]
  const x = t * (VIRIDIS.length - 1), i = Math.min(Math.floor(x), VIRIDIS.length - 2), f = x - i;
  const [a, b] = [VIRIDIS[i], VIRIDIS[i + 1]];
  return [...a.map((v, k) => Math.round(v + f * (b[k] - v))), 255];
}

export function range(values) {
  let low = Infinity, high = -Infinity;
  for (const v of values.flat(2)) {
    if (Number.isNaN(v)) continue;
    if (v < low) low = v;
    if (v > high) high = v;
  }
  return [low, high];
}

export function strip(canvas, values) {  // a vector as rows of cells, 224 pixels wide (one row if short)
  const width = values.length <= 16 ? values.length : Math.ceil(Math.sqrt(values.length) * 2);
  const rows = [];
  for (let i = 0; i < values.length; i += width) rows.push(values.slice(i, i + width));
  const last = rows[rows.length - 1];
  while (last.length < width) last.push(NaN);
  canvas.style.width = "224px";
  canvas.style.height = `${Math.max(8, Math.round(224 * rows.length / width))}px`;
  const [low, high] = range(values);
  paintGrid(canvas, rows, low, high);
}

export function numberTable(rows, digits) {
  const table = document.createElement("table");
  table.className = "grid small";
  rows.forEach((row) => {
    const tr = table.insertRow();
    row.forEach((v) => { tr.insertCell().textContent = v === null ? "" : v.toFixed(digits); });
  });
  return table;
}

const RED = [213, 71, 91], BLUE = [59, 76, 192];

export function overlay(canvas, input, map) {  // the input in grey, the attribution over it
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

export function diverging(t) {  // -1 blue .. 0 white .. 1 red, as the --plot filters are drawn
  const [a, b] = t < 0 ? [[255, 255, 255], [59, 76, 192]] : [[255, 255, 255], [180, 4, 38]];
  const f = Math.min(1, Math.abs(t));
  return `rgb(${a.map((v, k) => Math.round(v + f * (b[k] - v))).join(",")})`;
}
