'use strict';

/// The UI's languages. Every string the UI shows comes from one of these tables (`en`,
/// `zh-CN`), looked up by key with t(); `{name}` in a string is filled from t()'s second
/// argument. The language is the one remembered from the header's switch (localStorage),
/// else the first of the browser's languages (`navigator.languages`) a table exists for,
/// else English. Numbers and dates are formatted with it (fmt in core.js).
const I18n = {
  tables: {},
  lang: 'en',
  /// Keys asked for that the chosen table lacks (the browser test reads it: it must stay empty).
  missing: [],
  storageKey: 'ccload.lang',

  /// The table for a browser language tag: `zh`, `zh-CN`, `zh-Hans…` → zh-CN; `en…` → en.
  match(tag) {
    const l = String(tag || '').toLowerCase();
    if (l === 'zh' || l.startsWith('zh-cn') || l.startsWith('zh-hans') || l.startsWith('zh-sg')) return 'zh-CN';
    if (l.startsWith('en')) return 'en';
    return null;
  },

  choose() {
    let saved = null;
    try { saved = localStorage.getItem(I18n.storageKey); } catch (_) {}
    if (saved && I18n.tables[saved]) return saved;
    for (const tag of navigator.languages || [navigator.language]) {
      const m = I18n.match(tag);
      if (m) return m;
    }
    return 'en';
  },

  set(lang, remember) {
    I18n.lang = I18n.tables[lang] ? lang : 'en';
    document.documentElement.lang = I18n.lang;
    if (remember) { try { localStorage.setItem(I18n.storageKey, I18n.lang); } catch (_) {} }
    I18n.apply(document);
  },

  /// Fills every element marked `data-i18n` (the shell's own text) and `data-i18n-label`
  /// (an aria-label) from the table.
  apply(root) {
    $$('[data-i18n]', root).forEach((el) => { el.textContent = t(el.dataset.i18n); });
    $$('[data-i18n-label]', root).forEach((el) => { el.setAttribute('aria-label', t(el.dataset.i18nLabel)); });
  },

  /// The header's language switch: one option per table, named in its own language.
  mount(select, changed) {
    clear(select);
    for (const code of Object.keys(I18n.tables)) {
      select.appendChild(h('option', { value: code, selected: code === I18n.lang }, I18n.tables[code]['lang.name']));
    }
    select.addEventListener('change', () => {
      I18n.set(select.value, true);
      App.showNav();
      changed();
    });
  },
};

/// The string for `key` in the chosen language, `{name}` filled from vars. A key the table
/// lacks is recorded in I18n.missing and shown as ⟦key⟧, so it cannot pass unnoticed.
function t(key, vars) {
  const table = I18n.tables[I18n.lang] || {};
  let s = table[key];
  if (s == null) {
    if (!I18n.missing.includes(I18n.lang + ':' + key)) I18n.missing.push(I18n.lang + ':' + key);
    return '⟦' + key + '⟧';
  }
  if (vars) s = s.replace(/\{(\w+)\}/g, (m, k) => (vars[k] != null ? String(vars[k]) : m));
  return s;
}

I18n.tables.en = {
  'lang.name': 'English',
  'nav.dashboard': 'Dashboard', 'nav.channels': 'Channels', 'nav.groups': 'Groups', 'nav.users': 'Users', 'nav.logs': 'Logs',
  'nav.stats': 'Statistics', 'nav.trends': 'Trends', 'nav.usage': 'Usage', 'nav.tokens': 'Keys', 'nav.settings': 'Settings',
  'nav.password': 'Password', 'nav.logout': 'Log out', 'nav.menu': 'Menu', 'nav.language': 'Language', 'nav.admin': 'admin',

  'common.loading': 'Loading…', 'common.nothing': 'Nothing yet.', 'common.yes': 'yes', 'common.no': 'no', 'common.none': 'none',
  'common.none_paren': '(none)', 'common.total': 'Total', 'common.refresh': 'Refresh', 'common.save': 'Save', 'common.create': 'Create',
  'common.cancel': 'Cancel', 'common.done': 'Done', 'common.edit': 'Edit', 'common.delete': 'Delete', 'common.enable': 'Enable',
  'common.disable': 'Disable', 'common.enabled': 'Enabled', 'common.enabled_state': 'enabled', 'common.disabled_state': 'disabled',
  'common.saved': 'Saved {name}', 'common.was_created': 'Created {name}', 'common.was_deleted': '{name} deleted',
  'common.was_enabled': '{name} enabled', 'common.was_disabled': '{name} disabled',

  'err.unreachable': 'ccload cannot be reached ({detail})', 'err.not_available': '{path} is not available', 'err.field_suffix': ' (field: {field})',
  'form.required': 'required', 'form.name_required': 'a name is required', 'form.number': 'must be a number', 'form.integer': 'must be an integer',
  'form.at_least': 'must be at least {n}', 'form.at_most': 'must be at most {n}', 'form.not_negative': 'must not be negative',

  'login.title': 'Log in', 'login.heading': 'ccload', 'login.submit': 'Log in', 'login.username': 'Username', 'login.password': 'Password',
  'login.username_hint': 'leave it empty to log in as the admin with CCLOAD_PASS',
  'login.password_hint': 'the admin: CCLOAD_PASS, or the password ccload printed at its first start',
  'login.need_password': 'enter the password',
  'register.title': 'Register', 'register.link': 'No account? Register', 'register.submit': 'Register', 'register.back': 'Back to log in',
  'register.done': 'Registered as {name}. You can log in once the admin approves you.',

  'password.title': 'Change my password', 'password.old': 'Current password', 'password.new': 'New password', 'password.again': 'New password again',
  'password.rule': 'at least 8 characters, not the username', 'password.submit': 'Change password',
  'password.note': 'Every session of yours ends, this one too: you log in again with the new password.',
  'password.too_short': 'at least 8 characters', 'password.mismatch': 'the two new passwords differ', 'password.changed': 'Password changed: log in again',

  'range.24h': '24 h', 'range.7d': '7 days', 'range.30d': '30 days', 'range.365d': '365 days',
  'col.id': 'ID', 'col.channel': 'Channel', 'col.model': 'Model', 'col.protocol': 'Protocol', 'col.stream': 'Stream', 'col.elapsed': 'Elapsed',
  'col.streamed': 'Streamed', 'col.client': 'Client', 'col.instance': 'Instance', 'col.time': 'Time', 'col.status': 'Status', 'col.ttfb': 'TTFB', 'col.duration': 'Duration',
  'col.in': 'In', 'col.out': 'Out', 'col.cache_read': 'Cache read', 'col.cache_write': 'Cache write', 'col.cache_hit': 'Cache hit', 'col.cost': 'Cost', 'col.error': 'Error',
  'col.request_id': 'Request id', 'col.token': 'Token', 'col.requests': 'Requests', 'col.success': 'Success', 'col.failovers': 'Fail-overs',
  'col.ttfb_p50': 'TTFB p50', 'col.ttfb_p95': 'TTFB p95', 'col.state': 'State', 'col.actions': 'Actions', 'col.job': 'Job',
  'col.last_run': 'Last run', 'col.outcome': 'Outcome', 'col.detail': 'Detail', 'col.runs': 'Runs', 'col.next_run': 'Next run',
  'col.user': 'User', 'col.group': 'Group',

  'dash.health': 'Health, last 24 hours', 'dash.active': 'Active requests', 'dash.requests_24h': 'Requests · 24 h', 'dash.failovers': '{n} fail-overs',
  'dash.success_rate': 'Success rate', 'dash.succeeded': '{n} succeeded', 'dash.errors': 'Errors', 'dash.ttfb_p50': 'TTFB p50',
  'dash.tokens_io': 'Tokens in / out', 'dash.cache_rw': 'cache read {read} · write {write}', 'dash.cost_24h': 'Cost · 24 h', 'dash.cache_hit_rate': 'Cache hit rate · 24 h', 'dash.cache_hit_sub': '{read} of {all} input tokens from cache',
  'dash.channels_sub': '{enabled} enabled · {cooling} cooling', 'dash.cell_requests': '{n} requests', 'dash.cell_ok': '{rate} ok',
  'dash.now': 'now', 'dash.per_hour': 'requests per hour', 'dash.in_flight': '{n} in flight', 'dash.none_in_flight': 'No requests in flight.',
  'series.succeeded': 'succeeded', 'series.failed': 'failed', 'series.mean': 'mean', 'series.input': 'input', 'series.output': 'output',

  'logs.range': 'time range', 'logs.last_hour': 'Last hour', 'logs.last_24h': 'Last 24 hours', 'logs.last_7d': 'Last 7 days',
  'logs.last_30d': 'Last 30 days', 'logs.all_time': 'All time', 'logs.any_channel': 'Any channel', 'logs.any_status': 'Any status',
  'logs.other': 'other', 'logs.any_token': 'Any token', 'logs.apply': 'Apply', 'logs.more': 'Load more', 'logs.no_status': 'none',
  'logs.shown': '{n} shown', 'logs.none': 'No requests match.', 'logs.export': 'Export CSV',

  'stats.by_channel': 'By channel', 'stats.by_model': 'By model', 'stats.by_token': 'By token', 'stats.none': 'No requests in this range.',
  'trend.requests': 'Requests', 'trend.errors': 'Errors', 'trend.ttfb': 'Time to first byte', 'trend.tokens': 'Tokens', 'trend.cost': 'Cost (USD)', 'trend.cache_hit': 'Cache hit rate',
  'trend.hint': 'hourly; hover a chart for the figures',

  'settings.live': 'Every setting applies live, without a restart.', 'settings.reset': 'Reset to default',
  'settings.reset_done': '{key} is back to {value}', 'settings.default': 'default {value}', 'settings.at_start': 'at start: {env}',
  'webhooks.title': 'Webhooks', 'webhooks.test': 'Send test', 'webhooks.ok': 'receiver answered {status}',
  'webhooks.failed': 'failed: {error}', 'webhooks.format': 'Format', 'webhooks.url': 'URL (masked)', 'webhooks.result': 'Test result',
  'webhooks.none': 'No webhooks: set the webhooks setting below.',
  'webhooks.counts': 'Since start: {sent} sent, {failed} given up, {retried} retried, {dropped} dropped (queue full), {queued} queued.',
  'channels.probe_every': 'Health probe every (s)', 'channels.probe_off': 'off', 'channels.probe_model': 'Probe model',
  'channels.probe_model_ph': 'first model', 'channels.probe_hint': 'A probe is a paid request: off unless set (5–86400 s).',
  'channels.probe_ok': 'probe ok', 'channels.probe_failed': 'probe failed', 'channels.probe_pending': 'probe every {s} s',
  'settings.save': 'Save changes', 'settings.unchanged': 'Nothing changed', 'settings.saved': 'Saved {keys}',
  'jobs.title': 'Scheduled jobs', 'jobs.time_zone': 'Time zone of the daily reset: {tz}', 'jobs.not_run': 'not run yet', 'jobs.ok': 'ok',
  'jobs.error': 'error', 'jobs.none': 'No scheduled jobs.',

  'keys.title_admin': 'Client tokens', 'keys.title_user': 'My API keys', 'keys.new': '+ New token',
  'keys.intro': 'Clients send a token as x-api-key or Authorization: Bearer. Secrets are shown once, at creation.',
  'keys.name': 'Name', 'keys.expires': 'Expires', 'keys.empty_never': 'empty: never', 'keys.group': 'Group', 'keys.owner': 'Owner',
  'keys.group_hint': 'a grouped token reaches only the group\'s channels', 'keys.group_allowed': 'one of the groups the admin allows you',
  'keys.no_group': 'none: every channel', 'keys.owner_admin': 'the admin (no user)', 'keys.allowed_models': 'Allowed models',
  'keys.every_model': 'empty: every model', 'keys.comma': 'comma separated', 'keys.daily_cap': 'Daily cost cap (USD)',
  'keys.weekly_cap': 'Weekly cost cap (USD)', 'keys.monthly_cap': 'Monthly cost cap (USD)', 'keys.total_cap': 'Total cost cap (USD)',
  'keys.rpm_label': 'Requests per minute', 'keys.concurrency': 'Max concurrency', 'keys.allowed_clients': 'Allowed clients',
  'keys.clients_hint': 'none ticked: any client', 'keys.at_most': 'at most {v}', 'keys.edit_title': 'Edit token {name}', 'keys.new_title': 'New token',
  'keys.copy': 'Copy', 'keys.copied': 'Copied', 'keys.selected': 'Selected: press Ctrl+C', 'keys.created_title': 'Token {name} created',
  'keys.secret_once': 'This is the only time the secret is shown. Copy it now; ccload keeps only its hash.',
  'keys.usage_title': 'Usage of {name}', 'keys.usage': 'Usage', 'keys.expired': 'expired', 'keys.never': 'never',
  'keys.every_channel': 'every channel', 'keys.limits': 'Limits', 'keys.last_used': 'Last used', 'keys.today': 'Today', 'keys.total_cost': 'Total cost',
  'keys.confirm_delete': 'Delete token {name}? Clients using it stop working.',
  'keys.none_admin': 'No tokens. Without any, only loopback clients are served.', 'keys.none_user': 'You have no keys yet.',
  'keys.rpm': '{n} rpm', 'keys.concurrent': '{n} concurrent', 'keys.per_day': '{v}/day', 'keys.per_week': '{v}/week', 'keys.per_month': '{v}/month',
  'keys.in_total': '{v} total', 'keys.models': 'models: {list}', 'keys.clients': 'clients: {list}',
  'client.claude_code': 'Claude Code', 'client.codex_cli': 'Codex CLI',

  'usage.intro_admin': 'Everyone\'s requests, tokens and cost.', 'usage.intro_user': 'The requests, tokens and cost of your own keys.',
  'usage.by_user': 'By user', 'usage.by_token': 'By key', 'usage.by_channel': 'By channel', 'usage.by_group': 'By group', 'usage.by_model': 'By model',
  'usage.hour': 'Hourly', 'usage.day': 'Daily', 'usage.month': 'Monthly', 'usage.bucket': 'Period',
  'usage.cache': 'Cache read / write', 'usage.cache_split': 'writes: 5 min {m5} · 1 h {h1}', 'usage.cache_5m': 'Cache write 5 min',
  'usage.cache_1h': 'Cache write 1 h', 'usage.export': 'Export CSV', 'usage.export_logs': 'Export request log', 'usage.time_zone': 'Days and months in the time zone {tz}',
  'usage.no_user': '(the admin)', 'usage.no_token': '(no token)', 'usage.no_channel': '(no channel)', 'usage.no_group': '(no group)',
  'usage.no_model': '(no model)',

  'users.new': '+ New user', 'users.intro': 'Users log in with their username and manage their own keys within the groups and limits set here.',
  'users.username': 'Username', 'users.username_rule': 'letters, digits, . _ - @ (at most 64)', 'users.new_password': 'New password',
  'users.keep_password': 'empty: unchanged', 'users.role': 'Role', 'users.email': 'Email', 'users.optional': 'optional',
  'users.approved': 'Approved', 'users.allowed_groups': 'Allowed groups', 'users.allowed_groups_hint': 'the groups this user may put their own keys in',
  'users.no_groups': 'No groups yet.', 'users.limits_title': 'Loosest limits for the user\'s own keys (empty: no limit)',
  'users.limits': 'Key limits', 'users.edit_title': 'Edit user {name}', 'users.new_title': 'New user', 'users.reset_password': 'Reset password',
  'users.reset_title': 'New password for {name}', 'users.password_reset': 'Password of {name} reset', 'users.awaiting': 'awaiting approval',
  'users.approve': 'Approve', 'users.was_approved': '{name} approved', 'users.created': 'Created',
  'users.confirm_delete': 'Delete user {name}? Their keys and sessions go too.', 'users.none': 'No users yet.',
  'role.user': 'user', 'role.admin': 'admin',

  'groups.new': '+ New group', 'groups.intro': 'A token in a group is routed only to the group\'s channels; a token without one uses every channel.',
  'groups.name': 'Name', 'groups.remark': 'Remark', 'groups.members': 'Channels', 'groups.members_hint': 'a channel may be in several groups',
  'groups.no_channels': 'No channels yet.', 'groups.edit_title': 'Edit group {name}', 'groups.new_title': 'New group', 'groups.tokens': 'Tokens',
  'groups.updated': 'Updated', 'groups.none': 'No groups yet.', 'groups.confirm_delete': 'Delete group {name}?',
  'groups.confirm_detach': 'Tokens are in group {name} ({reason}). Take them out of it (they then use every channel) and delete it?',

  'channels.new': '+ New channel', 'channels.import': 'Import CSV', 'channels.export': 'Export CSV',
  'channels.intro': 'Changes apply to the proxy at once. Cooldowns count down live.', 'channels.ready': 'ready', 'channels.failure': 'failure',
  'channels.key_n': 'key {n}', 'channels.priority_ph': 'priority', 'channels.priority_batch': 'priority for the selected channels',
  'channels.clear_cooldowns': 'Clear cooldowns', 'channels.set_priority': 'Set priority', 'channels.selected': '{n} selected',
  'channels.none': 'No channels yet. Add one, or import a CSV.', 'channels.select_all': 'select all', 'channels.select_one': 'select {name}',
  'channels.any_model': 'any', 'channels.test': 'Test', 'channels.clear_cooldown': 'Clear cooldown', 'channels.name_url': 'Name / URL',
  'channels.priority': 'Priority', 'channels.models': 'Models', 'channels.keys': 'Keys', 'channels.cooldown': 'Cooldown',
  'channels.cooldowns_cleared': 'cooldowns cleared on {name}', 'channels.confirm_delete': 'Delete channel {name}?',
  'channels.need_priority': 'enter a priority first', 'channels.confirm_batch_delete': 'Delete {n} channels?',
  'channels.batch_done': '{action}: {n} channels', 'channels.testing': 'testing…', 'channels.no_answer': 'no answer',
  'channels.importing': 'Importing {name}…', 'channels.import_of': 'Import of {name}', 'channels.dismiss': 'Dismiss',
  'channels.import_summary': '{created} created, {updated} updated, {failed} failed', 'channels.row': 'Row', 'channels.name': 'Name',
  'channels.result': 'Result', 'channels.new_key': 'new key', 'channels.replace': 'Replace', 'channels.remove_key': 'remove key',
  'channels.requested_model': 'requested model', 'channels.upstream_model': 'upstream model', 'channels.remove_redirect': 'remove redirect',
  'channels.proxy_ph': 'http://host:port or socks5://…', 'channels.global_setting': 'global setting', 'channels.urls': 'URLs',
  'channels.urls_hint': 'one per line; tried in order', 'channels.api_keys': 'API keys', 'channels.add_key': '+ Add key',
  'channels.keys_hint': 'stored keys are shown masked and kept unless you replace or remove them', 'channels.key_strategy': 'Key strategy',
  'channels.priority_hint': 'higher is tried first', 'channels.weight': 'Weight', 'channels.weight_hint': 'share among equal priorities',
  'channels.models_hint': 'comma or newline separated', 'channels.redirects': 'Model redirects', 'channels.add_redirect': '+ Add redirect',
  'channels.proxy': 'Egress proxy', 'channels.fbt': 'First-byte timeout (s)', 'channels.multiplier': 'Cost multiplier',
  'channels.daily_limit': 'Daily cost limit (USD)', 'channels.insecure': 'Skip TLS verification', 'channels.edit_title': 'Edit channel {name}',
  'channels.new_title': 'New channel', 'channels.need_url': 'at least one URL is required', 'channels.bad_url': 'URLs start with http:// or https://',
  'channels.need_key': 'at least one key is required',
  'accounts.credential': 'Signs in with', 'accounts.credential_hint': 'API keys, or a subscription account (sign in after saving)',
  'accounts.kind_key': 'API keys', 'accounts.kind_claude': 'Claude account (Pro/Max)', 'accounts.kind_codex': 'Codex account (ChatGPT)',
  'accounts.ok': 'signed in', 'accounts.needs_sign_in': 'needs sign-in', 'accounts.expires': 'token until {time}',
  'accounts.window_5h': '5 h: {pct}', 'accounts.window_7d': '7 d: {pct}', 'accounts.resets': 'resets {time}', 'accounts.limited': 'at its limit',
  'accounts.sign_in': 'Sign in', 'accounts.sign_in_title': 'Sign in {name}', 'accounts.open_sign_in': 'Open the sign-in page',
  'accounts.steps_claude': 'Sign in to Claude on the page that opens and approve; it then shows a code. Paste it below (all of it, code#state).',
  'accounts.steps_codex': 'Sign in to ChatGPT on the page that opens; the browser then lands on a localhost address that does not load. Paste that whole address below.',
  'accounts.code': 'Code or address', 'accounts.code_ph': 'code#state, or http://localhost:1455/auth/callback?code=…',
  'accounts.finish': 'Finish sign-in', 'accounts.need_code': 'paste the code first', 'accounts.signed_in': '{name} is signed in',
  'batch.enable': 'enable', 'batch.disable': 'disable', 'batch.delete': 'delete', 'batch.set_priority': 'set priority', 'batch.clear_cooldowns': 'clear cooldowns',
  'import.created': 'created', 'import.updated': 'updated', 'import.error': 'error',
};

I18n.tables['zh-CN'] = {
  'lang.name': '简体中文',
  'nav.dashboard': '仪表盘', 'nav.channels': '渠道', 'nav.groups': '分组', 'nav.users': '用户', 'nav.logs': '日志',
  'nav.stats': '统计', 'nav.trends': '趋势', 'nav.usage': '用量', 'nav.tokens': '密钥', 'nav.settings': '设置',
  'nav.password': '修改密码', 'nav.logout': '退出登录', 'nav.menu': '菜单', 'nav.language': '语言', 'nav.admin': '管理员',

  'common.loading': '加载中…', 'common.nothing': '暂无数据。', 'common.yes': '是', 'common.no': '否', 'common.none': '无',
  'common.none_paren': '（无）', 'common.total': '合计', 'common.refresh': '刷新', 'common.save': '保存', 'common.create': '创建',
  'common.cancel': '取消', 'common.done': '完成', 'common.edit': '编辑', 'common.delete': '删除', 'common.enable': '启用',
  'common.disable': '禁用', 'common.enabled': '启用', 'common.enabled_state': '已启用', 'common.disabled_state': '已禁用',
  'common.saved': '已保存 {name}', 'common.was_created': '已创建 {name}', 'common.was_deleted': '已删除 {name}',
  'common.was_enabled': '已启用 {name}', 'common.was_disabled': '已禁用 {name}',

  'err.unreachable': '无法连接 ccload（{detail}）', 'err.not_available': '{path} 不可用', 'err.field_suffix': '（字段：{field}）',
  'form.required': '必填', 'form.name_required': '名称必填', 'form.number': '必须是数字', 'form.integer': '必须是整数',
  'form.at_least': '不能小于 {n}', 'form.at_most': '不能大于 {n}', 'form.not_negative': '不能为负数',

  'login.title': '登录', 'login.heading': 'ccload', 'login.submit': '登录', 'login.username': '用户名', 'login.password': '密码',
  'login.username_hint': '留空则以管理员身份（CCLOAD_PASS）登录',
  'login.password_hint': '管理员：CCLOAD_PASS，或 ccload 首次启动时打印的密码',
  'login.need_password': '请输入密码',
  'register.title': '注册', 'register.link': '没有账号？注册', 'register.submit': '注册', 'register.back': '返回登录',
  'register.done': '已注册为 {name}。管理员审核通过后即可登录。',

  'password.title': '修改我的密码', 'password.old': '当前密码', 'password.new': '新密码', 'password.again': '再次输入新密码',
  'password.rule': '至少 8 个字符，且不能与用户名相同', 'password.submit': '修改密码',
  'password.note': '修改后你的所有会话（包括当前会话）都会结束，需要用新密码重新登录。',
  'password.too_short': '至少 8 个字符', 'password.mismatch': '两次输入的新密码不一致', 'password.changed': '密码已修改，请重新登录',

  'range.24h': '24 小时', 'range.7d': '7 天', 'range.30d': '30 天', 'range.365d': '365 天',
  'col.id': '编号', 'col.channel': '渠道', 'col.model': '模型', 'col.protocol': '协议', 'col.stream': '流式', 'col.elapsed': '已用时',
  'col.streamed': '已传输', 'col.client': '客户端', 'col.instance': '实例', 'col.time': '时间', 'col.status': '状态码', 'col.ttfb': '首字节', 'col.duration': '耗时',
  'col.in': '输入', 'col.out': '输出', 'col.cache_read': '缓存读取', 'col.cache_write': '缓存写入', 'col.cache_hit': '缓存命中率', 'col.cost': '费用', 'col.error': '错误',
  'col.request_id': '请求 ID', 'col.token': '令牌', 'col.requests': '请求数', 'col.success': '成功率', 'col.failovers': '故障转移',
  'col.ttfb_p50': '首字节 p50', 'col.ttfb_p95': '首字节 p95', 'col.state': '状态', 'col.actions': '操作', 'col.job': '任务',
  'col.last_run': '上次运行', 'col.outcome': '结果', 'col.detail': '详情', 'col.runs': '运行次数', 'col.next_run': '下次运行',
  'col.user': '用户', 'col.group': '分组',

  'dash.health': '健康状况（最近 24 小时）', 'dash.active': '进行中的请求', 'dash.requests_24h': '请求数 · 24 小时', 'dash.failovers': '故障转移 {n} 次',
  'dash.success_rate': '成功率', 'dash.succeeded': '成功 {n} 次', 'dash.errors': '错误', 'dash.ttfb_p50': '首字节 p50',
  'dash.tokens_io': '输入 / 输出 Token', 'dash.cache_rw': '缓存读取 {read} · 写入 {write}', 'dash.cost_24h': '费用 · 24 小时', 'dash.cache_hit_rate': '缓存命中率 · 24 小时', 'dash.cache_hit_sub': '{all} 个输入 Token 中 {read} 个来自缓存',
  'dash.channels_sub': '{enabled} 个启用 · {cooling} 个冷却中', 'dash.cell_requests': '{n} 个请求', 'dash.cell_ok': '成功 {rate}',
  'dash.now': '现在', 'dash.per_hour': '每小时请求数', 'dash.in_flight': '{n} 个进行中', 'dash.none_in_flight': '没有进行中的请求。',
  'series.succeeded': '成功', 'series.failed': '失败', 'series.mean': '平均', 'series.input': '输入', 'series.output': '输出',

  'logs.range': '时间范围', 'logs.last_hour': '最近 1 小时', 'logs.last_24h': '最近 24 小时', 'logs.last_7d': '最近 7 天',
  'logs.last_30d': '最近 30 天', 'logs.all_time': '全部时间', 'logs.any_channel': '所有渠道', 'logs.any_status': '所有状态',
  'logs.other': '其他', 'logs.any_token': '所有令牌', 'logs.apply': '筛选', 'logs.more': '加载更多', 'logs.no_status': '无',
  'logs.shown': '已显示 {n} 条', 'logs.none': '没有符合条件的请求。', 'logs.export': '导出 CSV',

  'stats.by_channel': '按渠道', 'stats.by_model': '按模型', 'stats.by_token': '按令牌', 'stats.none': '此时间范围内没有请求。',
  'trend.requests': '请求', 'trend.errors': '错误', 'trend.ttfb': '首字节时间', 'trend.tokens': 'Token 用量', 'trend.cost': '费用（美元）', 'trend.cache_hit': '缓存命中率',
  'trend.hint': '按小时；将鼠标悬停在图表上查看数值',

  'settings.live': '所有设置即时生效，无需重启。', 'settings.reset': '恢复默认值',
  'settings.reset_done': '{key} 已恢复为 {value}', 'settings.default': '默认 {value}', 'settings.at_start': '启动时：{env}',
  'webhooks.title': 'Webhook 通知', 'webhooks.test': '发送测试', 'webhooks.ok': '接收方返回 {status}',
  'webhooks.failed': '失败：{error}', 'webhooks.format': '格式', 'webhooks.url': 'URL（已遮盖）', 'webhooks.result': '测试结果',
  'webhooks.none': '没有 webhook：在下方设置 webhooks。',
  'webhooks.counts': '自启动以来：已发送 {sent}，放弃 {failed}，重试 {retried}，丢弃 {dropped}（队列已满），排队 {queued}。',
  'channels.probe_every': '健康探测间隔（秒）', 'channels.probe_off': '关闭', 'channels.probe_model': '探测模型',
  'channels.probe_model_ph': '第一个模型', 'channels.probe_hint': '探测是付费请求：默认关闭（5–86400 秒）。',
  'channels.probe_ok': '探测正常', 'channels.probe_failed': '探测失败', 'channels.probe_pending': '每 {s} 秒探测',
  'settings.save': '保存更改', 'settings.unchanged': '没有更改', 'settings.saved': '已保存 {keys}',
  'jobs.title': '定时任务', 'jobs.time_zone': '每日重置所用时区：{tz}', 'jobs.not_run': '尚未运行', 'jobs.ok': '成功',
  'jobs.error': '出错', 'jobs.none': '没有定时任务。',

  'keys.title_admin': '客户端令牌', 'keys.title_user': '我的 API 密钥', 'keys.new': '+ 新建令牌',
  'keys.intro': '客户端通过 x-api-key 或 Authorization: Bearer 发送令牌。密钥只在创建时显示一次。',
  'keys.name': '名称', 'keys.expires': '过期时间', 'keys.empty_never': '留空：永不过期', 'keys.group': '分组', 'keys.owner': '所有者',
  'keys.group_hint': '属于分组的令牌只会路由到该分组的渠道', 'keys.group_allowed': '管理员允许你使用的分组之一',
  'keys.no_group': '无：所有渠道', 'keys.owner_admin': '管理员（不属于用户）', 'keys.allowed_models': '允许的模型',
  'keys.every_model': '留空：所有模型', 'keys.comma': '用逗号分隔', 'keys.daily_cap': '每日费用上限（美元）',
  'keys.weekly_cap': '每周费用上限（美元）', 'keys.monthly_cap': '每月费用上限（美元）', 'keys.total_cap': '总费用上限（美元）',
  'keys.rpm_label': '每分钟请求数', 'keys.concurrency': '最大并发数', 'keys.allowed_clients': '允许的客户端',
  'keys.clients_hint': '都不勾选：任何客户端', 'keys.at_most': '最多 {v}', 'keys.edit_title': '编辑令牌 {name}', 'keys.new_title': '新建令牌',
  'keys.copy': '复制', 'keys.copied': '已复制', 'keys.selected': '已选中：请按 Ctrl+C', 'keys.created_title': '令牌 {name} 已创建',
  'keys.secret_once': '密钥只显示这一次，请立即复制；ccload 只保存它的哈希值。',
  'keys.usage_title': '{name} 的用量', 'keys.usage': '用量', 'keys.expired': '已过期', 'keys.never': '永不',
  'keys.every_channel': '所有渠道', 'keys.limits': '限制', 'keys.last_used': '最后使用', 'keys.today': '今日', 'keys.total_cost': '总费用',
  'keys.confirm_delete': '删除令牌 {name}？使用它的客户端将无法继续工作。',
  'keys.none_admin': '没有令牌。没有令牌时只服务本机回环客户端。', 'keys.none_user': '你还没有密钥。',
  'keys.rpm': '每分钟 {n} 次', 'keys.concurrent': '并发 {n}', 'keys.per_day': '每日 {v}', 'keys.per_week': '每周 {v}', 'keys.per_month': '每月 {v}',
  'keys.in_total': '总计 {v}', 'keys.models': '模型：{list}', 'keys.clients': '客户端：{list}',
  'client.claude_code': 'Claude Code', 'client.codex_cli': 'Codex CLI',

  'usage.intro_admin': '所有人的请求数、Token 用量和费用。', 'usage.intro_user': '你自己的密钥的请求数、Token 用量和费用。',
  'usage.by_user': '按用户', 'usage.by_token': '按密钥', 'usage.by_channel': '按渠道', 'usage.by_group': '按分组', 'usage.by_model': '按模型',
  'usage.hour': '按小时', 'usage.day': '按天', 'usage.month': '按月', 'usage.bucket': '时段',
  'usage.cache': '缓存读取 / 写入', 'usage.cache_split': '写入：5 分钟 {m5} · 1 小时 {h1}', 'usage.cache_5m': '缓存写入（5 分钟）',
  'usage.cache_1h': '缓存写入（1 小时）', 'usage.export': '导出 CSV', 'usage.export_logs': '导出请求日志', 'usage.time_zone': '按天和按月以时区 {tz} 计算',
  'usage.no_user': '（管理员）', 'usage.no_token': '（无令牌）', 'usage.no_channel': '（无渠道）', 'usage.no_group': '（无分组）',
  'usage.no_model': '（无模型）',

  'users.new': '+ 新建用户', 'users.intro': '用户使用用户名登录，并在这里设定的分组和限制内管理自己的密钥。',
  'users.username': '用户名', 'users.username_rule': '字母、数字及 . _ - @（最多 64 个字符）', 'users.new_password': '新密码',
  'users.keep_password': '留空：不修改', 'users.role': '角色', 'users.email': '邮箱', 'users.optional': '可选',
  'users.approved': '已审核', 'users.allowed_groups': '允许的分组', 'users.allowed_groups_hint': '该用户可以把自己的密钥放入的分组',
  'users.no_groups': '还没有分组。', 'users.limits_title': '该用户自有密钥的最宽限制（留空：不限制）',
  'users.limits': '密钥限制', 'users.edit_title': '编辑用户 {name}', 'users.new_title': '新建用户', 'users.reset_password': '重置密码',
  'users.reset_title': '为 {name} 设置新密码', 'users.password_reset': '已重置 {name} 的密码', 'users.awaiting': '待审核',
  'users.approve': '通过审核', 'users.was_approved': '已通过 {name} 的审核', 'users.created': '创建时间',
  'users.confirm_delete': '删除用户 {name}？其密钥和会话也会一并删除。', 'users.none': '还没有用户。',
  'role.user': '用户', 'role.admin': '管理员',

  'groups.new': '+ 新建分组', 'groups.intro': '分组内的令牌只会路由到该分组的渠道；不属于任何分组的令牌使用所有渠道。',
  'groups.name': '名称', 'groups.remark': '备注', 'groups.members': '渠道', 'groups.members_hint': '一个渠道可以属于多个分组',
  'groups.no_channels': '还没有渠道。', 'groups.edit_title': '编辑分组 {name}', 'groups.new_title': '新建分组', 'groups.tokens': '令牌数',
  'groups.updated': '更新时间', 'groups.none': '还没有分组。', 'groups.confirm_delete': '删除分组 {name}？',
  'groups.confirm_detach': '分组 {name} 中还有令牌（{reason}）。是否先将这些令牌移出该分组（之后它们使用所有渠道）再删除？',

  'channels.new': '+ 新建渠道', 'channels.import': '导入 CSV', 'channels.export': '导出 CSV',
  'channels.intro': '更改会立即应用到代理。冷却时间实时倒计时。', 'channels.ready': '就绪', 'channels.failure': '失败',
  'channels.key_n': '密钥 {n}', 'channels.priority_ph': '优先级', 'channels.priority_batch': '所选渠道的优先级',
  'channels.clear_cooldowns': '清除冷却', 'channels.set_priority': '设置优先级', 'channels.selected': '已选 {n} 个',
  'channels.none': '还没有渠道。新建一个，或导入 CSV。', 'channels.select_all': '全选', 'channels.select_one': '选择 {name}',
  'channels.any_model': '任意', 'channels.test': '测试', 'channels.clear_cooldown': '清除冷却', 'channels.name_url': '名称 / 地址',
  'channels.priority': '优先级', 'channels.models': '模型', 'channels.keys': '密钥数', 'channels.cooldown': '冷却',
  'channels.cooldowns_cleared': '已清除 {name} 的冷却', 'channels.confirm_delete': '删除渠道 {name}？',
  'channels.need_priority': '请先输入优先级', 'channels.confirm_batch_delete': '删除 {n} 个渠道？',
  'channels.batch_done': '{action}：{n} 个渠道', 'channels.testing': '测试中…', 'channels.no_answer': '无响应',
  'channels.importing': '正在导入 {name}…', 'channels.import_of': '{name} 的导入结果', 'channels.dismiss': '关闭',
  'channels.import_summary': '新建 {created} 个，更新 {updated} 个，失败 {failed} 个', 'channels.row': '行', 'channels.name': '名称',
  'channels.result': '结果', 'channels.new_key': '新密钥', 'channels.replace': '替换', 'channels.remove_key': '移除密钥',
  'channels.requested_model': '请求的模型', 'channels.upstream_model': '上游模型', 'channels.remove_redirect': '移除重定向',
  'channels.proxy_ph': 'http://主机:端口 或 socks5://…', 'channels.global_setting': '使用全局设置', 'channels.urls': '地址',
  'channels.urls_hint': '每行一个，按顺序尝试', 'channels.api_keys': 'API 密钥', 'channels.add_key': '+ 添加密钥',
  'channels.keys_hint': '已保存的密钥以掩码显示，除非替换或移除，否则保持不变', 'channels.key_strategy': '密钥策略',
  'channels.priority_hint': '数值越大越先尝试', 'channels.weight': '权重', 'channels.weight_hint': '同优先级之间的分配比例',
  'channels.models_hint': '用逗号或换行分隔', 'channels.redirects': '模型重定向', 'channels.add_redirect': '+ 添加重定向',
  'channels.proxy': '出口代理', 'channels.fbt': '首字节超时（秒）', 'channels.multiplier': '费用倍率',
  'channels.daily_limit': '每日费用限额（美元）', 'channels.insecure': '跳过 TLS 证书验证', 'channels.edit_title': '编辑渠道 {name}',
  'channels.new_title': '新建渠道', 'channels.need_url': '至少需要一个地址', 'channels.bad_url': '地址必须以 http:// 或 https:// 开头',
  'channels.need_key': '至少需要一个密钥',
  'accounts.credential': '登录方式', 'accounts.credential_hint': 'API 密钥，或订阅账号（保存后登录）',
  'accounts.kind_key': 'API 密钥', 'accounts.kind_claude': 'Claude 账号（Pro/Max）', 'accounts.kind_codex': 'Codex 账号（ChatGPT）',
  'accounts.ok': '已登录', 'accounts.needs_sign_in': '需要重新登录', 'accounts.expires': '令牌有效至 {time}',
  'accounts.window_5h': '5 小时：{pct}', 'accounts.window_7d': '7 天：{pct}', 'accounts.resets': '{time} 重置', 'accounts.limited': '已达上限',
  'accounts.sign_in': '登录', 'accounts.sign_in_title': '登录 {name}', 'accounts.open_sign_in': '打开登录页面',
  'accounts.steps_claude': '在打开的页面登录 Claude 并授权，页面会显示一个授权码。把它完整粘贴到下面（code#state）。',
  'accounts.steps_codex': '在打开的页面登录 ChatGPT，浏览器随后会跳转到一个无法打开的 localhost 地址。把这个完整地址粘贴到下面。',
  'accounts.code': '授权码或地址', 'accounts.code_ph': 'code#state，或 http://localhost:1455/auth/callback?code=…',
  'accounts.finish': '完成登录', 'accounts.need_code': '请先粘贴授权码', 'accounts.signed_in': '{name} 已登录',
  'batch.enable': '启用', 'batch.disable': '禁用', 'batch.delete': '删除', 'batch.set_priority': '设置优先级', 'batch.clear_cooldowns': '清除冷却',
  'import.created': '已新建', 'import.updated': '已更新', 'import.error': '错误',
};
