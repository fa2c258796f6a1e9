'use strict';

const RANGES = { '24h': 86400000, '7d': 7 * 86400000, '30d': 30 * 86400000 };
/// The range switches of the statistics, trends, usage pages and the token usage modal.
function rangeOptions() { return [['24h', t('range.24h')], ['7d', t('range.7d')], ['30d', t('range.30d')]]; }

function card(id, label, value, sub) {
  return h('div', { class: 'card', id }, h('div', { class: 'label' }, label),
    h('div', { class: 'value' }, value), h('div', { class: 'sub' }, sub || ''));
}
function seg(options, current, onpick, id) {
  const box = h('div', { class: 'seg', id, role: 'group' });
  options.forEach(([value, label]) => {
    const b = h('button', { type: 'button', class: value === current ? 'on' : '', dataset: { value } }, label);
    b.addEventListener('click', () => {
      $$('button', box).forEach((x) => x.classList.toggle('on', x === b));
      onpick(value);
    });
    box.appendChild(b);
  });
  return box;
}
/// A table; a header given as [text] is a number column (right-aligned).
function table(id, headers, rows, empty) {
  if (!rows.length) return h('div', { class: 'table-wrap', id }, h('div', { class: 'empty' }, empty || t('common.nothing')));
  return h('div', { class: 'table-wrap' }, h('table', { id },
    h('thead', h('tr', headers.map((x) => typeof x === 'string' ? h('th', x) : h('th', { class: 'num' }, x[0])))),
    h('tbody', rows)));
}
/// A list page's frame: the title with its "new" button, an intro line, a message area and
/// the box the list goes in.
function listFrame(root, title, button, intro) {
  const msg = h('div');
  const box = h('div', h('div', { class: 'muted' }, t('common.loading')));
  add(root, h('div', { class: 'row' }, h('h1', title), h('span', { class: 'spacer' }), button), h('p', { class: 'muted' }, intro), msg, box);
  return { msg, box };
}
/// A row button's change: the outcome as a toast, then the list loaded again.
async function act(promise, done, reload) {
  try { await promise; toast(done); } catch (e) { toast(describeError(e), true); }
  reload();
}
function num(v, f) { return h('td', { class: 'num' }, (f || fmt.int)(v)); }
/// The cache hit rate as the API defines it (`cache_hit_rate`, Sources/Admin/API.md):
/// cache reads over all input tokens (input + cache read + cache writes); null with none.
/// Computed from the token fields, so sums of Stats and log records get it too.
function hitRate(s) {
  const read = s.cache_read_tokens || 0, all = (s.input_tokens || 0) + read + cacheWrite(s);
  return all ? read / all : null;
}
function yesNo(b) { return b ? t('common.yes') : t('common.no'); }

// ---------- dashboard ----------
App.pages.dashboard = {
  title: 'nav.dashboard',
  async render(root) {
    const cards = h('div', { class: 'cards', id: 'dash-cards' });
    const timeline = h('div', { class: 'panel', id: 'health' }, h('h2', t('dash.health')), h('div', { class: 'muted' }, t('common.loading')));
    const active = h('div', { class: 'panel' }, h('div', { class: 'row' }, h('h2', t('dash.active')), h('span', { class: 'spacer' }),
      h('span', { class: 'muted', id: 'active-count' })), h('div', { id: 'active-box' }, h('div', { class: 'muted' }, t('common.loading'))));
    const msg = h('div');
    add(root, h('h1', t('nav.dashboard')), msg, cards, timeline, active);
    const drawCards = (s, channels) => {
      clear(cards);
      const rate = statRate(s);
      add(cards,
        card('stat-requests', t('dash.requests_24h'), fmt.int(s.requests || 0), t('dash.failovers', { n: fmt.int(s.failovers || 0) })),
        card('stat-success', t('dash.success_rate'), fmt.rate(rate), t('dash.succeeded', { n: fmt.int(s.successes || 0) })),
        card('stat-errors', t('dash.errors'), fmt.int(statErrors(s)), '4xx ' + fmt.int(s.errors_4xx || 0) + ' · 5xx ' + fmt.int(s.errors_5xx || 0) + ' · 429 ' + fmt.int(s.rate_limited || 0)),
        card('stat-ttfb', t('dash.ttfb_p50'), fmt.ms(s.ttfb_p50_ms), 'p95 ' + fmt.ms(s.ttfb_p95_ms)),
        card('stat-tokens', t('dash.tokens_io'), fmt.compact(s.input_tokens || 0) + ' / ' + fmt.compact(s.output_tokens || 0),
          t('dash.cache_rw', { read: fmt.compact(s.cache_read_tokens || 0), write: fmt.compact(cacheWrite(s)) })),
        card('stat-cache-hit', t('dash.cache_hit_rate'), fmt.rate(hitRate(s)),
          t('dash.cache_hit_sub', { read: fmt.compact(s.cache_read_tokens || 0), all: fmt.compact((s.input_tokens || 0) + (s.cache_read_tokens || 0) + cacheWrite(s)) })),
        card('stat-cost', t('dash.cost_24h'), fmt.usd(s.cost_usd || 0)),
        channels ? card('stat-channels', t('nav.channels'), fmt.int(channels.length),
          t('dash.channels_sub', { enabled: fmt.int(channels.filter((c) => c.enabled).length),
            cooling: fmt.int(channels.filter((c) => channelCooling(c).length).length) })) : null);
      $('#stat-requests .value', cards).dataset.value = String(s.requests || 0);
    };
    const drawTimeline = (points) => {
      const ts = trendSeries(points.slice(-24));
      const cells = ts.stats.map((s, i) => {
        const rate = statRate(s);
        const cls = rate == null ? '' : rate >= 0.98 ? 'ok' : rate >= 0.8 ? 'warn' : 'bad';
        return h('div', { class: 'cell ' + cls, title: fmt.hour(ts.times[i]) + ': ' + t('dash.cell_requests', { n: fmt.int(s.requests || 0) }) +
          (rate == null ? '' : ', ' + t('dash.cell_ok', { rate: fmt.rate(rate) })) });
      });
      clear(timeline);
      add(timeline, h('h2', t('dash.health')),
        h('div', { class: 'timeline' }, cells),
        h('div', { class: 'timeline-axis' }, h('span', ts.times.length ? fmt.hour(ts.times[0]) : ''), h('span', t('dash.now'))),
        Chart.render({ id: 'dash-requests', times: ts.times, kind: 'bar', stacked: true, title: t('dash.per_hour'), height: 160,
          series: [{ name: t('series.succeeded'), values: ts.get((s) => s.successes || 0), cls: 2 },
                   { name: t('series.failed'), values: ts.get((s) => statErrors(s)), cls: 1 }] }));
    };
    const refresh = async () => {
      const [stats, trend, chans] = await Promise.allSettled([api('GET', '/admin/stats?by=channel'),
        api('GET', '/admin/trends?range=24h'), api('GET', '/admin/channels')]);
      clear(msg);
      const channels = chans.status === 'fulfilled' ? chans.value.data || [] : null;
      if (stats.status === 'fulfilled') drawCards(statsOf(stats.value.totals), channels);
      else msg.appendChild(alertBox(stats.reason));
      if (trend.status === 'fulfilled') {
        const pts = trend.value.data || [];
        drawTimeline(pts);
        if (stats.status !== 'fulfilled') drawCards(sumStats(pts.map(statsOf)), channels);
      } else { clear(timeline).appendChild(alertBox(trend.reason)); }
    };
    const activeBox = $('#active-box', active);
    const pollActive = async () => {
      let r;
      try { r = await api('GET', '/admin/active-requests'); }
      catch (e) { clear(activeBox).appendChild(alertBox(e)); return; }
      const data = r.data || [];
      // The instance column shows once requests of more than one instance are listed.
      const many = new Set(data.map((a) => a.instance)).size > 1;
      const rows = data.map((a) => h('tr',
        h('td', { class: 'num muted' }, a.id), h('td', a.channel_name || ('#' + a.channel_id)), h('td', a.model),
        h('td', a.protocol), h('td', yesNo(a.stream)), num(a.elapsed_ms, fmt.ms), num(a.bytes_streamed, fmt.bytes),
        h('td', { class: 'mono' }, a.client || ''), many ? h('td', { class: 'mono' }, a.instance || '') : null));
      $('#active-count', active).textContent = t('dash.in_flight', { n: fmt.int(rows.length) });
      clear(activeBox).appendChild(table('active-table', [[t('col.id')], t('col.channel'), t('col.model'), t('col.protocol'), t('col.stream'),
        [t('col.elapsed')], [t('col.streamed')], t('col.client')].concat(many ? [t('col.instance')] : []), rows, t('dash.none_in_flight')));
    };
    await Promise.all([App.every(1000, pollActive), App.every(15000, refresh)]);
  },
};

// ---------- logs ----------
const LogFields = {
  time: (r) => pick(r, 'time_ms', 'timestamp_ms', 'created_ms', 'time_millis'),
  model: (r) => pick(r, 'model', 'requested_model') || '',
  upstream: (r) => pick(r, 'upstream_model') || '',
  ttfb: (r) => { const v = pick(r, 'ttfb_ms'); return v != null ? v : (r.ttfb_micros != null ? r.ttfb_micros / 1000 : null); },
  duration: (r) => { const v = pick(r, 'duration_ms'); return v != null ? v : (r.duration_micros != null ? r.duration_micros / 1000 : null); },
  cost: (r) => { const v = pick(r, 'cost_usd'); return v != null ? v : (r.cost_micro_usd != null ? r.cost_micro_usd / 1e6 : null); },
  channel: (r) => r.channel_name || (r.channel_id != null ? '#' + r.channel_id : '–'),
};

App.pages.logs = {
  title: 'nav.logs',
  async render(root, params) {
    const range = h('select', { id: 'log-range', 'aria-label': t('logs.range') },
      [['1h', t('logs.last_hour')], ['24h', t('logs.last_24h')], ['7d', t('logs.last_7d')], ['30d', t('logs.last_30d')], ['all', t('logs.all_time')]]
        .map(([v, l]) => h('option', { value: v, selected: v === '24h' }, l)));
    const channel = h('select', { id: 'log-channel', 'aria-label': t('col.channel') }, h('option', { value: '' }, t('logs.any_channel')));
    const model = h('input', { id: 'log-model', placeholder: t('col.model'), 'aria-label': t('col.model') });
    const status = h('select', { id: 'log-status', 'aria-label': t('col.status') },
      [['', t('logs.any_status')], ['2xx', '2xx'], ['4xx', '4xx'], ['429', '429'], ['5xx', '5xx'], ['other', t('logs.other')]]
        .map(([v, l]) => h('option', { value: v }, l)));
    const token = h('select', { id: 'log-token', 'aria-label': t('col.token') }, h('option', { value: '' }, t('logs.any_token')));
    const rid = h('input', { id: 'log-request-id', class: 'mono', placeholder: t('col.request_id'), 'aria-label': t('col.request_id'),
      value: (params && params.get('request_id')) || '' });
    const apply = h('button', { type: 'submit', class: 'primary', id: 'log-apply' }, t('logs.apply'));
    // The export: every row the filters match, as CSV (a plain download with the session cookie).
    const csv = h('a', { class: 'button', id: 'logs-csv', download: 'logs.csv', href: '/admin/logs.csv' }, t('logs.export'));
    const filters = h('form', { class: 'panel row', id: 'log-filters' }, range, channel, model, status, token, rid, apply,
      h('span', { class: 'spacer' }), h('button', { type: 'button', onclick: () => reload() }, t('common.refresh')));
    const msg = h('div');
    const tbody = h('tbody');
    const more = h('button', { type: 'button', id: 'log-more', hidden: true }, t('logs.more'));
    const count = h('span', { class: 'muted', id: 'log-count' });
    add(root, h('div', { class: 'row' }, h('h1', t('nav.logs')), h('span', { class: 'spacer' }), csv), filters, msg,
      h('div', { class: 'table-wrap' }, h('table', { id: 'logs-table' },
        h('thead', h('tr', [t('col.time'), t('col.channel'), t('col.model'), t('col.status'), [t('col.ttfb')], [t('col.duration')], [t('col.in')],
          [t('col.out')], [t('col.cache_read')], [t('col.cache_write')], [t('col.cache_hit')], [t('col.cost')], t('col.error'), t('col.request_id')]
          .map((x) => typeof x === 'string' ? h('th', x) : h('th', { class: 'num' }, x[0])))), tbody)),
      h('div', { class: 'row', }, more, count));
    let next = null, shown = 0;
    const query = () => {
      const q = new URLSearchParams();
      // A request id names one request: the time range does not narrow it.
      if (range.value !== 'all' && !rid.value.trim()) q.set('from_ms', String(Date.now() - (range.value === '1h' ? 3600000 : RANGES[range.value])));
      if (channel.value) q.set('channel_id', channel.value);
      if (model.value.trim()) q.set('model', model.value.trim());
      if (status.value) q.set('status_class', status.value);
      if (token.value) q.set('token_id', token.value);
      if (rid.value.trim()) q.set('request_id', rid.value.trim());
      q.set('limit', '100');
      return q;
    };
    const row = (r) => {
      const st = r.status;
      const m = LogFields.model(r), up = LogFields.upstream(r);
      return h('tr', { dataset: { id: String(r.id) } },
        h('td', { class: 'mono' }, fmt.time(LogFields.time(r))),
        h('td', LogFields.channel(r)),
        h('td', m, up && up !== m ? h('span', { class: 'muted' }, ' → ' + up) : null),
        h('td', h('span', { class: statusClass(st) }, st || t('logs.no_status'))),
        num(LogFields.ttfb(r), fmt.ms), num(LogFields.duration(r), fmt.ms),
        num(r.input_tokens), num(r.output_tokens), num(r.cache_read_tokens), num(cacheWrite(r)), num(hitRate(r), fmt.rate),
        num(LogFields.cost(r), fmt.usd),
        h('td', { class: 'wrap muted' }, r.error || ''),
        h('td', { class: 'mono request-id' }, r.request_id || ''));
    };
    const load = async (append) => {
      const q = query();
      if (!append) {
        const all = query();
        all.delete('limit');
        csv.setAttribute('href', '/admin/logs.csv?' + all);
      }
      if (append && next != null) q.set('before_id', String(next));
      more.disabled = true;
      try {
        const r = await api('GET', '/admin/logs?' + q);
        clear(msg);
        if (!append) { clear(tbody); shown = 0; }
        const data = r.data || [];
        data.forEach((x) => tbody.appendChild(row(x)));
        shown += data.length;
        next = r.next_before_id != null ? r.next_before_id : null;
        more.hidden = next == null;
        count.textContent = shown ? t('logs.shown', { n: fmt.int(shown) }) : '';
        if (!shown) tbody.appendChild(h('tr', h('td', { colspan: 14, class: 'empty' }, t('logs.none'))));
      } catch (e) { clear(msg).appendChild(alertBox(e)); }
      more.disabled = false;
    };
    const reload = () => load(false);
    filters.addEventListener('submit', (ev) => { ev.preventDefault(); reload(); });
    more.addEventListener('click', () => load(true));
    api('GET', '/admin/channels').then((r) => (r.data || []).forEach((c) => channel.appendChild(h('option', { value: String(c.id) }, c.name)))).catch(() => {});
    api('GET', '/admin/tokens').then((r) => (r.data || []).forEach((tk) => token.appendChild(h('option', { value: String(tk.id) }, tk.name)))).catch(() => {});
    await reload();
  },
};

// ---------- statistics ----------
/// One row of a Stats table (statistics and usage pages).
function statsLine(label, s, cls) {
  return h('tr', { class: cls || '' }, h('td', label), num(s.requests),
    h('td', { class: 'num' }, s.requests ? fmt.rate(statRate(s) || 0) : '–'),
    num(s.errors_4xx), num(s.errors_5xx), num(s.rate_limited), num(s.failovers),
    num(s.ttfb_p50_ms, fmt.ms), num(s.ttfb_p95_ms, fmt.ms),
    num(s.input_tokens), num(s.output_tokens), num(s.cache_read_tokens), num(cacheWrite(s)), num(hitRate(s), fmt.rate),
    num(s.cost_usd, fmt.usd));
}
function statsHeaders(first) {
  return [first, [t('col.requests')], [t('col.success')], ['4xx'], ['5xx'], ['429'], [t('col.failovers')], [t('col.ttfb_p50')], [t('col.ttfb_p95')],
    [t('col.in')], [t('col.out')], [t('col.cache_read')], [t('col.cache_write')], [t('col.cache_hit')], [t('col.cost')]];
}

App.pages.stats = {
  title: 'nav.stats',
  async render(root) {
    let by = 'channel', range = '24h';
    const box = h('div', { id: 'stats-box' });
    add(root, h('h1', t('nav.stats')),
      h('div', { class: 'row panel' },
        seg([['channel', t('stats.by_channel')], ['model', t('stats.by_model')], ['token', t('stats.by_token')]], by, (v) => { by = v; load(); }, 'stats-by'),
        seg(rangeOptions(), range, (v) => { range = v; load(); }, 'stats-range')),
      box);
    async function load() {
      clear(box).appendChild(h('div', { class: 'muted' }, t('common.loading')));
      try {
        const r = await api('GET', '/admin/stats?by=' + by + '&from_ms=' + (Date.now() - RANGES[range]));
        const rows = (r.data || []).map((x) => statsLine(x.name || (x.key && x.key !== '0' ? x.key : t('common.none_paren')), statsOf(x)));
        if (rows.length && r.totals) rows.push(statsLine(t('common.total'), statsOf(r.totals), 'total'));
        clear(box).appendChild(table('stats-table', statsHeaders(by === 'channel' ? t('col.channel') : by === 'model' ? t('col.model') : t('col.token')),
          rows, t('stats.none')));
      } catch (e) { clear(box).appendChild(alertBox(e)); }
    }
    await load();
  },
};

// ---------- trends ----------
function trendCharts(points, bucketMs) {
  const ts = trendSeries(points);
  const box = (title, chart) => h('div', { class: 'panel' }, h('h2', title), chart);
  return h('div', { class: 'charts' },
    box(t('trend.requests'), Chart.render({ id: 'trend-requests', times: ts.times, bucketMs, kind: 'bar', stacked: true,
      series: [{ name: t('series.succeeded'), values: ts.get((s) => s.successes || 0), cls: 2 }, { name: t('series.failed'), values: ts.get(statErrors), cls: 1 }] })),
    box(t('trend.errors'), Chart.render({ id: 'trend-errors', times: ts.times, bucketMs, kind: 'bar', stacked: true,
      series: [{ name: '4xx', values: ts.get((s) => (s.errors_4xx || 0) - (s.rate_limited || 0)), cls: 3 },
               { name: '429', values: ts.get((s) => s.rate_limited || 0), cls: 4 },
               { name: '5xx', values: ts.get((s) => s.errors_5xx || 0), cls: 1 },
               { name: t('logs.other'), values: ts.get((s) => s.errors_other || 0), cls: 0 }] })),
    box(t('trend.ttfb'), Chart.render({ id: 'trend-ttfb', times: ts.times, bucketMs, kind: 'line', format: fmt.ms,
      // Trends keep sums only, so hourly percentiles may be absent: a series with no value is left out.
      series: [{ name: t('series.mean'), values: ts.get((s) => s.requests ? pick(s, 'ttfb_mean_ms') : null), cls: 0 },
               { name: 'p50', values: ts.get((s) => s.requests ? pick(s, 'ttfb_p50_ms') : null), cls: 2 },
               { name: 'p95', values: ts.get((s) => s.requests ? pick(s, 'ttfb_p95_ms') : null), cls: 3 }]
        .filter((x, i) => i === 0 || x.values.some((v) => v != null)) })),
    box(t('trend.tokens'), Chart.render({ id: 'trend-tokens', times: ts.times, bucketMs, kind: 'area',
      series: [{ name: t('series.input'), values: ts.get((s) => s.input_tokens || 0) }, { name: t('series.output'), values: ts.get((s) => s.output_tokens || 0), cls: 2 },
               { name: t('col.cache_read'), values: ts.get((s) => s.cache_read_tokens || 0), cls: 4 }, { name: t('col.cache_write'), values: ts.get(cacheWrite), cls: 3 }] })),
    box(t('trend.cache_hit'), Chart.render({ id: 'trend-cache-hit', times: ts.times, bucketMs, kind: 'line', format: fmt.rate,
      series: [{ name: t('col.cache_hit'), values: ts.get(hitRate), cls: 4 }] })),
    box(t('trend.cost'), Chart.render({ id: 'trend-cost', times: ts.times, bucketMs, kind: 'area', format: fmt.usd,
      series: [{ name: t('col.cost'), values: ts.get((s) => s.cost_usd || 0), cls: 4 }] })));
}

App.pages.trends = {
  title: 'nav.trends',
  async render(root) {
    let range = '24h';
    const box = h('div', { id: 'trends-box' });
    add(root, h('h1', t('nav.trends')),
      h('div', { class: 'row panel' }, seg(rangeOptions(), range, (v) => { range = v; load(); }, 'trend-range'),
        h('span', { class: 'muted' }, t('trend.hint'))),
      box);
    async function load() {
      try {
        const r = await api('GET', '/admin/trends?range=' + range);
        clear(box).appendChild(trendCharts(r.data || [], r.bucket_ms));
      } catch (e) { clear(box).appendChild(alertBox(e)); }
    }
    await load();
  },
};

// ---------- settings ----------
App.pages.settings = {
  title: 'nav.settings',
  async render(root) {
    const msg = h('div');
    const jobs = h('div', { class: 'panel', id: 'jobs' }, h('h2', t('jobs.title')), h('div', { class: 'muted' }, t('common.loading')));
    const form = h('form', { id: 'settings-form', class: 'panel', novalidate: true }, h('div', { class: 'muted' }, t('common.loading')));
    const hooks = h('div', { class: 'panel', id: 'webhooks' });
    add(root, h('h1', t('nav.settings')), h('p', { class: 'muted' }, t('settings.live')), msg, jobs, hooks, form);
    let defs = [];
    const inputs = {};
    const text = (v) => v == null ? '' : String(v);
    async function loadJobs() {
      try {
        const r = await api('GET', '/admin/jobs');
        const rows = (r.data || []).map((j) => h('tr', { dataset: { name: j.name } },
          h('td', h('b', { class: 'mono' }, j.name), h('div', { class: 'muted' }, j.summary || '')),
          h('td', { class: 'mono' }, fmt.time(j.last_run_ms)),
          h('td', j.outcome == null ? h('span', { class: 'muted' }, t('jobs.not_run')) :
            h('span', { class: 'badge ' + (j.outcome === 'ok' ? 'ok' : 'bad') }, j.outcome === 'ok' ? t('jobs.ok') : t('jobs.error'))),
          h('td', { class: 'wrap muted' }, j.detail || ''),
          num(j.runs),
          h('td', { class: 'mono' }, fmt.time(j.next_run_ms))));
        clear(jobs);
        add(jobs, h('h2', t('jobs.title')), h('p', { class: 'muted' }, t('jobs.time_zone', { tz: r.time_zone || '–' })),
          table('jobs-table', [t('col.job'), t('col.last_run'), t('col.outcome'), t('col.detail'), [t('col.runs')], t('col.next_run')], rows, t('jobs.none')));
      } catch (e) { clear(jobs).appendChild(alertBox(e)); }
    }
    // The webhooks of the `webhooks` setting (masked), the delivery counts, a test button each.
    async function loadHooks() {
      try {
        const r = await api('GET', '/admin/webhooks');
        const c = r.counts || {};
        const rows = (r.data || []).map((w) => {
          const result = h('td', { class: 'wrap muted test-result' });
          const btn = h('button', { type: 'button', class: 'small test' }, t('webhooks.test'));
          btn.addEventListener('click', async () => {
            btn.disabled = true;
            try {
              const x = await api('POST', '/admin/webhooks/test', { index: w.index });
              clear(result).appendChild(h('span', { class: 'badge ' + (x.ok ? 'ok' : 'bad') },
                x.ok ? t('webhooks.ok', { status: x.status }) : t('webhooks.failed', { error: x.error || '' })));
            } catch (e) { clear(result).appendChild(alertBox(e)); } finally { btn.disabled = false; }
          });
          return h('tr', { dataset: { index: String(w.index) } }, h('td', w.format), h('td', { class: 'mono wrap' }, w.masked), h('td', btn), result);
        });
        clear(hooks);
        add(hooks, h('h2', t('webhooks.title')),
          h('p', { class: 'muted' }, t('webhooks.counts', { sent: c.sent || 0, failed: c.failed || 0, retried: c.retried || 0, dropped: c.dropped || 0, queued: c.queued || 0 })),
          table('webhooks-table', [t('webhooks.format'), t('webhooks.url'), t('col.actions'), t('webhooks.result')], rows, t('webhooks.none')));
      } catch (e) { clear(hooks).appendChild(alertBox(e)); }
    }
    async function load() {
      loadHooks();
      let r;
      try { r = await api('GET', '/admin/settings'); } catch (e) { clear(form); clear(msg).appendChild(alertBox(e)); return; }
      clear(msg);
      defs = r.data || [];
      clear(form);
      const grid = h('div', { class: 'form-grid' });
      defs.forEach((d) => {
        let input;
        if (d.type === 'bool') {
          input = h('select', { id: 'set-' + d.key, name: d.key }, ['true', 'false'].map((x) => h('option', { value: x, selected: text(d.value) === x }, x)));
        } else if (d.type === 'int' || d.type === 'double') {
          input = h('input', { id: 'set-' + d.key, name: d.key, type: 'number', step: d.type === 'int' ? 1 : 'any',
            min: d.min, max: d.max, value: text(d.value) });
        } else {
          input = h('input', { id: 'set-' + d.key, name: d.key, value: text(d.value) });
        }
        inputs[d.key] = input;
        const range = d.min != null || d.max != null ? ' · ' + (d.min != null ? d.min : '') + '…' + (d.max != null ? d.max : '') : '';
        const isDefault = text(d.value) === text(d.default);
        const reset = isDefault ? null : h('button', { type: 'button', class: 'small', onclick: async () => {
          try { await api('DELETE', '/admin/settings/' + encodeURIComponent(d.key)); toast(t('settings.reset_done', { key: d.key, value: text(d.default) })); load(); }
          catch (e) { toast(describeError(e), true); }
        } }, t('settings.reset'));
        // The summary is the catalogue's own (English) text: data, as the key is.
        grid.appendChild(h('label', { class: 'field', dataset: { field: d.key } },
          h('span', { class: 'name mono' }, d.key), input,
          h('span', { class: 'hint' }, (d.summary || '') + ' (' + t('settings.default', { value: text(d.default) + (d.unit ? ' ' + d.unit : '') }) + range
            + (d.env ? ' · ' + t('settings.at_start', { env: d.env + (d.flag ? ' / ' + d.flag : '') }) : '') + ')'),
          reset, h('span', { class: 'field-error' })));
      });
      add(form, grid, h('div', { class: 'row end' }, h('button', { type: 'submit', class: 'primary', id: 'settings-save' }, t('settings.save'))));
    }
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      clearFieldErrors(form);
      const body = {};
      const bad = [];
      defs.forEach((d) => {
        const raw = inputs[d.key].value.trim();
        if (raw === text(d.value)) return;
        let v = raw;
        if (d.type === 'int' || d.type === 'double') {
          v = Number(raw);
          if (raw === '' || isNaN(v)) return bad.push([d.key, t('form.number')]);
          if (d.type === 'int' && !Number.isInteger(v)) return bad.push([d.key, t('form.integer')]);
          if (d.min != null && v < d.min) return bad.push([d.key, t('form.at_least', { n: d.min })]);
          if (d.max != null && v > d.max) return bad.push([d.key, t('form.at_most', { n: d.max })]);
        } else if (d.type === 'bool') v = raw === 'true';
        body[d.key] = v;
      });
      if (bad.length) { bad.forEach(([f, m]) => showFieldError(form, new ApiError(400, m, f))); return; }
      if (!Object.keys(body).length) return toast(t('settings.unchanged'));
      try {
        await api('PUT', '/admin/settings', body);
        toast(t('settings.saved', { keys: Object.keys(body).join(', ') }));
        load();
      } catch (e) { if (e.status !== 401) showFieldError(form, e); }
    });
    await Promise.all([load(), loadJobs()]);
  },
};
