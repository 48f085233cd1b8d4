// The pad: the learner's drawing (or a dropped picture), sent to be read (/api/predict).
//
// The pointer handlers only draw ink and note that the picture changed: the picture is
// encoded when it is sent (the latest request wins), and an answer is drawn at the next frame.
// While a stroke is being drawn only the prediction and its layers are asked; where it looked
// and what it tolerates follow when the stroke ends.

import { latest } from "./api.js";

export function initPad(page) {
  const $ = page.$, canvas = $("pad"), ink = canvas.getContext("2d");
  // noted: the pad holds a note under it (a person's pen digit, replayed) until a stroke;
  // version: counts the pad's changes, on the canvas and on the answer shown (data-drawing),
  // so that a test or a tool can wait for the answer to the drawing now on the pad
  const pad = { page, canvas, ink, drawing: false, hasPicture: false, dropped: null, noted: false, version: 0 };
  pad.send = latest(() => send(pad));
  page.on.readAgain = () => { if (pad.hasPicture) pad.send(); };  // a new snapshot, or trained
  clear(pad);
  ink.strokeStyle = "black";
  ink.lineWidth = 18;
  ink.lineCap = ink.lineJoin = "round";
  canvas.addEventListener("pointerdown", (event) => {
    if (pad.noted) {  // the learner's own now
      pad.noted = false;
      $("pad-note").textContent = "";
      clear(pad);
    }
    startStroke(pad, event);
  });
  canvas.addEventListener("pointermove", (event) => {
    if (!pad.drawing) return;
    ink.lineTo(...point(canvas, event));
    ink.stroke();
    changed(pad);
  });
  for (const end of ["pointerup", "pointercancel", "pointerleave"]) {
    canvas.addEventListener(end, () => { if (pad.drawing) { pad.drawing = false; changed(pad); } });
  }
  $("clear").addEventListener("click", () => forget(pad));
  canvas.addEventListener("dragover", (event) => event.preventDefault());
  canvas.addEventListener("drop", (event) => drop(pad, event));
  return { replayPenDigit: () => replayPenDigit(pad) };
}

function clear(pad) {
  pad.ink.fillStyle = "white";
  pad.ink.fillRect(0, 0, pad.canvas.width, pad.canvas.height);
}

function forget(pad) {  // Clear: no picture, no answer
  const page = pad.page;
  pad.canvas.dataset.drawing = ++pad.version;
  pad.noted = false;
  page.$("pad-note").textContent = "";
  clear(pad);
  pad.hasPicture = false;
  pad.dropped = null;
  page.picture = null;
  page.on.clear();
  page.$("status").textContent = "";
}

function point(canvas, event) {
  const box = canvas.getBoundingClientRect();
  return [(event.clientX - box.left) * canvas.width / box.width,
          (event.clientY - box.top) * canvas.height / box.height];
}

async function send(pad) {
  const page = pad.page;
  if (!pad.hasPicture) return;
  try {
    const image = pad.dropped || pad.canvas.toDataURL("image/png"), version = pad.version;
    const whole = !pad.drawing;  // the stroke has ended: where it looked and what it tolerates too
    const answer = await page.ask("/api/predict", { image, attribution: whole && !page.training });
    if (!pad.hasPicture) return;  // cleared meanwhile
    page.on.show({ ...answer, drawing: version });
    page.picture = image;
    for (const id of ["attribution", "sweeps"]) page.$(id).classList.toggle("stale", !whole);
    if (whole) page.on.strokeEnded();
    page.$("status").textContent = "";
  } catch (error) {
    page.$("status").textContent = error.message;
  }
}

function changed(pad) {
  pad.canvas.dataset.drawing = ++pad.version;
  pad.hasPicture = true;
  pad.send();
}

function startStroke(pad, event) {
  pad.drawing = true;
  pad.dropped = null;
  pad.canvas.setPointerCapture(event.pointerId);
  const [x, y] = point(pad.canvas, event);
  pad.ink.beginPath();
  pad.ink.moveTo(x, y);
  pad.ink.lineTo(x + 0.1, y + 0.1);
  pad.ink.stroke();
  changed(pad);
}

function drop(pad, event) {  // a picture file dropped on the pad is read as a drawing is
  event.preventDefault();
  const file = event.dataTransfer.files[0];
  if (!file) return;
  const reader = new FileReader();
  reader.onload = () => {
    pad.dropped = reader.result;
    pad.canvas.dataset.drawing = ++pad.version;
    pad.hasPicture = true;
    pad.page.$("status").textContent = `${file.name}`;
    const picture = new Image();
    picture.onload = () => {
      clear(pad);
      pad.ink.drawImage(picture, 0, 0, pad.canvas.width, pad.canvas.height);
    };
    picture.src = reader.result;
    pad.send();
  };
  reader.readAsDataURL(file);
}

// A person's pen digit replayed on the pad as the page opens, so that every panel shows what
// it is for before the learner draws: the same pen, the same requests as a drawing.
async function replayPenDigit(pad) {
  const page = pad.page, ink = pad.ink;
  try {
    const digit = await page.ask("/api/pen");
    if (pad.hasPicture) return;  // the learner was quicker
    clear(pad);
    for (const stroke of digit.strokes) {
      ink.beginPath();
      ink.moveTo(...stroke[0]);
      for (const point of stroke) ink.lineTo(...point);
      ink.lineTo(stroke[stroke.length - 1][0] + 0.1, stroke[stroke.length - 1][1] + 0.1);
      ink.stroke();
    }
    pad.noted = true;
    page.$("pad-note").textContent = `A ${digit.label} written with a pen by a person at ` +
      `UNIPEN's "${digit.source}" (not MNIST's writers). Clear it and draw your own.`;
    changed(pad);
  } catch (error) {
    pad.noted = true;
    page.$("pad-note").textContent = "Draw a digit on the pad.";
  }
}
