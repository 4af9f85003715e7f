// Draws the embedded history on a canvas: one lane a client worker, one bar
// an op, fault periods shaded behind. Only what is in view is drawn, and a bar
// that would land on a pixel its lane already has in that colour is skipped,
// so a frame costs about one pass over the ops however many there are.
(function () {
  "use strict";
  const D = JSON.parse(document.getElementById("data").textContent);
  const N = D.start.length;
  const COLORS = ["#2e9d4a", "#d98a00", "#d03030", "#8a8a8a"]; // ok fail info open
  const FAULT_COLORS = {
    partition: "#3b6fd8", kill: "#c0392b", pause: "#8e44ad", stall: "#16a085",
    reset: "#d35400", clock: "#7f8c8d", loss: "#b7950b",
  };
  const AXIS_H = 22, FAULT_ROW_H = 12, PAD = 4;
  const canvas = document.getElementById("timeline");
  const ctx = canvas.getContext("2d");
  const tip = document.getElementById("tip");
  const status = document.getElementById("status");
  const nLanes = Math.max(D.lanes.length, 1);
  const faultKinds = [...new Set(D.faults.map((f) => f.kind))];
  const faultTop = AXIS_H;
  const lanesTop = AXIS_H + faultKinds.length * FAULT_ROW_H + PAD;
  const laneH = Math.max(3, Math.min(16, Math.floor(600 / nLanes)));
  const end = Math.max(D.end, 1);
  const blamed = new Set(D.blamed);

  // Typed columns, and per lane the ops sorted by start for hit tests.
  const start = Float64Array.from(D.start);
  const stop = new Float64Array(N);
  for (let i = 0; i < N; i++) stop[i] = D.dur[i] < 0 ? end : start[i] + D.dur[i];
  const lane = Int32Array.from(D.lane);
  const out = Uint8Array.from(D.out);
  const byOutcome = [[], [], [], []];
  for (let i = 0; i < N; i++) byOutcome[out[i]].push(i);
  const laneOps = Array.from({ length: nLanes }, () => []);
  for (let i = 0; i < N; i++) laneOps[lane[i]].push(i);
  for (const l of laneOps) l.sort((a, b) => start[a] - start[b]);
  const longest = new Float64Array(nLanes); // longest op per lane bounds the back-scan
  for (let i = 0; i < N; i++) longest[lane[i]] = Math.max(longest[lane[i]], stop[i] - start[i]);
  const blamedIdx = [];
  for (let i = 0; i < N; i++) if (blamed.has(D.idx[i])) blamedIdx.push(i);

  let t0 = 0, t1 = end, width = 0, pinned = -1;

  function layout() {
    const dpr = window.devicePixelRatio || 1;
    width = canvas.parentElement.clientWidth;
    const height = lanesTop + nLanes * laneH + PAD;
    canvas.style.height = height + "px";
    canvas.width = Math.round(width * dpr);
    canvas.height = Math.round(height * dpr);
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  }

  const xOf = (t) => ((t - t0) / (t1 - t0)) * width;
  const tOf = (x) => t0 + (x / width) * (t1 - t0);
  const secs = (t) => (t * D.unit) / 1e9;

  function fmtTime(t) {
    const s = secs(t);
    const span = secs(t1 - t0);
    if (span < 1e-3) return (s * 1e6).toFixed(1) + "µs";
    if (span < 1) return (s * 1e3).toFixed(span < 0.01 ? 2 : 1) + "ms";
    return s.toFixed(span < 10 ? 2 : 1) + "s";
  }

  function niceStep(span, target) {
    const raw = span / target;
    const p = Math.pow(10, Math.floor(Math.log10(raw)));
    for (const m of [1, 2, 5, 10]) if (raw <= m * p) return m * p;
    return 10 * p;
  }

  function draw() {
    const began = performance.now();
    const H = canvas.height / (window.devicePixelRatio || 1);
    ctx.clearRect(0, 0, width, H);
    // Fault periods: a shaded band over all lanes and a labelled bar in its row.
    D.faults.forEach((f) => {
      const x0 = Math.max(0, xOf(f.start));
      const x1 = Math.min(width, xOf(f.end === null ? end : f.end));
      if (x1 < 0 || x0 > width) return;
      const c = FAULT_COLORS[f.kind] || "#555";
      const w = Math.max(1, x1 - x0);
      ctx.globalAlpha = 0.12;
      ctx.fillStyle = c;
      ctx.fillRect(x0, lanesTop - PAD, w, H - lanesTop + PAD);
      ctx.globalAlpha = 0.85;
      const row = faultKinds.indexOf(f.kind);
      ctx.fillRect(x0, faultTop + row * FAULT_ROW_H + 1, w, FAULT_ROW_H - 2);
      ctx.globalAlpha = 1;
      if (w > 40) {
        ctx.fillStyle = "#fff";
        ctx.font = "10px sans-serif";
        ctx.fillText(f.kind, x0 + 3, faultTop + row * FAULT_ROW_H + FAULT_ROW_H - 3, w - 6);
      }
    });
    // Ops, one colour at a time; lastX skips bars on already painted pixels.
    const k = width / (t1 - t0);
    const lastX = new Float64Array(nLanes);
    const h = Math.max(1, laneH - (laneH > 4 ? 2 : 1));
    for (let o = 0; o < 4; o++) {
      ctx.fillStyle = COLORS[o];
      lastX.fill(-1);
      const ids = byOutcome[o];
      for (let j = 0; j < ids.length; j++) {
        const i = ids[j];
        if (stop[i] < t0 || start[i] > t1) continue;
        const x0 = (start[i] - t0) * k;
        const x1 = Math.max((stop[i] - t0) * k, x0 + 1);
        const l = lane[i];
        if (x1 <= lastX[l]) continue;
        const from = Math.max(x0, lastX[l]);
        ctx.fillRect(from, lanesTop + l * laneH, x1 - from, h);
        lastX[l] = Math.floor(x1);
      }
    }
    // The ops a checker blames: a red frame and a marker above.
    ctx.strokeStyle = "#e00000";
    ctx.fillStyle = "#e00000";
    ctx.lineWidth = 2;
    for (const i of blamedIdx) {
      const x0 = xOf(start[i]), x1 = Math.max(xOf(stop[i]), x0 + 2);
      const y = lanesTop + lane[i] * laneH;
      ctx.strokeRect(x0 - 1, y - 1, x1 - x0 + 2, laneH);
      ctx.beginPath();
      ctx.moveTo(x0, y - 2); ctx.lineTo(x0 - 4, y - 8); ctx.lineTo(x0 + 4, y - 8);
      ctx.fill();
    }
    if (pinned >= 0) {
      ctx.strokeStyle = "#000";
      ctx.lineWidth = 1;
      const x0 = xOf(start[pinned]);
      ctx.strokeRect(x0 - 1, lanesTop + lane[pinned] * laneH - 1, Math.max(xOf(stop[pinned]) - x0, 1) + 2, laneH);
    }
    drawAxis(H);
    const ms = performance.now() - began;
    status.textContent = N + " ops, " + nLanes + " lanes · " + fmtTime(t0) + " – " + fmtTime(t1) + " · drawn in " + ms.toFixed(1) + " ms";
    return ms;
  }

  function drawAxis(H) {
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, width, AXIS_H);
    ctx.strokeStyle = "#999";
    ctx.fillStyle = "#333";
    ctx.font = "11px sans-serif";
    ctx.lineWidth = 1;
    const step = niceStep(t1 - t0, Math.max(2, width / 110));
    for (let t = Math.ceil(t0 / step) * step; t <= t1; t += step) {
      const x = Math.round(xOf(t)) + 0.5;
      ctx.beginPath(); ctx.moveTo(x, AXIS_H - 6); ctx.lineTo(x, AXIS_H); ctx.stroke();
      ctx.globalAlpha = 0.15;
      ctx.beginPath(); ctx.moveTo(x, AXIS_H); ctx.lineTo(x, H); ctx.stroke();
      ctx.globalAlpha = 1;
      ctx.fillText(fmtTime(t), x + 2, 12);
    }
    ctx.beginPath(); ctx.moveTo(0, AXIS_H - 0.5); ctx.lineTo(width, AXIS_H - 0.5); ctx.stroke();
  }

  // The op under a point, if any: binary search in the lane, then scan back
  // over ops that started earlier but may still cover the time.
  function opAt(x, y) {
    const l = Math.floor((y - lanesTop) / laneH);
    if (l < 0 || l >= nLanes) return -1;
    const ops = laneOps[l];
    const t = tOf(x), slack = (t1 - t0) / width * 2;
    let lo = 0, hi = ops.length;
    while (lo < hi) { const m = (lo + hi) >> 1; if (start[ops[m]] <= t + slack) lo = m + 1; else hi = m; }
    for (let j = lo - 1; j >= 0; j--) {
      const i = ops[j];
      if (start[i] < t - longest[l] - slack) break;
      if (stop[i] + slack >= t) return i;
    }
    return -1;
  }

  function describe(i) {
    const lat = D.dur[i] < 0 ? "never completed" : "latency " + (secs(D.dur[i]) * 1e3).toFixed(3) + " ms";
    return "op " + D.idx[i] + "  process " + D.proc[i] + "  " + D.fns[D.f[i]] + " " + D.desc[i] +
      "\n" + D.outcomes[out[i]] + "  at " + secs(start[i]).toFixed(6) + " s  " + lat +
      (blamed.has(D.idx[i]) ? "\nblamed by a checker" : "");
  }

  // The fault period under a point in the fault rows, if any.
  function faultAt(x, y) {
    const row = Math.floor((y - faultTop) / FAULT_ROW_H);
    if (y < faultTop || row >= faultKinds.length) return null;
    const t = tOf(x), slack = (t1 - t0) / width * 2;
    return D.faults.find((f) => f.kind === faultKinds[row] &&
      f.start - slack <= t && (f.end === null ? end : f.end) + slack >= t) || null;
  }

  function describeFault(f) {
    const until = f.end === null ? "the end" : secs(f.end).toFixed(3) + " s";
    return f.kind + " from " + secs(f.start).toFixed(3) + " s to " + until +
      "\n" + f.what + "\n" + f.words;
  }

  function zoom(factor, atX) {
    const t = tOf(atX);
    let span = Math.min(end * 1.05, Math.max((t1 - t0) * factor, 1e-6 * end + 1e-9));
    t0 = t - (atX / width) * span;
    t1 = t0 + span;
    draw();
  }

  canvas.addEventListener("wheel", (e) => {
    e.preventDefault();
    const r = canvas.getBoundingClientRect();
    zoom(Math.pow(1.0015, e.deltaY), e.clientX - r.left);
  }, { passive: false });

  let drag = null;
  canvas.addEventListener("mousedown", (e) => { drag = { x: e.clientX, t0, t1, moved: false }; });
  window.addEventListener("mouseup", (e) => {
    if (drag && !drag.moved) {
      const r = canvas.getBoundingClientRect();
      pinned = opAt(e.clientX - r.left, e.clientY - r.top);
      document.getElementById("pinned").textContent = pinned >= 0 ? describe(pinned) : "";
      draw();
    }
    drag = null;
    canvas.classList.remove("dragging");
  });
  canvas.addEventListener("mousemove", (e) => {
    const r = canvas.getBoundingClientRect();
    const x = e.clientX - r.left, y = e.clientY - r.top;
    if (drag) {
      const dt = ((e.clientX - drag.x) / width) * (drag.t1 - drag.t0);
      if (Math.abs(e.clientX - drag.x) > 2) { drag.moved = true; canvas.classList.add("dragging"); }
      t0 = drag.t0 - dt; t1 = drag.t1 - dt;
      draw();
      tip.hidden = true;
      return;
    }
    const i = opAt(x, y);
    const f = i < 0 ? faultAt(x, y) : null;
    if (i < 0 && !f) { tip.hidden = true; return; }
    tip.textContent = i >= 0 ? describe(i) : describeFault(f);
    tip.hidden = false;
    tip.style.left = Math.min(x + 12, width - tip.offsetWidth - 4) + "px";
    tip.style.top = y + 14 + "px";
  });
  canvas.addEventListener("mouseleave", () => { tip.hidden = true; });
  canvas.addEventListener("dblclick", (e) => {
    const r = canvas.getBoundingClientRect();
    zoom(0.25, e.clientX - r.left);
  });
  const reset = () => { t0 = 0; t1 = end; draw(); };
  document.getElementById("zoom-in").onclick = () => zoom(0.5, width / 2);
  document.getElementById("zoom-out").onclick = () => zoom(2, width / 2);
  document.getElementById("reset").onclick = reset;
  const go = document.getElementById("goto-failure");
  if (blamedIdx.length) {
    go.hidden = false;
    go.onclick = () => {
      const i = blamedIdx[0];
      const pad = Math.max((stop[i] - start[i]) * 4, end / 2000);
      t0 = start[i] - pad; t1 = stop[i] + pad;
      pinned = i;
      document.getElementById("pinned").textContent = describe(i);
      draw();
    };
  }
  window.addEventListener("keydown", (e) => {
    if (e.target.tagName === "INPUT") return;
    if (e.key === "+" || e.key === "=") zoom(0.5, width / 2);
    else if (e.key === "-") zoom(2, width / 2);
    else if (e.key === "0") reset();
    else if (e.key === "ArrowLeft") { const d = (t1 - t0) * 0.2; t0 -= d; t1 -= d; draw(); }
    else if (e.key === "ArrowRight") { const d = (t1 - t0) * 0.2; t0 += d; t1 += d; draw(); }
  });
  window.addEventListener("resize", () => { layout(); draw(); });

  const legend = document.getElementById("legend");
  const item = (color, label) => {
    const s = document.createElement("span");
    s.innerHTML = '<i style="background:' + color + '"></i>';
    s.appendChild(document.createTextNode(label));
    legend.appendChild(s);
  };
  D.outcomes.forEach((o, n) => item(COLORS[n], o));
  faultKinds.forEach((f) => item(FAULT_COLORS[f] || "#555", f + " (fault)"));
  if (blamedIdx.length) item("#e00000", "blamed by a checker");

  layout();
  const ms = draw();
  // For tests and benchmarks: when the first frame was done, since navigation.
  document.documentElement.dataset.drawMs = ms.toFixed(1);
  document.documentElement.dataset.drawnAt = performance.now().toFixed(1);
  document.documentElement.dataset.ops = String(N);
})();
