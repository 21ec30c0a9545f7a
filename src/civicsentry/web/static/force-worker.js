// CivicSentry: runs the network layout off the page's thread, so zooming, panning and
// hovering stay smooth while it settles; posts positions about every 30 ms.
"use strict";
importScripts("/static/force.js");

self.onmessage = function (ev) {
  const m = ev.data;
  const layout = new self.ForceLayout(m.n, m.src, m.dst, m.weight);
  let running = true;
  function step() {
    const started = performance.now();
    do { running = layout.tick(); } while (running && performance.now() - started < 30);
    const pos = new Float32Array(2 * m.n);
    for (let i = 0; i < m.n; i++) { pos[2 * i] = layout.x[i]; pos[2 * i + 1] = layout.y[i]; }
    self.postMessage({ pos: pos, done: !running }, [pos.buffer]);
    if (running) setTimeout(step, 0);
  }
  step();
};
