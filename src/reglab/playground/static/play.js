// reglab playground: the form's state lives in the URL; every change posts it to /api/run and redraws.
"use strict";
const form = document.getElementById("controls");
const FIELDS = ["scenario", "dataset", "scale", "n", "p", "model", "hidden", "penalty", "l1_ratio", "rule",
  "optimizer", "lam", "lr", "steps", "batch_size", "seed"];
const NUMERIC = new Set(["scale", "n", "p", "hidden", "l1_ratio", "lam", "lr", "steps", "batch_size", "seed"]);
let PRESETS = {};
let seq = 0;
window.lastRun = null;
window.runCount = 0;

function setField(name, value) { form.elements[name].value = value; }

function readState() {
  const state = {};
  for (const f of FIELDS) {
    const raw = form.elements[f].value;
    if (!NUMERIC.has(f)) { state[f] = raw; continue; }
    // send what was typed when it is not a number, so the server names the bad field
    const num = Number(raw);
    state[f] = raw.trim() === "" || !Number.isFinite(num) ? raw : num;
  }
  state.weights = Array.from(document.getElementById("weights").selectedOptions).map(o => o.value);
  return state;
}

function applyState(state) {
  for (const f of FIELDS) if (state[f] !== undefined && state[f] !== null) setField(f, state[f]);
  syncSliders();
}

function stateToQuery(state) {
  const q = new URLSearchParams();
  const preset = document.getElementById("preset").value;
  if (preset) q.set("preset", preset);
  for (const f of FIELDS) q.set(f, String(state[f]));
  if (state.weights.length) q.set("weights", state.weights.join(";"));
  return q.toString();
}

function syncSliders() {
  for (const [name, id] of [["lam", "lam-slider"], ["lr", "lr-slider"]]) {
    const v = Number(form.elements[name].value);
    if (v > 0) document.getElementById(id).value = Math.log10(v).toFixed(2);
  }
}

function showError(message) {
  const box = document.getElementById("error");
  box.textContent = message;
  box.hidden = !message;
}

async function rerun() {
  const state = readState();
  history.replaceState(null, "", "?" + stateToQuery(state));
  const mine = ++seq;
  document.body.dataset.state = "busy";
  let reply, body;
  try {
    reply = await fetch("/api/run", {method: "POST", headers: {"Content-Type": "application/json"},
                                     body: JSON.stringify(state)});
    body = await reply.json();
  } catch (err) {
    body = {error: "request failed: " + err};
    reply = {ok: false};
  }
  if (mine !== seq) return;  // a newer request is on its way
  window.runCount += 1;
  if (!reply.ok) {
    showError(body.error || JSON.stringify(body));
    document.body.dataset.state = "error";
    return;
  }
  showError("");
  window.lastRun = body;
  draw(body);
  document.body.dataset.state = "ready";
}

function theoryTraces(w, steps) {
  const th = w.theory || {};
  const last = steps[steps.length - 1];
  if (th.kind === "l2_decay")
    return [{x: steps, y: th.values, name: `theory ${w.name}: ${th.text}`, mode: "lines", line: {dash: "dot", width: 2}}];
  if (th.kind === "l1_band")
    return [{x: [th.crossing, last], y: [th.eps, th.eps], name: `ε = ${th.eps.toPrecision(6)}`, mode: "lines", line: {dash: "dash"}},
            {x: [th.crossing, last], y: [th.other, th.other], name: `ε − ηλ = ${th.other.toPrecision(6)}`, mode: "lines", line: {dash: "dash"}}];
  if (th.kind === "l1_prox_zero")
    return [{x: [th.step, th.step], y: [0, th.w0], name: `predicted zero at step ${th.step}`, mode: "lines", line: {dash: "dash"}},
            {x: [th.step], y: [0], name: "⌈|w₀|/(ηλ)⌉", mode: "markers", marker: {size: 10, symbol: "x"}}];
  return [];
}

const LAYOUT = (title, ytitle, extra) => Object.assign({title: {text: title, font: {size: 14}}, margin: {t: 36, r: 10, b: 40, l: 60},
  xaxis: {title: {text: "step"}}, yaxis: {title: {text: ytitle}}, legend: {font: {size: 10}}}, extra || {});
const CONFIG = {displaylogo: false, responsive: true};

function draw(run) {
  const steps = run.steps;
  const traces = [];
  for (const w of run.weights) {
    traces.push({x: steps, y: w.values, name: w.name, mode: "lines+markers", marker: {size: 3}});
    traces.push(...theoryTraces(w, steps));
  }
  Plotly.react("plot-weights", traces, LAYOUT("chosen weights and their theory", "w_t"), CONFIG);
  const h = run.history;
  Plotly.react("plot-losses", [
    {x: h.step, y: h.data_loss, name: "data loss", mode: "lines"},
    {x: h.step, y: h.penalty, name: "penalty", mode: "lines"},
    {x: h.step, y: h.objective, name: "objective", mode: "lines"}], LAYOUT("losses", "value", {yaxis: {type: "log", title: {text: "value"}}}), CONFIG);
  Plotly.react("plot-norms", run.summaries.map(s => ({x: steps, y: s.l2_norm, name: s.tensor, mode: "lines"})),
               LAYOUT("per-tensor L2 norm", "‖w‖₂"), CONFIG);
  Plotly.react("plot-zeros", run.summaries.map(s => ({x: steps, y: s.zero_fraction, name: s.tensor, mode: "lines"})),
               LAYOUT("per-tensor fraction of exact zeros", "fraction", {yaxis: {range: [-0.02, 1.02], title: {text: "fraction"}}}), CONFIG);
  const fmt = v => v === null || v === undefined ? "" : (Math.abs(v) < 1e4 ? Number(v).toPrecision(6) : Number(v).toExponential(3));
  const rows = run.diagnosis.per_weight.map(r =>
    `<tr><td>${esc(r.name)}</td><td>${esc(r.cls)}</td><td>${fmt(r.w0)}</td><td>${fmt(r.w_end)}</td><td>${fmt(r.zero_step)}</td><td>${fmt(r.rate)}</td><td>${fmt(r.theory_rate)}</td></tr>`);
  document.querySelector("#diagnosis tbody").innerHTML = rows.join("");
  const nul = run.diagnosis.is_null === null ? "" : ` · null model: ${run.diagnosis.is_null ? "yes" : "no"}`;
  document.getElementById("status").textContent =
    `status ${run.status} after ${run.steps_run} steps in ${(run.seconds * 1000).toFixed(0)} ms${nul}`;
  const c = run.claim;
  document.getElementById("claim").innerHTML =
    `illustrates claim <a id="claim-link" href="${esc(c.href)}">${esc(c.id)}</a>: ${esc(c.title)}`;
  document.getElementById("python").textContent = run.python;
  document.getElementById("yaml").textContent = run.yaml;
  const sel = document.getElementById("weights");
  const chosen = new Set(run.weights.map(w => w.name));
  sel.innerHTML = run.names.map(n => `<option value="${esc(n)}"${chosen.has(n) ? " selected" : ""}>${esc(n)}</option>`).join("");
}

function esc(s) {
  return String(s).replace(/[&<>"']/g, ch => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[ch]));
}

function loadPreset(key) {
  const p = PRESETS[key];
  if (!p) return;
  applyState(p.request);
  document.getElementById("weights").innerHTML = "";
}

async function init() {
  const reply = await fetch("/api/presets");
  PRESETS = (await reply.json()).presets;
  const sel = document.getElementById("preset");
  for (const [key, p] of Object.entries(PRESETS)) sel.insertAdjacentHTML("beforeend", `<option value="${esc(key)}">${esc(p.label)}</option>`);
  const q = new URLSearchParams(location.search);
  // a link names a preset, or the controls, or both (then the controls win); a bare URL opens "L1 subgradient"
  // ?claim=ID (the report's sections link so) opens the preset of that claim
  const ofClaim = Object.keys(PRESETS).find(k => PRESETS[k].claim === q.get("claim"));
  if (ofClaim && !q.get("preset")) q.set("preset", ofClaim);
  const preset = q.get("preset") && PRESETS[q.get("preset")] ? q.get("preset") : "l1-subgradient";
  loadPreset(preset);
  sel.value = q.get("preset") || !FIELDS.some(f => q.has(f)) ? preset : "";
  const fromUrl = {};
  for (const f of FIELDS) if (q.has(f)) fromUrl[f] = q.get(f);
  applyState(fromUrl);
  if (q.get("weights"))
    document.getElementById("weights").innerHTML = q.get("weights").split(";").map(n => `<option value="${esc(n)}" selected>${esc(n)}</option>`).join("");
  sel.addEventListener("change", () => { loadPreset(sel.value); rerun(); });
  form.addEventListener("change", ev => {
    if (ev.target.id === "preset") return;
    if (ev.target.id === "lam-slider" || ev.target.id === "lr-slider") {
      const name = ev.target.id === "lam-slider" ? "lam" : "lr";
      setField(name, Number(Math.pow(10, Number(ev.target.value)).toPrecision(3)));
    } else syncSliders();
    if (["scenario", "dataset", "model", "p", "hidden"].includes(ev.target.name))
      document.getElementById("weights").innerHTML = "";  // the old names may not exist in the new model
    sel.value = "";
    rerun();
  });
  form.addEventListener("submit", ev => { ev.preventDefault(); rerun(); });
  await rerun();
}

init();
