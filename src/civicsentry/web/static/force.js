// CivicSentry: a force-directed layout on flat arrays, for the network view's worker.
// Barnes–Hut repulsion over a quadtree (O(n log n) per tick), springs on edges, a little
// gravity, cooling by `alpha`. Deterministic: nodes start on a phyllotaxis spiral.
"use strict";

function ForceLayout(n, src, dst, weight) {
  this.n = n;
  this.src = src;
  this.dst = dst;
  this.x = new Float64Array(n);
  this.y = new Float64Array(n);
  this.vx = new Float64Array(n);
  this.vy = new Float64Array(n);
  this.k = new Float64Array(src.length);
  this.alpha = 1;
  const golden = Math.PI * (3 - Math.sqrt(5));
  for (let i = 0; i < n; i++) {
    const r = 10 * Math.sqrt(i + 0.5);
    this.x[i] = r * Math.cos(i * golden);
    this.y[i] = r * Math.sin(i * golden);
  }
  let wmax = 1;
  for (let e = 0; e < weight.length; e++) wmax = Math.max(wmax, weight[e]);
  for (let e = 0; e < weight.length; e++) this.k[e] = 0.02 + 0.08 * (weight[e] / wmax);
  // Quadtree cells in flat, reused arrays: no garbage per tick.
  const cap = 4 * n + 8;
  this.cx0 = new Float64Array(cap); this.cy0 = new Float64Array(cap); this.size = new Float64Array(cap);
  this.mass = new Float64Array(cap); this.mx = new Float64Array(cap); this.my = new Float64Array(cap);
  this.node = new Int32Array(cap); this.kids = new Int32Array(cap * 4);
  this.cells = 0;
  this.stack = new Int32Array(cap);
}

ForceLayout.prototype.cell = function (x0, y0, size) {
  const c = this.cells++;
  this.cx0[c] = x0; this.cy0[c] = y0; this.size[c] = size;
  this.mass[c] = 0; this.mx[c] = 0; this.my[c] = 0; this.node[c] = -1;
  this.kids[4 * c] = this.kids[4 * c + 1] = this.kids[4 * c + 2] = this.kids[4 * c + 3] = -1;
  return c;
};

ForceLayout.prototype.insert = function (i) {
  let c = 0, depth = 0;
  const x = this.x[i], y = this.y[i];
  for (;;) {
    this.mx[c] = (this.mx[c] * this.mass[c] + x) / (this.mass[c] + 1);
    this.my[c] = (this.my[c] * this.mass[c] + y) / (this.mass[c] + 1);
    this.mass[c] += 1;
    const leaf = this.kids[4 * c] === -1 && this.kids[4 * c + 1] === -1 &&
      this.kids[4 * c + 2] === -1 && this.kids[4 * c + 3] === -1;
    if (leaf && this.node[c] === -1 && this.mass[c] === 1) { this.node[c] = i; return; }
    if (depth > 40 || this.cells + 5 >= this.node.length) return; // coincident points
    if (leaf && this.node[c] !== -1) { // split: push the resident down one level
      const j = this.node[c];
      this.node[c] = -1;
      const q = this.child(c, this.x[j], this.y[j]);
      this.mx[q] = this.x[j]; this.my[q] = this.y[j]; this.mass[q] = 1; this.node[q] = j;
    }
    c = this.child(c, x, y);
    depth++;
  }
};

ForceLayout.prototype.child = function (c, x, y) {
  const h = this.size[c] / 2;
  const right = x >= this.cx0[c] + h ? 1 : 0, down = y >= this.cy0[c] + h ? 1 : 0;
  const slot = 4 * c + right + 2 * down;
  if (this.kids[slot] === -1) {
    this.kids[slot] = this.cell(this.cx0[c] + right * h, this.cy0[c] + down * h, h);
  }
  return this.kids[slot];
};

ForceLayout.prototype.tick = function () {
  const n = this.n, x = this.x, y = this.y, vx = this.vx, vy = this.vy, a = this.alpha;
  let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
  for (let i = 0; i < n; i++) {
    if (x[i] < x0) x0 = x[i]; if (x[i] > x1) x1 = x[i];
    if (y[i] < y0) y0 = y[i]; if (y[i] > y1) y1 = y[i];
  }
  this.cells = 0;
  this.cell(x0, y0, Math.max(x1 - x0, y1 - y0) + 1);
  for (let i = 0; i < n; i++) this.insert(i);
  const strength = 30 * a, theta2 = 0.81, stack = this.stack;
  for (let i = 0; i < n; i++) {
    let top = 0;
    stack[top++] = 0;
    while (top > 0) {
      const c = stack[--top];
      if (this.mass[c] === 0) continue;
      const dx = this.mx[c] - x[i], dy = this.my[c] - y[i];
      let d2 = dx * dx + dy * dy;
      const leaf = this.node[c] !== -1 || (this.kids[4 * c] === -1 && this.kids[4 * c + 1] === -1 &&
        this.kids[4 * c + 2] === -1 && this.kids[4 * c + 3] === -1);
      if (leaf || (this.size[c] * this.size[c]) / (d2 + 1e-9) < theta2) {
        if (this.node[c] === i && this.mass[c] === 1) continue;
        if (d2 < 1) d2 = 1;
        const f = (strength * this.mass[c]) / d2;
        vx[i] -= dx * f; vy[i] -= dy * f;
        continue;
      }
      for (let s = 0; s < 4; s++) {
        const k = this.kids[4 * c + s];
        if (k !== -1) stack[top++] = k;
      }
    }
  }
  const src = this.src, dst = this.dst, k = this.k;
  for (let e = 0; e < src.length; e++) {
    const s = src[e], t = dst[e];
    const dx = x[t] - x[s], dy = y[t] - y[s];
    const d = Math.sqrt(dx * dx + dy * dy) || 1;
    const f = ((d - 30) / d) * k[e] * a;
    vx[s] += dx * f; vy[s] += dy * f; vx[t] -= dx * f; vy[t] -= dy * f;
  }
  for (let i = 0; i < n; i++) {
    vx[i] -= x[i] * 0.002 * a; vy[i] -= y[i] * 0.002 * a; // gravity
    vx[i] *= 0.6; vy[i] *= 0.6;
    x[i] += vx[i]; y[i] += vy[i];
  }
  this.alpha *= 0.975;
  return this.alpha > 0.01;
};

if (typeof self !== "undefined") self.ForceLayout = ForceLayout;
