'use strict';

// The usage page: requests, tokens (cache reads, 5 min and 1 h writes apart) and cost per
// bucket (hour, day, month) and key (user, token, channel, group, model), scoped as the API
// scopes it (the admin: everyone; a user: their own tokens only), with a CSV export.

/// The breakdowns the caller may ask for: by user and by channel are the admin's only.
function usageBreakdowns() {
  const all = [['user', t('usage.by_user')], ['token', t('usage.by_token')], ['channel', t('usage.by_channel')],
    ['group', t('usage.by_group')], ['model', t('usage.by_model')]];
  return App.isAdmin() ? all : all.filter(([v]) => v !== 'user' && v !== 'channel');
}
const USAGE_KEY_COLUMN = { user: 'col.user', token: 'col.token', channel: 'col.channel', group: 'col.group', model: 'col.model' };
function usagePeriods() { return [['hour', t('usage.hour')], ['day', t('usage.day')], ['month', t('usage.month')]]; }
/// The ranges offered for a period (the API allows at most 31 days of hours).
const USAGE_RANGES = { '24h': 86400000, '7d': 7 * 86400000, '30d': 30 * 86400000, '365d': 365 * 86400000 };
function usageRanges(period) {
  const all = [['24h', t('range.24h')], ['7d', t('range.7d')], ['30d', t('range.30d')], ['365d', t('range.365d')]];
  return period === 'hour' ? all.slice(0, 3) : all;
}

/// The query of `/admin/usage` and `/admin/usage.csv` for a view `{ by, period, range }`.
function usageQuery(view, now) {
  const q = new URLSearchParams();
  q.set('by', view.by);
  q.set('period', view.period);
  q.set('from_ms', String(now - USAGE_RANGES[view.range]));
  q.set('to_ms', String(now));
  return q;
}

/// The request log of the view's range as CSV (a user's: only their own tokens' rows; the API
/// scopes it): the one place a user, who has no logs page, exports their requests.
function usageLogsHref(query) {
  const q = new URLSearchParams();
  q.set('from_ms', query.get('from_ms'));
  q.set('to_ms', query.get('to_ms'));
  return '/admin/logs.csv?' + q;
}

/// All the usage page reads, in one place: `GET /admin/usage` for the view →
/// `{ totals: UsageTotals, rows: [{ bucketMs, bucket, key, name, stats }], timeZone, query }`.
async function usageData(view) {
  const query = usageQuery(view, Date.now());
  const r = await api('GET', '/admin/usage?' + query);
  return {
    totals: r.totals || {}, timeZone: r.time_zone || null, query,
    rows: (r.data || []).map((x) => ({ bucketMs: x.bucket_ms, bucket: x.bucket, key: String(x.key), name: usageName(view.by, x), stats: x })),
  };
}

/// A row's key as shown: its name, the model, or what key `0` (none) means for the breakdown.
function usageName(by, x) {
  if (x.name != null && x.name !== '') return String(x.name);
  if (by === 'model') return String(x.key || t('usage.no_model'));
  if (String(x.key) === '0') return t({ user: 'usage.no_user', token: 'usage.no_token', channel: 'usage.no_channel', group: 'usage.no_group' }[by] || 'common.none_paren');
  return '#' + x.key;
}

/// A bucket's start in the chosen locale, in the time zone the API counts days and months in
/// (the bucket's own name when the browser does not know that zone).
function usageBucket(period, ms, timeZone, name) {
  const opts = period === 'month' ? { year: 'numeric', month: '2-digit' }
    : period === 'day' ? { year: 'numeric', month: '2-digit', day: '2-digit' }
      : { year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hour12: false };
  try {
    return new Date(Number(ms)).toLocaleString(I18n.lang, Object.assign(timeZone ? { timeZone } : {}, opts));
  } catch (_) { return name || fmt.time(ms); }
}

function usageLine(period, timeZone, r) {
  const s = r.stats;
  return h('tr', { dataset: { key: r.key, bucket: String(r.bucketMs) } },
    h('td', { class: 'mono' }, usageBucket(period, r.bucketMs, timeZone, r.bucket)), h('td', r.name),
    usageCells(s));
}
function usageCells(s) {
  return [num(s.requests), num(s.input_tokens), num(s.output_tokens), num(s.cache_read_tokens),
    num(s.cache_write_5m_tokens), num(s.cache_write_1h_tokens), num(s.cost_usd, fmt.usd)];
}

App.pages.usage = {
  title: 'nav.usage',
  access: 'user',
  async render(root) {
    const view = { by: 'token', period: 'day', range: '7d' };
    const rangeBox = h('span');
    const csv = h('a', { class: 'button', id: 'usage-csv', download: 'usage.csv', href: '/admin/usage.csv?' + usageQuery(view, Date.now()) }, t('usage.export'));
    const logsCsv = h('a', { class: 'button', id: 'usage-logs-csv', download: 'logs.csv', href: usageLogsHref(usageQuery(view, Date.now())) }, t('usage.export_logs'));
    const box = h('div', { id: 'usage-box' });
    const byLabel = {};
    usageBreakdowns().forEach(([v, l]) => { byLabel[v] = l; });
    const ranges = () => {
      clear(rangeBox).appendChild(seg(usageRanges(view.period), view.range, (v) => { view.range = v; load(); }, 'usage-range'));
    };
    add(root, h('div', { class: 'row' }, h('h1', t('nav.usage')), h('span', { class: 'spacer' }), csv, logsCsv),
      h('p', { class: 'muted' }, App.isAdmin() ? t('usage.intro_admin') : t('usage.intro_user')),
      h('div', { class: 'row panel' },
        seg(usageBreakdowns(), view.by, (v) => { view.by = v; load(); }, 'usage-by'),
        seg(usagePeriods(), view.period, (v) => {
          view.period = v;
          if (!usageRanges(v).some(([r]) => r === view.range)) view.range = '30d';
          ranges();
          load();
        }, 'usage-period'),
        rangeBox),
      box);
    ranges();
    let serial = 0;
    async function load() {
      const mine = ++serial;
      clear(box).appendChild(h('div', { class: 'muted' }, t('common.loading')));
      try {
        const d = await usageData(view);
        if (mine !== serial) return;   // a later choice is loading
        csv.setAttribute('href', '/admin/usage.csv?' + d.query);
        logsCsv.setAttribute('href', usageLogsHref(d.query));
        const s = d.totals;
        clear(box);
        const rows = d.rows.map((r) => usageLine(view.period, d.timeZone, r));
        if (rows.length) rows.push(h('tr', { class: 'total' }, h('td', t('common.total')), h('td', ''), usageCells(s)));
        add(box,
          h('div', { class: 'cards', id: 'usage-cards' },
            card('usage-requests', t('col.requests'), fmt.int(s.requests || 0)),
            card('usage-cost', t('col.cost'), fmt.usd(s.cost_usd || 0)),
            card('usage-tokens', t('dash.tokens_io'), fmt.compact(s.input_tokens || 0) + ' / ' + fmt.compact(s.output_tokens || 0)),
            card('usage-cache', t('usage.cache'), fmt.compact(s.cache_read_tokens || 0) + ' / ' + fmt.compact(cacheWrite(s)),
              t('usage.cache_split', { m5: fmt.compact(s.cache_write_5m_tokens || 0), h1: fmt.compact(s.cache_write_1h_tokens || 0) }))),
          h('div', { class: 'panel' }, h('h2', byLabel[view.by]),
            table('usage-table', [t('usage.bucket'), t(USAGE_KEY_COLUMN[view.by]), [t('col.requests')], [t('col.in')], [t('col.out')], [t('col.cache_read')],
              [t('usage.cache_5m')], [t('usage.cache_1h')], [t('col.cost')]], rows, t('stats.none'))),
          h('p', { class: 'muted', id: 'usage-zone' }, d.timeZone ? t('usage.time_zone', { tz: d.timeZone }) : ''));
        $('#usage-requests .value', box).dataset.value = String(s.requests || 0);
      } catch (e) { if (mine === serial) clear(box).appendChild(alertBox(e)); }
    }
    await load();
  },
};
