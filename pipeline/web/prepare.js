// A picture of a digit made into MNIST's 28 x 28 in the browser, for the static page (no
// Python behind it): pipeline/data.py's prepare_digit step by step, in the same order and with
// the same arithmetic (Pillow's Lanczos resampling of a float picture included), checked
// against it on people's pen digits by tests/test_static.py.
//   grey         the picture's luma (Pillow's convert("L")), 0 black to 1 white
//   paper, ink   light paper inverted to MNIST's light ink on dark; paper 0, brightest ink 1
//   box          cut to the ink above 0.25
//   scaled       to fit 20 x 20, Lanczos as Pillow does it (horizontal pass, then vertical)
//   centred      in 28 x 28, the centre of mass at the middle (by whole pixels)
//   normalised   (x - 0.1307) / 0.3081

const MEAN = 0.1307, STD = 0.3081;

// An ImageData (RGBA bytes) -> grey rows in [0, 1]: transparent parts as white paper, then
// Pillow's integer luma (L = R 299/1000 + G 587/1000 + B 114/1000, rounded).
export function greyOf(image) {
  const { width: w, height: h, data } = image, grey = [];
  const paper = (v, a) => (a === 255 ? v : Math.round((v * a + 255 * (255 - a)) / 255));
  for (let y = 0; y < h; y++) {
    const row = new Array(w);
    for (let x = 0, i = 4 * y * w; x < w; x++, i += 4) {
      const a = data[i + 3], r = paper(data[i], a), g = paper(data[i + 1], a), b = paper(data[i + 2], a);
      row[x] = Math.fround(((r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16) / 255);
    }
    grey.push(row);
  }
  return grey;
}

// grey rows -> { input: 784 normalised values, steps: [{name, note, pixels}] }; an Error for a
// blank picture, as --predict says it.
export function prepare(grey) {
  const [h, w] = [grey.length, grey[0].length];
  const steps = [{ name: "grey", pixels: grey, note: `${w} x ${h} pixels, 0 black to 1 white` }];
  const frame = centred(scaled(inkBox(grey, steps), steps), steps);
  const input = frame.flat().map((v) => Math.fround((v - MEAN) / STD));
  const [low, high] = [Math.min(...input), Math.max(...input)];
  const mean = input.reduce((a, b) => a + b, 0) / input.length;
  const std = Math.sqrt(input.reduce((a, b) => a + (b - mean) ** 2, 0) / (input.length - 1));
  steps.push({ name: "normalised", pixels: rows(input, 28),
               note: `(x - ${MEAN}) / ${STD}: from ${low.toFixed(2)} to ${high.toFixed(2)}, mean ${mean.toFixed(2)}, std ${std.toFixed(2)}` });
  return { input, steps };
}

function inkBox(grey, steps) {  // light ink on dark paper from 0 to 1, cut to the ink's box
  const [h, w] = [grey.length, grey[0].length];
  let border = [...grey[0], ...grey[h - 1], ...grey.map((r) => r[0]), ...grey.map((r) => r[w - 1])];
  const light = median(border) > 0.5;
  if (light) {
    grey = grey.map((r) => r.map((v) => Math.fround(1 - v)));
    border = border.map((v) => Math.fround(1 - v));
  }
  const paper = median(border), brightest = Math.max(...grey.map((r) => Math.max(...r)));
  const span = Math.max(brightest - paper, 1e-6);
  let [top, bottom, left, right] = [h, -1, w, -1];
  const ink = grey.map((r, y) => {
    const row = new Array(w);
    for (let x = 0; x < w; x++) {
      const v = Math.min(1, Math.max(0, Math.fround((r[x] - paper) / span)));
      row[x] = v;
      if (v > 0.25) {
        if (y < top) top = y;
        bottom = y;
        if (x < left) left = x;
        if (x > right) right = x;
      }
    }
    return row;
  });
  steps.push({ name: "paper and ink", pixels: ink, note: `the border is ${light ? "light" : "dark"} paper: ${light ? "inverted, so" : "kept;"} paper ${paper.toFixed(2)} → 0, the brightest ink ${brightest.toFixed(2)} → 1` });
  if (bottom < 0) throw new Error("no digit found (the picture is blank)");
  const box = ink.slice(top, bottom + 1).map((r) => r.slice(left, right + 1));
  steps.push({ name: "the ink's box", pixels: box, note: `rows ${top}-${bottom}, columns ${left}-${right} (ink above 0.25): ${right - left + 1} x ${bottom - top + 1}` });
  return box;
}

function scaled(ink, steps) {  // the ink's box scaled to fit 20 x 20, as MNIST's digits were
  const [h, w] = [ink.length, ink[0].length], scale = 20 / Math.max(h, w);
  const [sw, sh] = [Math.max(1, roundHalfEven(w * scale)), Math.max(1, roundHalfEven(h * scale))];
  let small = ink;
  if (sw !== w) small = resampleAll(small, sw);  // Pillow: the horizontal pass first
  if (sh !== h) small = transpose(resampleAll(transpose(small), sh));
  small = small.map((r) => r.map((v) => Math.min(1, Math.max(0, v))));
  steps.push({ name: "scaled to fit 20 x 20", pixels: small, note: `x ${scale.toFixed(3)} (Lanczos): ${w} x ${h} → ${sw} x ${sh}` });
  return small;
}

function centred(small, steps) {  // in 28 x 28, its centre of mass at the middle
  const [h, w] = [small.length, small[0].length];
  let total = 0, sy = 0, sx = 0;
  small.forEach((r, y) => r.forEach((v, x) => { total += v; sy += y * v; sx += x * v; }));
  const [cy, cx] = [sy / total, sx / total];
  const top = Math.min(Math.max(roundHalfEven(14 - cy), 0), 28 - h);
  const left = Math.min(Math.max(roundHalfEven(14 - cx), 0), 28 - w);
  const frame = Array.from({ length: 28 }, () => new Array(28).fill(0));
  small.forEach((r, y) => r.forEach((v, x) => { frame[top + y][left + x] = v; }));
  steps.push({ name: "centred by mass in 28 x 28", pixels: frame, note: `its centre of mass (${cx.toFixed(1)}, ${cy.toFixed(1)}) placed at (${(left + cx).toFixed(1)}, ${(top + cy).toFixed(1)}): left ${left}, top ${top} (x, y; 14 is the middle)` });
  return frame;
}

// Lines of float32 values resampled to `size` as Pillow's ImagingResample does for a float
// picture: a Lanczos (a = 3) window widened by the scale when shrinking, normalised weights
// (worked out once for every line), sums in double, each result stored as float32.
function resampleAll(lines, size) {
  const length = lines[0].length, scale = length / size, filterscale = Math.max(scale, 1);
  const support = 3 * filterscale, windows = [];
  for (let i = 0; i < size; i++) {
    const center = (i + 0.5) * scale;
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const xmax = Math.min(Math.trunc(center + support + 0.5), length);
    const k = Float64Array.from({ length: xmax - xmin }, (_, j) => lanczos((j + xmin - center + 0.5) / filterscale));
    const sum = k.reduce((a, b) => a + b, 0);
    if (sum !== 0) for (let j = 0; j < k.length; j++) k[j] /= sum;
    windows.push({ xmin, k });
  }
  return lines.map((line) => windows.map(({ xmin, k }) => {
    let value = 0;
    for (let j = 0; j < k.length; j++) value += line[xmin + j] * k[j];
    return Math.fround(value);
  }));
}

function lanczos(x) {
  const sinc = (t) => (t === 0 ? 1 : Math.sin(Math.PI * t) / (Math.PI * t));
  return -3 <= x && x < 3 ? sinc(x) * sinc(x / 3) : 0;
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b), n = sorted.length;
  return n % 2 ? sorted[(n - 1) / 2] : Math.fround((sorted[n / 2 - 1] + sorted[n / 2]) / 2);
}

function roundHalfEven(v) {  // Python's round()
  const r = Math.round(v);
  return Math.abs(v % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

const transpose = (grid) => grid[0].map((_, x) => grid.map((r) => r[x]));
const rows = (flat, w) => Array.from({ length: flat.length / w }, (_, y) => flat.slice(y * w, (y + 1) * w));
