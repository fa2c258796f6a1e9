'use strict';

const SVGNS = 'http://www.w3.org/2000/svg';
function svg(tag, attrs, ...kids) {
  const el = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v != null) el.setAttribute(k, String(v));
  for (const k of kids) if (k) el.appendChild(k);
  return el;
}

/// A step of 1, 2 or 5 × 10^n giving about `ticks` intervals up to `max`.
function niceStep(max, ticks) {
  if (!(max > 0)) return 1;
  const raw = max / ticks;
  const p = Math.pow(10, Math.floor(Math.log10(raw)));
  const m = raw / p;
  return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
}

const Chart = {
  /// spec: { times: [ms], series: [{ name, values: [number|null] }], kind: 'bar'|'line'|'area',
  ///         stacked, format: (v) => string, bucketMs, id }
  /// Returns a box with the SVG, a legend and a tooltip; `data-sum` holds the sum of
  /// every value (tests read it).
  render(spec) {
    const n = spec.times.length;
    let sum = 0;
    for (const s of spec.series) for (let i = 0; i < n; i++) sum += Number(s.values[i]) || 0;
    const box = h('div', { class: 'chart-box', id: spec.id || null, dataset: { sum: String(Math.round(sum * 1e6) / 1e6) } });
    const tip = h('div', { class: 'tip' });
    const legend = h('div', { class: 'legend' },
      spec.series.map((s, si) => h('span', h('i', { class: 's' + (s.cls != null ? s.cls : si) }), s.name)));
    let root = Chart.draw(spec, 640, tip), width = 640;
    add(box, root, tip, legend);
    // Drawn again at the width it gets, so text keeps its size at any width.
    if (window.ResizeObserver) {
      new ResizeObserver(() => {
        const w = Math.round(box.clientWidth);
        if (w > 0 && Math.abs(w - width) > 1) {
          width = w;
          const next = Chart.draw(spec, w, tip);
          box.replaceChild(next, root);
          root = next;
        }
      }).observe(box);
    }
    return box;
  },

  draw(spec, W, tip) {
    const H = spec.height || 220, L = 52, R = 10, T = 10, B = 24;
    const pw = W - L - R, ph = H - T - B;
    const n = spec.times.length;
    const kind = spec.kind || 'line';
    const format = spec.format || fmt.compact;
    const series = spec.series;
    let max = 0;
    for (let i = 0; i < n; i++) {
      let stack = 0;
      for (const s of series) {
        const v = Number(s.values[i]) || 0;
        if (spec.stacked) stack += v; else max = Math.max(max, v);
      }
      if (spec.stacked) max = Math.max(max, stack);
    }
    // Counts (no format given) step by whole numbers.
    const step = spec.format ? niceStep(max, 4) : Math.max(1, niceStep(max, 4));
    const top = max > 0 ? Math.ceil(max / step) * step : 1;
    const y = (v) => T + ph - (v / top) * ph;
    const band = n ? pw / n : pw;
    const xc = (i) => L + band * (i + 0.5);

    const root = svg('svg', { viewBox: '0 0 ' + W + ' ' + H, width: W, height: H, class: 'chart', role: 'img', 'aria-label': spec.title || '' });
    // Grid and y labels.
    for (let k = 0, v = 0; v <= top + step / 2; k++, v = k * step) {
      const yy = y(v);
      root.appendChild(svg('line', { x1: L, x2: W - R, y1: yy, y2: yy, class: v === 0 ? 'axis' : 'grid' }));
      const t = svg('text', { x: L - 6, y: yy + 4, 'text-anchor': 'end' });
      t.textContent = format(v);
      root.appendChild(t);
    }
    // X labels: whole hours or days, as many as fit.
    const span = n ? spec.times[n - 1] - spec.times[0] : 0;
    const daily = span > 2 * 86400000;
    const every = Math.max(1, Math.ceil(n / Math.max(2, Math.floor(pw / 70))));
    for (let i = 0; i < n; i += every) {
      const t = svg('text', { x: xc(i), y: H - 6, 'text-anchor': 'middle' });
      t.textContent = daily ? fmt.day(spec.times[i]) : fmt.hour(spec.times[i]);
      root.appendChild(t);
    }
    // Data.
    if (kind === 'bar') {
      const bw = Math.max(1, band * 0.72);
      const base = new Array(n).fill(0);
      series.forEach((s, si) => {
        const g = svg('g', { class: 's' + (s.cls != null ? s.cls : si) });
        for (let i = 0; i < n; i++) {
          const v = Number(s.values[i]) || 0;
          if (v <= 0) continue;
          const b = spec.stacked ? base[i] : 0;
          const x = spec.stacked ? xc(i) - bw / 2 : xc(i) - bw / 2 + (bw / series.length) * si;
          const w = spec.stacked ? bw : bw / series.length;
          g.appendChild(svg('rect', { class: 'bar', x: x.toFixed(1), y: y(b + v).toFixed(1), width: w.toFixed(1),
            height: Math.max(0.5, y(b) - y(b + v)).toFixed(1), 'data-v': v }));
          if (spec.stacked) base[i] += v;
        }
        root.appendChild(g);
      });
    } else {
      series.forEach((s, si) => {
        let line = '', area = '', run = [];
        const flush = () => {
          if (!run.length) return;
          line += run.map((p, k) => (k ? 'L' : 'M') + p[0].toFixed(1) + ' ' + p[1].toFixed(1)).join('');
          area += 'M' + run[0][0].toFixed(1) + ' ' + y(0).toFixed(1) +
            run.map((p) => 'L' + p[0].toFixed(1) + ' ' + p[1].toFixed(1)).join('') +
            'L' + run[run.length - 1][0].toFixed(1) + ' ' + y(0).toFixed(1) + 'Z';
          run = [];
        };
        for (let i = 0; i < n; i++) {
          const v = s.values[i];
          if (v == null || isNaN(v)) { flush(); continue; }
          run.push([xc(i), y(Number(v))]);
        }
        flush();
        const g = svg('g', { class: 's' + (s.cls != null ? s.cls : si) });
        if (kind === 'area' && area) g.appendChild(svg('path', { class: 'area', d: area }));
        if (line) g.appendChild(svg('path', { class: 'line', d: line }));
        // Points with a value other than zero are marked (a lone point draws no line).
        for (let i = 0; i < n; i++) {
          const v = s.values[i];
          if (v == null || isNaN(v) || Number(v) === 0) continue;
          g.appendChild(svg('circle', { cx: xc(i).toFixed(1), cy: y(Number(v)).toFixed(1), r: 2.5, 'data-v': v }));
        }
        root.appendChild(g);
      });
    }
    // Hover: a transparent band per hour shows that hour's figures.
    const hover = svg('line', { class: 'hover-line', y1: T, y2: T + ph, x1: 0, x2: 0, visibility: 'hidden' });
    root.appendChild(hover);
    const show = (i) => {
      hover.setAttribute('x1', xc(i)); hover.setAttribute('x2', xc(i));
      hover.setAttribute('visibility', 'visible');
      clear(tip);
      tip.appendChild(h('b', (daily ? fmt.day(spec.times[i]) + ' ' : '') + fmt.hour(spec.times[i]) + '–' +
        fmt.hour(spec.times[i] + (spec.bucketMs || 3600000))));
      series.forEach((s, si) => {
        const v = s.values[i];
        tip.appendChild(h('div', h('i', { class: 's' + (s.cls != null ? s.cls : si) }), s.name + ': ',
          v == null || isNaN(v) ? '–' : format(Number(v))));
      });
      tip.style.display = 'block';
      const px = xc(i);
      const left = px + 12 + tip.offsetWidth > W ? px - 12 - tip.offsetWidth : px + 12;
      tip.style.left = Math.max(0, left) + 'px';
      tip.style.top = '8px';
    };
    for (let i = 0; i < n; i++) {
      const r = svg('rect', { class: 'hit', x: L + band * i, y: T, width: band, height: ph });
      r.addEventListener('mouseenter', () => show(i));
      r.addEventListener('click', () => show(i));
      root.appendChild(r);
    }
    root.addEventListener('mouseleave', () => { tip.style.display = 'none'; hover.setAttribute('visibility', 'hidden'); });
    return root;
  },
};

/// Hourly trend points → { times, get(fn) } with every hour present (a missing time is
/// counted back from the current hour).
function trendSeries(points) {
  const hour = 3600000;
  const now = Math.floor(Date.now() / hour) * hour;
  const times = points.map((p, i) => {
    const t = pick(p, 'hour_ms', 'time_ms', 'start_ms', 'ts_ms', 'bucket_start_ms');
    return t != null ? Number(t) : now - (points.length - 1 - i) * hour;
  });
  const stats = points.map(statsOf);
  return { times, stats, get: (f) => stats.map((s) => f(s)) };
}