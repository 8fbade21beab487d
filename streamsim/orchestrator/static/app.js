// The control page: sliders and number fields over PATCH /api/config, and live figures
// from GET /api/stats. No library and no network beyond the orchestrator that served it.
"use strict";

const SCALES = { max_rate: "cube", floor: "cube", period_s: "log", error_factor: "linear" };
const UNITS = { max_rate: "users/site s", floor: "users/site s", period_s: "site s",
  error_factor: "share" };
const STEPS = 1000;  // slider positions; values between them come from the number field
const HISTORY_S = 120;
const history = [];
let wave = null;

// A slider moves over positions 0..STEPS; the mapping gives fine control where it matters:
// low rates (cube) and periods from seconds to a day (log).
function toValue(field, position, spec) {
  const share = position / STEPS;
  if (SCALES[field] === "log") return spec.minimum * Math.pow(spec.maximum / spec.minimum, share);
  if (SCALES[field] === "cube") return spec.minimum + (spec.maximum - spec.minimum) * share ** 3;
  return spec.minimum + (spec.maximum - spec.minimum) * share;
}

function toPosition(field, value, spec) {
  let share;
  if (SCALES[field] === "log") share = Math.log(value / spec.minimum) /
    Math.log(spec.maximum / spec.minimum);
  else if (SCALES[field] === "cube") share = Math.cbrt((value - spec.minimum) /
    (spec.maximum - spec.minimum));
  else share = (value - spec.minimum) / (spec.maximum - spec.minimum);
  return Math.round(Math.min(1, Math.max(0, share)) * STEPS);
}

function tidy(value) {
  return Number(value.toPrecision(value >= 100 ? 5 : 3));
}

function say(text, isError) {
  const message = document.getElementById("message");
  message.textContent = text;
  message.className = isError ? "error" : "";
}

// Changes go out one at a time: two PATCHes in flight could be applied out of order, and
// the setting would end on the older value while the page says the newer one.
let changes = Promise.resolve();

function change(field, value) {
  changes = changes.then(() => send(field, value)).catch((error) => say(String(error), true));
  return changes;
}

async function send(field, value) {
  const headers = { "Content-Type": "application/json" };
  const token = document.getElementById("token").value;
  if (token) headers.Authorization = `Bearer ${token}`;
  const answer = await fetch("/api/config", {
    method: "PATCH", headers, body: JSON.stringify({ [field]: value }),
  });
  const body = await answer.json();
  if (answer.ok) {
    say(`${field} set to ${value}`, false);
    // Not the control in hand: keys pressed while this answer travelled have moved it on.
    showSettings(body, false);
  } else {
    say(body.detail || `refused (${answer.status})`, true);
    if (wave) showSettings(wave, true);  // nothing to roll back to before the first poll
  }
}

function numberControl(form, field, spec) {
  const row = document.createElement("div");
  row.className = "control";
  row.innerHTML = `<label for="${field}-number">${field}
      <span class="range">${spec.minimum}–${spec.maximum} ${UNITS[field]}</span></label>
    <div class="inputs">
      <input type="range" id="${field}-slider" name="${field}" min="0" max="${STEPS}"
        aria-label="${field} slider">
      <input type="number" id="${field}-number" min="${spec.minimum}" max="${spec.maximum}"
        step="any"></div>`;
  form.appendChild(row);
  const slider = row.querySelector("input[type=range]");
  const number = row.querySelector("input[type=number]");
  slider.addEventListener("input", () => {
    number.value = tidy(toValue(field, Number(slider.value), spec));
  });
  slider.addEventListener("change", () => change(field, Number(number.value)));
  number.addEventListener("change", () => change(field, Number(number.value)));
  row.show = (value) => {
    slider.value = toPosition(field, value, spec);
    number.value = value;
  };
  return row;
}

function choiceControl(form, field, spec) {
  const row = document.createElement("div");
  row.className = "control";
  const options = spec.enum.map((choice) => `<option>${choice}</option>`).join("");
  row.innerHTML = `<label for="${field}-choice">${field}
      <span class="range">${spec.enum.join(" or ")}</span></label>
    <div class="inputs"><select id="${field}-choice">${options}</select></div>`;
  form.appendChild(row);
  const select = row.querySelector("select");
  select.addEventListener("change", () => change(field, select.value));
  row.show = (value) => { select.value = value; };
  return row;
}

const controls = {};

async function buildControls() {
  const openapi = await (await fetch("/api/openapi.json")).json();
  const properties = openapi.components.schemas.Settings.properties;
  const form = document.getElementById("settings");
  for (const [field, spec] of Object.entries(properties)) {
    controls[field] = spec.enum ? choiceControl(form, field, spec)
      : numberControl(form, field, spec);
  }
}

// Polling refreshes what another client (the CLI, a second page) changed, but never the
// control a person is holding right now.
function showSettings(settings, force) {
  wave = settings;
  for (const [field, row] of Object.entries(controls)) {
    if (!force && row.contains(document.activeElement)) continue;
    row.show(settings[field]);
  }
}

function rateAt(phase, shape) {
  return shape.floor + (shape.max_rate - shape.floor) * (1 - Math.cos(phase)) / 2;
}

function drawWave(stats) {
  const canvas = document.getElementById("wave");
  const g = canvas.getContext("2d");
  const { width, height } = canvas;
  const pad = 28;
  const shape = stats.wave;
  const top = Math.max(shape.max_rate, 1e-9);
  const x = (phase) => pad + (width - 2 * pad) * phase / (2 * Math.PI);
  const y = (rate) => height - pad - (height - 2 * pad) * rate / top;
  g.clearRect(0, 0, width, height);
  g.strokeStyle = "#d0d5dd";
  g.strokeRect(pad, pad, width - 2 * pad, height - 2 * pad);
  g.beginPath();
  for (let i = 0; i <= 200; i++) {
    const phase = 2 * Math.PI * i / 200;
    if (i === 0) g.moveTo(x(phase), y(rateAt(phase, shape)));
    else g.lineTo(x(phase), y(rateAt(phase, shape)));
  }
  g.strokeStyle = "#2563eb";
  g.lineWidth = 2;
  g.stroke();
  g.beginPath();
  g.arc(x(stats.phase), y(stats.requested_rate), 6, 0, 2 * Math.PI);
  g.fillStyle = "#dc2626";
  g.fill();
  g.fillStyle = "#667085";
  g.font = "12px system-ui, sans-serif";
  g.fillText(`${tidy(shape.max_rate)}`, 2, pad + 4);
  g.fillText(`${tidy(shape.floor)}`, 2, height - pad);
  g.fillText("0 s", pad, height - 8);
  g.fillText(`${tidy(shape.period_s)} s`, width - pad - 40, height - 8);
  g.fillText(`now: ${tidy(stats.requested_rate)}`, x(stats.phase) + 8, y(stats.requested_rate) - 8);
}

function drawHistory() {
  const canvas = document.getElementById("history");
  const g = canvas.getContext("2d");
  const { width, height } = canvas;
  const pad = 20;
  g.clearRect(0, 0, width, height);
  if (history.length < 2) return;
  const now = history[history.length - 1].t;
  const top = Math.max(1e-9, ...history.map((h) => Math.max(h.requested, h.achieved ?? 0)));
  const x = (t) => pad + (width - 2 * pad) * (1 - (now - t) / HISTORY_S);
  const y = (rate) => height - pad - (height - 2 * pad) * rate / top;
  for (const [key, colour] of [["requested", "#2563eb"], ["achieved", "#16a34a"]]) {
    g.beginPath();
    history.filter((h) => h[key] !== null).forEach((h, i) => {
      if (i === 0) g.moveTo(x(h.t), y(h[key])); else g.lineTo(x(h.t), y(h[key]));
    });
    g.strokeStyle = colour;
    g.lineWidth = 2;
    g.stroke();
  }
  g.fillStyle = "#667085";
  g.font = "12px system-ui, sans-serif";
  g.fillText(`${tidy(top)}`, 2, pad);
  g.fillStyle = "#2563eb"; g.fillText("requested", width - 150, 14);
  g.fillStyle = "#16a34a"; g.fillText("achieved", width - 75, 14);
}

function show(id, value, digits = 2) {
  const text = value === null || value === undefined ? "–"
    : typeof value === "number" ? value.toFixed(digits) : value;
  document.getElementById(id).textContent = text;
}

function showFigures(stats) {
  const site = stats.site || {};
  const counts = stats.counts || {};
  show("requested", stats.requested_rate);
  show("achieved", stats.achieved_rate);
  show("in-flight", `${stats.in_flight} / ${stats.max_in_flight}`);
  const lost = (counts.skipped_in_flight_full || 0) + (counts.failed || 0) + (counts.refused || 0);
  show("not-created", lost, 0);
  show("active-users", site.users_reachable ? site.active_users : "unreachable", 0);
  show("server-count", site.router_reachable ? site.server_count : "unreachable", 0);
  show("utilisation", site.mean_utilisation === null || site.mean_utilisation === undefined
    ? null : `${(100 * site.mean_utilisation).toFixed(0)} %`);
  show("events", site.events_per_s, 1);
  document.getElementById("servers").innerHTML = (site.servers || []).map((s) =>
    `<li><span>${s.server_id}</span><span class="bar"><span style="width:${
      Math.min(100, 100 * s.utilisation)}%"></span></span><span>${s.streams}</span></li>`).join("");
  document.getElementById("token-row").hidden = !stats.token_required;
}

async function refresh() {
  const status = document.getElementById("status");
  try {
    const stats = await (await fetch("/api/stats")).json();
    status.textContent = `live · ${new Date().toLocaleTimeString()}`;
    status.className = "";
    showSettings(stats.wave, false);
    showFigures(stats);
    drawWave(stats);
    history.push({ t: performance.now() / 1000, requested: stats.requested_rate,
      achieved: stats.achieved_rate });
    while (history.length && history[history.length - 1].t - history[0].t > HISTORY_S) {
      history.shift();
    }
    drawHistory();
  } catch (error) {
    status.textContent = "orchestrator not answering";
    status.className = "down";
  }
}

buildControls().then(() => {
  refresh();
  setInterval(refresh, 500);
});
