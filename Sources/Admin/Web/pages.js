'use strict';

const RANGES = { '24h': 86400000, '7d': 7 * 86400000, '30d': 30 * 86400000 };

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
function table(id, headers, rows, empty) {
  if (!rows.length) return h('div', { class: 'table-wrap', id }, h('div', { class: 'empty' }, empty || 'Nothing yet.'));
  return h('div', { class: 'table-wrap' }, h('table', { id },
    h('thead', h('tr', headers.map((x) => typeof x === 'string' ? h('th', x) : h('th', { class: 'num' }, x[0])))),
    h('tbody', rows)));
}
function num(v, f) { return h('td', { class: 'num' }, (f || fmt.int)(v)); }

// ---------- dashboard ----------
App.pages.dashboard = {
  title: 'Dashboard',
  async render(root) {
    const cards = h('div', { class: 'cards', id: 'dash-cards' });
    const timeline = h('div', { class: 'panel', id: 'health' }, h('h2', 'Health, last 24 hours'), h('div', { class: 'muted' }, 'Loading…'));
    const active = h('div', { class: 'panel' }, h('div', { class: 'row' }, h('h2', 'Active requests'), h('span', { class: 'spacer' }),
      h('span', { class: 'muted', id: 'active-count' })), h('div', { id: 'active-box' }, h('div', { class: 'muted' }, 'Loading…')));
    const msg = h('div');
    add(root, h('h1', 'Dashboard'), msg, cards, timeline, active);
    const drawCards = (s, channels) => {
      clear(cards);
      const rate = statRate(s);
      add(cards,
        card('stat-requests', 'Requests · 24 h', fmt.int(s.requests || 0), fmt.int(s.failovers || 0) + ' fail-overs'),
        card('stat-success', 'Success rate', rate == null ? '–' : (rate * 100).toFixed(1) + '%', fmt.int(s.successes || 0) + ' succeeded'),
        card('stat-errors', 'Errors', fmt.int(statErrors(s)), '4xx ' + fmt.int(s.errors_4xx || 0) + ' · 5xx ' + fmt.int(s.errors_5xx || 0) + ' · 429 ' + fmt.int(s.rate_limited || 0)),
        card('stat-ttfb', 'TTFB p50', fmt.ms(s.ttfb_p50_ms), 'p95 ' + fmt.ms(s.ttfb_p95_ms)),
        card('stat-tokens', 'Tokens in / out', fmt.compact(s.input_tokens || 0) + ' / ' + fmt.compact(s.output_tokens || 0),
          'cache read ' + fmt.compact(s.cache_read_tokens || 0) + ' · write ' + fmt.compact(cacheWrite(s))),
        card('stat-cost', 'Cost · 24 h', fmt.usd(s.cost_usd || 0)),
        channels ? card('stat-channels', 'Channels', fmt.int(channels.length),
          channels.filter((c) => c.enabled).length + ' enabled · ' + channels.filter((c) => channelCooling(c).length).length + ' cooling') : null);
      $('#stat-requests .value', cards).dataset.value = String(s.requests || 0);
    };
    const drawTimeline = (points) => {
      const t = trendSeries(points.slice(-24));
      const cells = t.stats.map((s, i) => {
        const rate = statRate(s);
        const cls = rate == null ? '' : rate >= 0.98 ? 'ok' : rate >= 0.8 ? 'warn' : 'bad';
        return h('div', { class: 'cell ' + cls, title: fmt.hour(t.times[i]) + ': ' + fmt.int(s.requests || 0) + ' requests' +
          (rate == null ? '' : ', ' + (rate * 100).toFixed(1) + '% ok') });
      });
      clear(timeline);
      add(timeline, h('h2', 'Health, last 24 hours'),
        h('div', { class: 'timeline' }, cells),
        h('div', { class: 'timeline-axis' }, h('span', t.times.length ? fmt.hour(t.times[0]) : ''), h('span', 'now')),
        Chart.render({ id: 'dash-requests', times: t.times, kind: 'bar', stacked: true, title: 'requests per hour', height: 160,
          series: [{ name: 'succeeded', values: t.get((s) => s.successes || 0), cls: 2 },
                   { name: 'failed', values: t.get((s) => statErrors(s)), cls: 1 }] }));
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
        if (stats.status !== 'fulfilled') {
          const sum = {};
          pts.map(statsOf).forEach((s) => { for (const [k, v] of Object.entries(s)) if (typeof v === 'number' && !/_ms$|rate/.test(k)) sum[k] = (sum[k] || 0) + v; });
          drawCards(sum, channels);
        }
      } else { clear(timeline).appendChild(alertBox(trend.reason)); }
    };
    const activeBox = $('#active-box', active);
    const pollActive = async () => {
      let r;
      try { r = await api('GET', '/admin/active-requests'); }
      catch (e) { clear(activeBox).appendChild(alertBox(e)); return; }
      const rows = (r.data || []).map((a) => h('tr',
        h('td', { class: 'num muted' }, a.id), h('td', a.channel_name || ('#' + a.channel_id)), h('td', a.model),
        h('td', a.protocol), h('td', a.stream ? 'yes' : 'no'), num(a.elapsed_ms, fmt.ms), num(a.bytes_streamed, fmt.bytes),
        h('td', { class: 'mono' }, a.client || '')));
      $('#active-count', active).textContent = rows.length + ' in flight';
      clear(activeBox).appendChild(table('active-table', [['ID'], 'Channel', 'Model', 'Protocol', 'Stream', ['Elapsed'], ['Streamed'], 'Client'], rows, 'No requests in flight.'));
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
  title: 'Logs',
  async render(root) {
    const range = h('select', { id: 'log-range', 'aria-label': 'time range' },
      [['1h', 'Last hour'], ['24h', 'Last 24 hours'], ['7d', 'Last 7 days'], ['30d', 'Last 30 days'], ['all', 'All time']]
        .map(([v, l]) => h('option', { value: v, selected: v === '24h' }, l)));
    const channel = h('select', { id: 'log-channel', 'aria-label': 'channel' }, h('option', { value: '' }, 'Any channel'));
    const model = h('input', { id: 'log-model', placeholder: 'model', 'aria-label': 'model' });
    const status = h('select', { id: 'log-status', 'aria-label': 'status' },
      [['', 'Any status'], ['2xx', '2xx'], ['4xx', '4xx'], ['429', '429'], ['5xx', '5xx'], ['other', 'other']]
        .map(([v, l]) => h('option', { value: v }, l)));
    const token = h('select', { id: 'log-token', 'aria-label': 'token' }, h('option', { value: '' }, 'Any token'));
    const apply = h('button', { type: 'submit', class: 'primary', id: 'log-apply' }, 'Apply');
    const filters = h('form', { class: 'panel row', id: 'log-filters' }, range, channel, model, status, token, apply,
      h('span', { class: 'spacer' }), h('button', { type: 'button', onclick: () => reload() }, 'Refresh'));
    const msg = h('div');
    const tbody = h('tbody');
    const more = h('button', { type: 'button', id: 'log-more', hidden: true }, 'Load more');
    const count = h('span', { class: 'muted', id: 'log-count' });
    add(root, h('h1', 'Logs'), filters, msg,
      h('div', { class: 'table-wrap' }, h('table', { id: 'logs-table' },
        h('thead', h('tr', ['Time', 'Channel', 'Model', 'Status', ['TTFB'], ['Duration'], ['In'], ['Out'], ['Cache read'], ['Cache write'], ['Cost'], 'Error']
          .map((x) => typeof x === 'string' ? h('th', x) : h('th', { class: 'num' }, x[0])))), tbody)),
      h('div', { class: 'row', }, more, count));
    let next = null, shown = 0;
    const query = () => {
      const q = new URLSearchParams();
      if (range.value !== 'all') q.set('from_ms', String(Date.now() - (range.value === '1h' ? 3600000 : RANGES[range.value])));
      if (channel.value) q.set('channel_id', channel.value);
      if (model.value.trim()) q.set('model', model.value.trim());
      if (status.value) q.set('status_class', status.value);
      if (token.value) q.set('token_id', token.value);
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
        h('td', h('span', { class: statusClass(st) }, st || 'none')),
        num(LogFields.ttfb(r), fmt.ms), num(LogFields.duration(r), fmt.ms),
        num(r.input_tokens), num(r.output_tokens), num(r.cache_read_tokens), num(cacheWrite(r)),
        num(LogFields.cost(r), fmt.usd),
        h('td', { class: 'wrap muted' }, r.error || ''));
    };
    const load = async (append) => {
      const q = query();
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
        count.textContent = shown ? shown + ' shown' : '';
        if (!shown) tbody.appendChild(h('tr', h('td', { colspan: 12, class: 'empty' }, 'No requests match.')));
      } catch (e) { clear(msg).appendChild(alertBox(e)); }
      more.disabled = false;
    };
    const reload = () => load(false);
    filters.addEventListener('submit', (ev) => { ev.preventDefault(); reload(); });
    more.addEventListener('click', () => load(true));
    api('GET', '/admin/channels').then((r) => (r.data || []).forEach((c) => channel.appendChild(h('option', { value: String(c.id) }, c.name)))).catch(() => {});
    api('GET', '/admin/tokens').then((r) => (r.data || []).forEach((t) => token.appendChild(h('option', { value: String(t.id) }, t.name)))).catch(() => {});
    await reload();
  },
};

// ---------- statistics ----------
App.pages.stats = {
  title: 'Statistics',
  async render(root) {
    let by = 'channel', range = '24h';
    const box = h('div', { id: 'stats-box' });
    add(root, h('h1', 'Statistics'),
      h('div', { class: 'row panel' },
        seg([['channel', 'By channel'], ['model', 'By model'], ['token', 'By token']], by, (v) => { by = v; load(); }, 'stats-by'),
        seg([['24h', '24 h'], ['7d', '7 days'], ['30d', '30 days']], range, (v) => { range = v; load(); }, 'stats-range')),
      box);
    const line = (label, s, cls) => h('tr', { class: cls || '' }, h('td', label), num(s.requests),
      h('td', { class: 'num' }, s.requests ? ((statRate(s) || 0) * 100).toFixed(1) + '%' : '–'),
      num(s.errors_4xx), num(s.errors_5xx), num(s.rate_limited), num(s.failovers),
      num(s.ttfb_p50_ms, fmt.ms), num(s.ttfb_p95_ms, fmt.ms),
      num(s.input_tokens), num(s.output_tokens), num(s.cache_read_tokens), num(cacheWrite(s)), num(s.cost_usd, fmt.usd));
    async function load() {
      clear(box).appendChild(h('div', { class: 'muted' }, 'Loading…'));
      try {
        const r = await api('GET', '/admin/stats?by=' + by + '&from_ms=' + (Date.now() - RANGES[range]));
        const rows = (r.data || []).map((x) => line(x.name || (x.key && x.key !== '0' ? x.key : '(none)'), statsOf(x)));
        if (rows.length && r.totals) rows.push(line('Total', statsOf(r.totals), 'total'));
        clear(box).appendChild(table('stats-table', [by === 'channel' ? 'Channel' : by === 'model' ? 'Model' : 'Token',
          ['Requests'], ['Success'], ['4xx'], ['5xx'], ['429'], ['Fail-overs'], ['TTFB p50'], ['TTFB p95'],
          ['In'], ['Out'], ['Cache read'], ['Cache write'], ['Cost']], rows, 'No requests in this range.'));
      } catch (e) { clear(box).appendChild(alertBox(e)); }
    }
    await load();
  },
};

// ---------- trends ----------
function trendCharts(points, bucketMs) {
  const t = trendSeries(points);
  const box = (title, chart) => h('div', { class: 'panel' }, h('h2', title), chart);
  return h('div', { class: 'charts' },
    box('Requests', Chart.render({ id: 'trend-requests', times: t.times, bucketMs, kind: 'bar', stacked: true,
      series: [{ name: 'succeeded', values: t.get((s) => s.successes || 0), cls: 2 }, { name: 'failed', values: t.get(statErrors), cls: 1 }] })),
    box('Errors', Chart.render({ id: 'trend-errors', times: t.times, bucketMs, kind: 'bar', stacked: true,
      series: [{ name: '4xx', values: t.get((s) => (s.errors_4xx || 0) - (s.rate_limited || 0)), cls: 3 },
               { name: '429', values: t.get((s) => s.rate_limited || 0), cls: 4 },
               { name: '5xx', values: t.get((s) => s.errors_5xx || 0), cls: 1 },
               { name: 'other', values: t.get((s) => s.errors_other || 0), cls: 0 }] })),
    box('Time to first byte', Chart.render({ id: 'trend-ttfb', times: t.times, bucketMs, kind: 'line', format: fmt.ms,
      // Trends keep sums only, so hourly percentiles may be absent: a series with no value is left out.
      series: [{ name: 'mean', values: t.get((s) => s.requests ? pick(s, 'ttfb_mean_ms') : null), cls: 0 },
               { name: 'p50', values: t.get((s) => s.requests ? pick(s, 'ttfb_p50_ms') : null), cls: 2 },
               { name: 'p95', values: t.get((s) => s.requests ? pick(s, 'ttfb_p95_ms') : null), cls: 3 }]
        .filter((x, i) => i === 0 || x.values.some((v) => v != null)) })),
    box('Tokens', Chart.render({ id: 'trend-tokens', times: t.times, bucketMs, kind: 'area',
      series: [{ name: 'input', values: t.get((s) => s.input_tokens || 0) }, { name: 'output', values: t.get((s) => s.output_tokens || 0), cls: 2 },
               { name: 'cache read', values: t.get((s) => s.cache_read_tokens || 0), cls: 4 }, { name: 'cache write', values: t.get(cacheWrite), cls: 3 }] })),
    box('Cost (USD)', Chart.render({ id: 'trend-cost', times: t.times, bucketMs, kind: 'area', format: fmt.usd,
      series: [{ name: 'cost', values: t.get((s) => s.cost_usd || 0), cls: 4 }] })));
}

App.pages.trends = {
  title: 'Trends',
  async render(root) {
    let range = '24h';
    const box = h('div', { id: 'trends-box' });
    add(root, h('h1', 'Trends'),
      h('div', { class: 'row panel' }, seg([['24h', '24 h'], ['7d', '7 days'], ['30d', '30 days']], range, (v) => { range = v; load(); }, 'trend-range'),
        h('span', { class: 'muted' }, 'hourly; hover a chart for the figures')),
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

// ---------- tokens ----------
function tokenLimits(t) {
  const parts = [];
  if (t.requests_per_minute != null) parts.push(t.requests_per_minute + ' rpm');
  if (t.max_concurrency != null) parts.push(t.max_concurrency + ' concurrent');
  if (t.daily_cost_cap_usd != null) parts.push(fmt.usd(t.daily_cost_cap_usd) + '/day');
  if (t.total_cost_cap_usd != null) parts.push(fmt.usd(t.total_cost_cap_usd) + ' total');
  if (t.allowed_models && t.allowed_models.length) parts.push('models: ' + t.allowed_models.join(', '));
  return parts.length ? parts.join(' · ') : 'none';
}
function localDateTime(ms) {
  if (!ms) return '';
  const d = new Date(ms);
  return d.getFullYear() + '-' + fmt.two(d.getMonth() + 1) + '-' + fmt.two(d.getDate()) + 'T' + fmt.two(d.getHours()) + ':' + fmt.two(d.getMinutes());
}

function tokenForm(t, done) {
  const v = t || {};
  const inp = (name, value, attrs) => h('input', Object.assign({ name, id: 'tk-' + name, value: value == null ? '' : value }, attrs || {}));
  const name = inp('name', v.name, { autocomplete: 'off' });
  const expires = inp('expires_at_ms', localDateTime(v.expires_at_ms), { type: 'datetime-local' });
  const models = inp('allowed_models', (v.allowed_models || []).join(', '), { placeholder: 'empty: every model' });
  const daily = inp('daily_cost_cap_usd', v.daily_cost_cap_usd, { type: 'number', step: 'any', min: 0, placeholder: 'none' });
  const total = inp('total_cost_cap_usd', v.total_cost_cap_usd, { type: 'number', step: 'any', min: 0, placeholder: 'none' });
  const rpm = inp('requests_per_minute', v.requests_per_minute, { type: 'number', step: 1, min: 1, placeholder: 'none' });
  const conc = inp('max_concurrency', v.max_concurrency, { type: 'number', step: 1, min: 1, placeholder: 'none' });
  const enabled = h('input', { type: 'checkbox', id: 'tk-enabled', checked: v.enabled !== false });
  const form = h('form', { id: 'token-form', novalidate: true }, h('div', { class: 'form-grid' },
    field('name', 'Name', name), field('expires_at_ms', 'Expires', expires, 'empty: never'),
    field('allowed_models', 'Allowed models', models, 'comma separated', 'wide'),
    field('daily_cost_cap_usd', 'Daily cost cap (USD)', daily), field('total_cost_cap_usd', 'Total cost cap (USD)', total),
    field('requests_per_minute', 'Requests per minute', rpm), field('max_concurrency', 'Max concurrency', conc),
    t ? h('div', { class: 'field', dataset: { field: 'enabled' } }, h('label', { class: 'check' }, enabled, 'Enabled'), h('span', { class: 'field-error' })) : null));
  const save = h('button', { type: 'submit', class: 'primary', id: 'tk-save', form: 'token-form' }, t ? 'Save' : 'Create');
  const modal = openModal(t ? 'Edit token ' + t.name : 'New token', form, [h('button', { type: 'button', onclick: () => modal.close() }, 'Cancel'), save]);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearFieldErrors(form);
    const body = {
      name: name.value.trim(), expires_at_ms: expires.value ? new Date(expires.value).getTime() : null,
      allowed_models: listOf(models.value).length ? listOf(models.value) : null,
      daily_cost_cap_usd: numOrNull(daily.value), total_cost_cap_usd: numOrNull(total.value),
      requests_per_minute: numOrNull(rpm.value), max_concurrency: numOrNull(conc.value),
    };
    if (t) body.enabled = enabled.checked;
    const bad = [];
    if (!body.name) bad.push(['name', 'a name is required']);
    for (const k of ['daily_cost_cap_usd', 'total_cost_cap_usd', 'requests_per_minute', 'max_concurrency']) {
      if (Number.isNaN(body[k])) bad.push([k, 'must be a number']);
      else if (body[k] != null && body[k] < 0) bad.push([k, 'must not be negative']);
    }
    if (bad.length) { bad.forEach(([f, m]) => showFieldError(form, new ApiError(400, m, f))); return; }
    save.disabled = true;
    try {
      if (t) {
        await api('PUT', '/admin/tokens/' + t.id, body);
        modal.close();
        toast('Saved ' + body.name);
        done();
      } else {
        const r = await api('POST', '/admin/tokens', body);
        modal.close();
        showSecret(r.secret, body.name);
        done();
      }
    } catch (e) { if (e.status !== 401) showFieldError(form, e); } finally { save.disabled = false; }
  });
}

function showSecret(secret, name) {
  const code = h('code', { class: 'mono', id: 'token-secret' }, secret);
  const copy = h('button', { type: 'button', class: 'primary', id: 'copy-secret' }, 'Copy');
  copy.addEventListener('click', async () => {
    try { await navigator.clipboard.writeText(secret); copy.textContent = 'Copied'; }
    catch (_) {
      const r = document.createRange(); r.selectNodeContents(code);
      const s = getSelection(); s.removeAllRanges(); s.addRange(r);
      copy.textContent = 'Selected: press Ctrl+C';
    }
  });
  const m = openModal('Token ' + name + ' created', h('div',
    h('p', 'This is the only time the secret is shown. Copy it now; ccload keeps only its hash.'),
    h('div', { class: 'secret' }, code, copy)),
    [h('button', { type: 'button', id: 'secret-done', onclick: () => m.close() }, 'Done')]);
}

async function tokenUsage(t) {
  const body = h('div', h('div', { class: 'muted' }, 'Loading…'));
  openModal('Usage of ' + t.name, body, null);
  let range = '24h';
  const load = async () => {
    try {
      const r = await api('GET', '/admin/tokens/' + t.id + '/usage?range=' + range);
      const s = statsOf(r.totals);
      const pts = trendSeries(r.trend || []);
      clear(body);
      add(body, seg([['24h', '24 h'], ['7d', '7 days'], ['30d', '30 days']], range, (v) => { range = v; load(); }),
        h('div', { class: 'cards' }, card('', 'Requests', fmt.int(s.requests || 0)), card('', 'Success', statRate(s) == null ? '–' : (statRate(s) * 100).toFixed(1) + '%'),
          card('', 'Tokens in / out', fmt.compact(s.input_tokens || 0) + ' / ' + fmt.compact(s.output_tokens || 0)), card('', 'Cost', fmt.usd(s.cost_usd || 0))),
        Chart.render({ times: pts.times, kind: 'bar', stacked: true,
          series: [{ name: 'succeeded', values: pts.get((x) => x.successes || 0), cls: 2 }, { name: 'failed', values: pts.get(statErrors), cls: 1 }] }));
    } catch (e) { clear(body).appendChild(alertBox(e)); }
  };
  load();
}

App.pages.tokens = {
  title: 'Tokens',
  async render(root) {
    const msg = h('div');
    const box = h('div', h('div', { class: 'muted' }, 'Loading…'));
    add(root, h('div', { class: 'row' }, h('h1', 'Client tokens'), h('span', { class: 'spacer' }),
      h('button', { type: 'button', class: 'primary', id: 'new-token', onclick: () => tokenForm(null, load) }, '+ New token')),
      h('p', { class: 'muted' }, 'Clients send a token as x-api-key or Authorization: Bearer. Secrets are shown once, at creation.'),
      msg, box);
    const act = async (p, done) => { try { await p; toast(done); } catch (e) { toast(describeError(e), true); } load(); };
    async function load() {
      try {
        const r = await api('GET', '/admin/tokens');
        clear(msg);
        const rows = (r.data || []).map((t) => h('tr', { dataset: { id: String(t.id), name: t.name } },
          h('td', h('b', t.name), h('div', { class: 'muted mono' }, t.prefix ? t.prefix + '…' : '')),
          h('td', h('span', { class: 'badge ' + (t.enabled ? 'ok' : '') }, t.enabled ? 'enabled' : 'disabled'),
            t.expires_at_ms && t.expires_at_ms < Date.now() ? h('span', { class: 'badge bad' }, 'expired') : null),
          h('td', { class: 'wrap' }, tokenLimits(t)),
          h('td', { class: 'mono' }, t.expires_at_ms ? fmt.time(t.expires_at_ms) : 'never'),
          h('td', { class: 'mono' }, fmt.time(t.last_used_ms)),
          num(t.total_requests), num(t.today_cost_usd, fmt.usd), num(t.total_cost_usd, fmt.usd),
          h('td', h('div', { class: 'row nowrap' },
            h('button', { type: 'button', class: 'small', onclick: () => tokenForm(t, load) }, 'Edit'),
            h('button', { type: 'button', class: 'small', onclick: () => act(api('PUT', '/admin/tokens/' + t.id, { enabled: !t.enabled }), t.name + (t.enabled ? ' disabled' : ' enabled')) }, t.enabled ? 'Disable' : 'Enable'),
            h('button', { type: 'button', class: 'small', onclick: () => tokenUsage(t) }, 'Usage'),
            h('button', { type: 'button', class: 'small danger', onclick: () => { if (confirm('Delete token ' + t.name + '? Clients using it stop working.')) act(api('DELETE', '/admin/tokens/' + t.id), t.name + ' deleted'); } }, 'Delete')))));
        clear(box).appendChild(table('tokens-table', ['Name', 'State', 'Limits', 'Expires', 'Last used', ['Requests'], ['Today'], ['Total cost'], 'Actions'], rows, 'No tokens. Without any, only loopback clients are served.'));
      } catch (e) { clear(msg).appendChild(alertBox(e)); clear(box); }
    }
    await load();
  },
};

// ---------- settings ----------
App.pages.settings = {
  title: 'Settings',
  async render(root) {
    const msg = h('div');
    const form = h('form', { id: 'settings-form', class: 'panel', novalidate: true }, h('div', { class: 'muted' }, 'Loading…'));
    add(root, h('h1', 'Settings'), h('p', { class: 'muted' }, 'Every setting applies live, without a restart.'), msg, form);
    let defs = [];
    const inputs = {};
    const text = (v) => v == null ? '' : String(v);
    async function load() {
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
          try { await api('DELETE', '/admin/settings/' + encodeURIComponent(d.key)); toast(d.key + ' is back to ' + text(d.default)); load(); }
          catch (e) { toast(describeError(e), true); }
        } }, 'Reset to default');
        grid.appendChild(h('label', { class: 'field', dataset: { field: d.key } },
          h('span', { class: 'name mono' }, d.key), input,
          h('span', { class: 'hint' }, (d.summary || '') + ' (default ' + text(d.default) + (d.unit ? ' ' + d.unit : '') + range
            + (d.env ? ' · at start: ' + d.env + (d.flag ? ' or ' + d.flag : '') : '') + ')'),
          reset, h('span', { class: 'field-error' })));
      });
      add(form, grid, h('div', { class: 'row end' }, h('button', { type: 'submit', class: 'primary', id: 'settings-save' }, 'Save changes')));
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
          if (raw === '' || isNaN(v)) return bad.push([d.key, 'must be a number']);
          if (d.type === 'int' && !Number.isInteger(v)) return bad.push([d.key, 'must be an integer']);
          if (d.min != null && v < d.min) return bad.push([d.key, 'must be at least ' + d.min]);
          if (d.max != null && v > d.max) return bad.push([d.key, 'must be at most ' + d.max]);
        } else if (d.type === 'bool') v = raw === 'true';
        body[d.key] = v;
      });
      if (bad.length) { bad.forEach(([f, m]) => showFieldError(form, new ApiError(400, m, f))); return; }
      if (!Object.keys(body).length) return toast('Nothing changed');
      try {
        await api('PUT', '/admin/settings', body);
        toast('Saved ' + Object.keys(body).join(', '));
        load();
      } catch (e) { if (e.status !== 401) showFieldError(form, e); }
    });
    await load();
  },
};