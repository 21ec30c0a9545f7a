// CivicSentry: the coordination network of a cluster, drawn on a <canvas>.
// Own code, no library. The force layout (force.js: Barnes–Hut repulsion, springs,
// gravity) runs in a worker (force-worker.js) and posts positions; this thread only
// draws, so zoom (wheel), pan (drag), hover details and click (opens the account) stay
// smooth at 5,000 nodes. While the layout moves, at most MOVING_EDGES of the heaviest
// edges are drawn; all of them once it settles.
// Everything from the server is data: labels go through textContent, never HTML.
"use strict";

(function () {
  const canvas = document.getElementById("network");
  if (!canvas) return;
  const tip = document.getElementById("network-tip");
  const status = document.getElementById("network-status");
  const ctx = canvas.getContext("2d");
  const BUCKETS = 12; // colour buckets: nodes of one colour are filled in one path
  const MOVING_EDGES = 4000;

  function say(text) {
    if (status) status.textContent = text;
  }

  function color(v) {
    // blue (low) to red (high), grey when unknown; same ramp as the server's SVG
    if (v === null || v === undefined || Number.isNaN(v)) return "#9ca3af";
    const t = Math.min(1, Math.max(0, v));
    const r = Math.round(37 + t * (220 - 37));
    const g = Math.round(99 + t * (38 - 99));
    const b = Math.round(235 + t * (38 - 235));
    return "rgb(" + r + "," + g + "," + b + ")";
  }

  // -- view ---------------------------------------------------------------------------
  const view = { scale: 1, tx: 0, ty: 0, fitted: false };
  let layout = null, hovered = null, settled = false, pending = false;

  function resize() {
    const ratio = window.devicePixelRatio || 1;
    const w = canvas.clientWidth || canvas.width, h = canvas.clientHeight || canvas.height;
    canvas.width = Math.round(w * ratio);
    canvas.height = Math.round(h * ratio);
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  }

  function fit() {
    const w = canvas.clientWidth || canvas.width, h = canvas.clientHeight || canvas.height;
    let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
    for (const n of layout.nodes) {
      if (n.x < x0) x0 = n.x; if (n.x > x1) x1 = n.x;
      if (n.y < y0) y0 = n.y; if (n.y > y1) y1 = n.y;
    }
    const s = Math.min(w / (x1 - x0 + 40), h / (y1 - y0 + 40), 2);
    view.scale = s;
    view.tx = w / 2 - s * (x0 + x1) / 2;
    view.ty = h / 2 - s * (y0 + y1) / 2;
  }

  function draw() {
    const w = canvas.clientWidth || canvas.width, h = canvas.clientHeight || canvas.height;
    ctx.clearRect(0, 0, w, h);
    ctx.fillStyle = "#ffffff";
    ctx.fillRect(0, 0, w, h);
    ctx.save();
    ctx.translate(view.tx, view.ty);
    ctx.scale(view.scale, view.scale);
    ctx.lineWidth = 0.6 / view.scale;
    ctx.strokeStyle = "rgba(100,116,139,0.35)";
    const shown = settled ? layout.edges.length : Math.min(layout.edges.length, MOVING_EDGES);
    ctx.beginPath();
    for (let i = 0; i < shown; i++) {
      const e = layout.edges[i]; // heaviest first, as the server sends them
      ctx.moveTo(e.s.x, e.s.y); ctx.lineTo(e.t.x, e.t.y);
    }
    ctx.stroke();
    const groups = [];
    for (let i = 0; i <= BUCKETS; i++) groups.push([]);
    for (const n of layout.nodes) groups[n.bucket].push(n);
    let count = 0;
    groups.forEach(function (g, i) {
      if (!g.length) return;
      ctx.fillStyle = i === BUCKETS ? "#9ca3af" : color(i / (BUCKETS - 1));
      ctx.beginPath();
      for (const n of g) {
        if (n.r * view.scale < 1.5) { ctx.rect(n.x - n.r, n.y - n.r, 2 * n.r, 2 * n.r); continue; }
        ctx.moveTo(n.x + n.r, n.y); ctx.arc(n.x, n.y, n.r, 0, 2 * Math.PI);
      }
      ctx.fill();
      count += g.length;
    });
    if (hovered) {
      ctx.lineWidth = 2 / view.scale;
      ctx.strokeStyle = "#111827";
      ctx.beginPath();
      ctx.arc(hovered.x, hovered.y, hovered.r + 2 / view.scale, 0, 2 * Math.PI);
      ctx.stroke();
    }
    ctx.restore();
    canvas.dataset.drawnNodes = String(count);
    canvas.dataset.drawnEdges = String(shown);
  }

  function redraw() {
    // at most one draw per animation frame, whatever arrives in between
    if (pending) return;
    pending = true;
    window.requestAnimationFrame(function () { pending = false; draw(); });
  }

  function positions(msg) {
    const pos = msg.pos;
    layout.nodes.forEach(function (n, i) { n.x = pos[2 * i]; n.y = pos[2 * i + 1]; });
    if (!view.fitted) fit();
    if (msg.done) {
      settled = true;
      view.fitted = true;
      // Where the largest node is on screen (CSS pixels): lets a test hover it.
      const big = layout.nodes.reduce(function (m, n) { return n.r > m.r ? n : m; });
      canvas.dataset.probe = Math.round(big.x * view.scale + view.tx) + "," +
        Math.round(big.y * view.scale + view.ty);
      draw();
      canvas.dataset.settled = "true";
      return;
    }
    redraw();
  }

  function toWorld(ev) {
    const rect = canvas.getBoundingClientRect();
    const x = ev.clientX - rect.left, y = ev.clientY - rect.top;
    return { x: (x - view.tx) / view.scale, y: (y - view.ty) / view.scale, sx: x, sy: y };
  }

  function nodeAt(p) {
    let best = null, bestD = Infinity;
    const slack = 4 / view.scale;
    for (const n of layout.nodes) {
      const dx = n.x - p.x, dy = n.y - p.y, d = dx * dx + dy * dy;
      const r = n.r + slack;
      if (d < r * r && d < bestD) { best = n; bestD = d; }
    }
    return best;
  }

  function showTip(n, p) {
    if (!tip) return;
    if (!n) { tip.hidden = true; return; }
    tip.textContent = (n.handle ? n.handle + " · " : "") + n.id +
      "\nstrength " + n.strength + ", degree " + n.degree +
      "\nco-action share " + (n.share === null ? "–" : n.share.toFixed(2));
    tip.style.left = (p.sx + 12) + "px";
    tip.style.top = (p.sy + 12) + "px";
    tip.hidden = false;
  }

  let drag = null;
  canvas.addEventListener("mousedown", function (ev) {
    drag = { x: ev.clientX, y: ev.clientY, tx: view.tx, ty: view.ty, moved: false };
  });
  window.addEventListener("mouseup", function () { setTimeout(function () { drag = null; }, 0); });
  canvas.addEventListener("mousemove", function (ev) {
    if (!layout) return;
    if (drag && (ev.buttons & 1)) {
      view.tx = drag.tx + ev.clientX - drag.x;
      view.ty = drag.ty + ev.clientY - drag.y;
      drag.moved = true;
      view.fitted = true;
      redraw();
      return;
    }
    const p = toWorld(ev);
    const n = nodeAt(p);
    if (n !== hovered) { hovered = n; redraw(); }
    showTip(n, p);
  });
  canvas.addEventListener("mouseleave", function () { hovered = null; showTip(null); if (layout) redraw(); });
  canvas.addEventListener("wheel", function (ev) {
    if (!layout) return;
    ev.preventDefault();
    const p = toWorld(ev);
    const k = Math.exp(-ev.deltaY * 0.0015);
    view.scale *= k;
    view.tx = p.sx - p.x * view.scale;
    view.ty = p.sy - p.y * view.scale;
    view.fitted = true;
    redraw();
  }, { passive: false });
  canvas.addEventListener("click", function (ev) {
    if (!layout || (drag && drag.moved)) return;
    const n = nodeAt(toWorld(ev));
    if (n) window.location.assign("/accounts/" + encodeURIComponent(n.id));
  });

  function start(data) {
    const byId = new Map();
    const smax = data.nodes.reduce(function (m, n) { return Math.max(m, n.strength || 0); }, 0) || 1;
    const nodes = data.nodes.map(function (d) {
      const share = d.coaction_share === null || d.coaction_share === undefined ? null : Number(d.coaction_share);
      const n = {
        id: String(d.id), handle: d.handle === null ? null : String(d.handle),
        degree: d.degree, strength: d.strength, share: share,
        r: 2 + 6 * Math.sqrt((d.strength || 0) / smax),
        bucket: share === null ? BUCKETS : Math.round(Math.min(1, Math.max(0, share)) * (BUCKETS - 1)),
      };
      byId.set(n.id, n);
      return n;
    });
    const edges = [];
    for (const e of data.edges) {
      const s = byId.get(String(e.source)), t = byId.get(String(e.target));
      if (s && t) edges.push({ s: s, t: t, weight: e.weight || 1 });
    }
    canvas.dataset.nodes = String(nodes.length);
    canvas.dataset.edges = String(edges.length);
    say(nodes.length + " accounts, " + edges.length + " edges" +
        (data.edges_capped ? " (the heaviest of " + data.edges_total + ")" : "") + ".");
    if (!nodes.length) { canvas.dataset.drawnNodes = "0"; return; }
    layout = { nodes: nodes, edges: edges };
    resize();
    const index = new Map(nodes.map(function (n, i) { return [n, i]; }));
    const src = new Int32Array(edges.length), dst = new Int32Array(edges.length);
    const weight = new Float64Array(edges.length);
    edges.forEach(function (e, i) { src[i] = index.get(e.s); dst[i] = index.get(e.t); weight[i] = e.weight; });
    const worker = new Worker("/static/force-worker.js");
    worker.onmessage = function (ev) { positions(ev.data); if (ev.data.done) worker.terminate(); };
    worker.onerror = function (err) { canvas.dataset.error = "true"; say("layout failed: " + err.message); };
    worker.postMessage({ n: nodes.length, src: src, dst: dst, weight: weight }, [src.buffer, dst.buffer, weight.buffer]);
  }

  fetch(canvas.dataset.src, { credentials: "same-origin", headers: { Accept: "application/json" } })
    .then(function (r) {
      if (!r.ok) throw new Error("the network could not be loaded (" + r.status + ")");
      return r.json();
    })
    .then(start)
    .catch(function (err) { canvas.dataset.error = "true"; say(String(err.message || err)); });
})();
