// The pad: the learner's drawing (or a dropped picture), sent to /api/predict.
//
// The pointer handlers only draw ink and note that the picture changed: the picture is
// encoded when it is sent (the latest request wins), and an answer is drawn at the next frame.
// While a stroke is being drawn the server is asked for the prediction and its layers only;
// where it looked and what it tolerates follow when the stroke ends.

import { $, api, latest } from "./api.js";
import { clearAnswer, showSoon } from "./answer.js";

const pad = $("pad");
const ink = pad.getContext("2d");
let drawing = false, hasPicture = false, dropped = null;
let sent = null;  // the picture last sent
let training = () => false;  // while it trains, where it looked is asked by a bar's click
let strokeEnded = () => {};  // what follows a stroke's answer (what it tolerates)

export const lastPicture = () => sent;

function clearPad() {
  ink.fillStyle = "white";
  ink.fillRect(0, 0, pad.width, pad.height);
}

function point(event) {
  const box = pad.getBoundingClientRect();
  return [(event.clientX - box.left) * pad.width / box.width,
          (event.clientY - box.top) * pad.height / box.height];
}

const send = latest(async () => {
  if (!hasPicture) return;
  try {
    const image = dropped || pad.toDataURL("image/png");
    const whole = !drawing;  // the stroke has ended: where it looked and what it tolerates too
    const answer = await api("/api/predict", { image, attribution: whole && !training() });
    if (!hasPicture) return;  // cleared meanwhile
    showSoon(answer);
    sent = image;
    for (const id of ["attribution", "sweeps"]) $(id).classList.toggle("stale", !whole);
    if (whole) strokeEnded();
    $("status").textContent = "";
  } catch (error) {
    $("status").textContent = error.message;
  }
});

function changed() {
  hasPicture = true;
  send();
}

// The drawing read again (by a new snapshot of a network that trains, or the trained one).
export function readAgain() {
  if (hasPicture) send();
}

function startStroke(event) {
  drawing = true;
  dropped = null;
  pad.setPointerCapture(event.pointerId);
  const [x, y] = point(event);
  ink.beginPath();
  ink.moveTo(x, y);
  ink.lineTo(x + 0.1, y + 0.1);
  ink.stroke();
  changed();
}

function drop(event) {  // a picture file dropped on the pad is read as a drawing is
  event.preventDefault();
  const file = event.dataTransfer.files[0];
  if (!file) return;
  const reader = new FileReader();
  reader.onload = () => {
    dropped = reader.result;
    hasPicture = true;
    $("status").textContent = `${file.name}`;
    const picture = new Image();
    picture.onload = () => { clearPad(); ink.drawImage(picture, 0, 0, pad.width, pad.height); };
    picture.src = reader.result;
    send();
  };
  reader.readAsDataURL(file);
}

// A person's pen digit replayed on the pad as the page opens, so that every panel shows what
// it is for before the learner draws: the same pen, the same requests as a drawing.
export async function replayPenDigit() {
  try {
    const digit = await api("/api/pen");
    if (hasPicture) return;  // the learner was quicker
    clearPad();
    for (const stroke of digit.strokes) {
      ink.beginPath();
      ink.moveTo(...stroke[0]);
      for (const point of stroke) ink.lineTo(...point);
      ink.lineTo(stroke[stroke.length - 1][0] + 0.1, stroke[stroke.length - 1][1] + 0.1);
      ink.stroke();
    }
    $("pad-note").textContent = `A ${digit.label} written with a pen by a person at UNIPEN's ` +
      `"${digit.source}" (not MNIST's writers). Clear it and draw your own.`;
    changed();
  } catch (error) {
    $("pad-note").textContent = "Draw a digit on the pad.";
  }
}

export function startPad(options) {
  ({ training, strokeEnded } = options);
  clearPad();
  ink.strokeStyle = "black";
  ink.lineWidth = 18;
  ink.lineCap = ink.lineJoin = "round";
  pad.addEventListener("pointerdown", (event) => {
    if ($("pad-note").textContent) { $("pad-note").textContent = ""; clearPad(); }  // your own now
    startStroke(event);
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
  $("clear").addEventListener("click", () => {
    $("pad-note").textContent = "";
    clearPad();
    hasPicture = false;
    dropped = null;
    sent = null;
    clearAnswer();
    $("status").textContent = "";
  });
  pad.addEventListener("dragover", (event) => event.preventDefault());
  pad.addEventListener("drop", drop);
}
