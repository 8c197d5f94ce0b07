// The cloro-gateway web console: a client of the gateway's JSON API, nothing more.
//
// - The token is pasted once, kept in sessionStorage (this tab only), and sent only in the
//   Authorization header of same-origin requests; it never goes into a URL.
// - Its role and team are read from the JWT payload to choose the pages to show; the API
//   enforces every permission itself.
// - Every value from the API reaches the page through textContent or DOM attributes, never
//   as HTML. Charts are SVG drawn here, each followed by the numbers as a table.
'use strict';

(() => {
  const TOKEN_KEY = 'cloro-console-token';
  const SVG_NS = 'http://www.w3.org/2000/svg';
  const SERIES_COLOURS = 8; // .series-0 ... .series-7 in console.css
  // Histograms of the wait for an account slot, by the names /metrics has used; the first
  // one present is shown, every series of it (per team, when it has a team label).
  const QUEUE_WAIT_HISTOGRAMS = ['cloro_gateway_fair_queue_wait_seconds',
    'cloro_gateway_team_admission_wait_seconds'];
  const ENDPOINTS = ['chatgpt', 'perplexity', 'copilot', 'gemini', 'grok', 'aimode',
    'google', 'google_news', 'google_goto'];

  const session = { token: null, role: null, team: null, subject: null };

  // ---------------------------------------------------------------- DOM helpers

  function setAttributes(element, attributes) {
    for (const [name, value] of Object.entries(attributes || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name.startsWith('on') && typeof value === 'function') {
        element.addEventListener(name.slice(2), value);
      } else if (value === true) {
        element.setAttribute(name, '');
      } else {
        element.setAttribute(name, String(value));
      }
    }
  }

  function appendChildren(element, children) {
    for (const child of children.flat(Infinity)) {
      if (child === null || child === undefined || child === false) continue;
      element.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
  }

  /** An HTML element; string children become text nodes. */
  function h(tag, attributes, ...children) {
    const element = document.createElement(tag);
    setAttributes(element, attributes);
    appendChildren(element, children);
    return element;
  }

  /** An SVG element. */
  function svg(tag, attributes, ...children) {
    const element = document.createElementNS(SVG_NS, tag);
    setAttributes(element, attributes);
    appendChildren(element, children);
    return element;
  }

  function byId(id) {
    return document.getElementById(id);
  }

  let uniqueCounter = 0;
  function uid(prefix) {
    uniqueCounter += 1;
    return `${prefix}-${uniqueCounter}`;
  }

  function replace(container, ...children) {
    container.replaceChildren();
    appendChildren(container, children);
  }

  // ---------------------------------------------------------------- formatting

  const numberFormat = new Intl.NumberFormat('en-US');

  function formatNumber(value) {
    return value === null || value === undefined ? '—' : numberFormat.format(value);
  }

  function formatTime(value) {
    if (!value) return '—';
    const date = new Date(value);
    if (Number.isNaN(date.getTime())) return String(value);
    return date.toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC').replace(/Z$/, ' UTC');
  }

  /** The end of an id: UUIDv7s made in the same minute share their first characters. */
  function shortId(id) {
    return id ? `…${String(id).slice(-8)}` : '—';
  }

  function endpointName(endpoint) {
    if (!endpoint) return '—';
    return String(endpoint).replace(/^\/v1\/monitor\//, '').replace(/^\/v1\//, '');
  }

  function compactJson(value) {
    if (value === null || value === undefined) return '—';
    if (typeof value !== 'object') return String(value);
    return Object.entries(value)
      .map(([key, item]) => `${key}: ${typeof item === 'object' && item !== null ? JSON.stringify(item) : item}`)
      .join(', ');
  }

  /** `YYYY-MM-DDTHH:MM` from a datetime-local input, as RFC 3339 in UTC. */
  function localToRfc3339(value) {
    if (!value) return '';
    const date = new Date(value);
    return Number.isNaN(date.getTime()) ? value : date.toISOString();
  }

  /** `YYYY-MM-DD` from a date input, as the start of that UTC day. */
  function dayToRfc3339(value) {
    return value ? `${value}T00:00:00Z` : '';
  }

  // ---------------------------------------------------------------- status and errors

  let statusTimer = null;
  function announce(message) {
    const status = byId('status');
    status.textContent = message;
    clearTimeout(statusTimer);
    statusTimer = setTimeout(() => {
      if (status.textContent === message) status.textContent = '';
    }, 8000);
  }

  /** An API refusal: the error envelope's code, message and details. */
  class ApiFailure extends Error {
    constructor(status, code, message, details) {
      super(message);
      this.status = status;
      this.code = code;
      this.details = details;
    }
  }

  /** The envelope's message, and each `{field, message}` of its details, as nodes. */
  function errorNodes(failure) {
    const message = failure instanceof ApiFailure
      ? `${failure.message} (${failure.code})`
      : String(failure && failure.message ? failure.message : failure);
    const nodes = [h('span', { class: 'error-message' }, message)];
    const details = failure instanceof ApiFailure ? failure.details : null;
    if (Array.isArray(details) && details.length) {
      nodes.push(h('ul', { class: 'error-details' },
        details.map((d) => h('li', null, d && d.field ? `${d.field}: ${d.message}` : JSON.stringify(d)))));
    } else if (details && typeof details === 'object') {
      nodes.push(h('ul', { class: 'error-details' },
        Object.entries(details).map(([key, value]) => h('li', null, `${key}: ${typeof value === 'object' ? JSON.stringify(value) : value}`))));
    }
    return nodes;
  }

  function showError(container, failure) {
    replace(container, errorNodes(failure));
  }

  /** Runs `load` and puts what it returns in `container`, or the error it throws. */
  async function loadInto(container, load) {
    replace(container, h('p', { class: 'muted' }, 'Loading…'));
    container.setAttribute('aria-busy', 'true');
    try {
      const nodes = await load();
      replace(container, nodes);
    } catch (failure) {
      replace(container, h('div', { class: 'form-error' }, errorNodes(failure)));
    } finally {
      container.removeAttribute('aria-busy');
    }
  }

  // ---------------------------------------------------------------- the API

  function query(params) {
    const search = new URLSearchParams();
    for (const [name, value] of Object.entries(params)) {
      if (value === null || value === undefined || value === '') continue;
      search.set(name, String(value));
    }
    const text = search.toString();
    return text ? `?${text}` : '';
  }

  async function request(method, path, body, token) {
    const headers = { Accept: 'application/json', Authorization: `Bearer ${token || session.token}` };
    const init = { method, headers, cache: 'no-store', credentials: 'omit', referrerPolicy: 'no-referrer' };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch (error) {
      throw new ApiFailure(0, 'NETWORK_ERROR', 'The gateway could not be reached', null);
    }
    return response;
  }

  async function failureOf(response) {
    let envelope = null;
    try {
      envelope = await response.json();
    } catch (error) {
      envelope = null;
    }
    const error = envelope && envelope.error ? envelope.error : {};
    return new ApiFailure(response.status, error.code || `HTTP_${response.status}`,
      error.message || `The gateway answered ${response.status}`, error.details);
  }

  /** One JSON call with the session's token; a refusal throws its ApiFailure. */
  async function api(method, path, body) {
    const response = await request(method, path, body);
    if (!response.ok) {
      const failure = await failureOf(response);
      if (response.status === 401 && session.token) signOut(`Signed out: ${failure.message}`);
      throw failure;
    }
    return response.status === 204 ? null : response.json();
  }

  // ---------------------------------------------------------------- the token

  function decodePayload(token) {
    const parts = token.split('.');
    if (parts.length !== 3) return null;
    try {
      let base64 = parts[1].replace(/-/g, '+').replace(/_/g, '/');
      while (base64.length % 4) base64 += '=';
      const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
      return JSON.parse(new TextDecoder().decode(bytes));
    } catch (error) {
      return null;
    }
  }

  /** The route that proves a role works: the first one that answers tells the role. */
  const ROLE_PROBES = [
    ['admin', '/admin/teams'],
    ['finance', '/finance/positions'],
    ['team', '/team/position'],
  ];

  /** The role (and team) of `token`: from its payload, confirmed by the API. */
  async function identify(token) {
    const claims = decodePayload(token);
    if (!claims) throw new Error('This is not a JWT: paste the whole token (three dot-separated parts).');
    const claimed = ROLE_PROBES.find(([role]) => role === claims.role);
    const probes = claimed ? [claimed] : ROLE_PROBES;
    let last = null;
    for (const [role, path] of probes) {
      const response = await request('GET', path, undefined, token);
      if (response.ok) {
        const body = await response.json();
        const team = role === 'team' ? (body && body.team) || claims.team || null : null;
        return { role, team, subject: claims.sub || null };
      }
      last = await failureOf(response);
      if (response.status === 401) break;
    }
    throw last || new Error('The token was refused');
  }

  // ---------------------------------------------------------------- pages and navigation

  const PAGES = {
    admin: [
      ['overview', 'Overview', renderOverview],
      ['ledger', 'Ledger', (root) => renderLedger(root, 'finance')],
      ['reconciliation', 'Reconciliation', renderReconciliation],
      ['teams', 'Teams', renderTeams],
      ['tokens', 'Tokens', renderTokens],
      ['audit', 'Audit log', renderAudit],
    ],
    finance: [
      ['overview', 'Overview', renderOverview],
      ['ledger', 'Ledger', (root) => renderLedger(root, 'finance')],
      ['reconciliation', 'Reconciliation', renderReconciliation],
    ],
    team: [
      ['overview', 'Overview', renderTeamOverview],
      ['ledger', 'Ledger', (root) => renderLedger(root, 'team')],
    ],
  };

  function pagesOfRole() {
    return PAGES[session.role] || [];
  }

  function currentPageId() {
    const match = /^#\/([a-z-]+)/.exec(window.location.hash);
    return match ? match[1] : null;
  }

  function buildNav() {
    const list = byId('nav-list');
    replace(list, pagesOfRole().map(([id, title]) =>
      h('li', null, h('a', { href: `#/${id}`, 'data-page': id }, title))));
    byId('nav').hidden = false;
  }

  function showPage({ focus } = { focus: true }) {
    if (!session.token) return;
    const pages = pagesOfRole();
    const wanted = currentPageId();
    const page = pages.find(([id]) => id === wanted) || pages[0];
    if (!page) return;
    const [id, title, render] = page;
    for (const link of byId('nav-list').querySelectorAll('a')) {
      if (link.dataset.page === id) link.setAttribute('aria-current', 'page');
      else link.removeAttribute('aria-current');
    }
    document.title = `${title} · cloro-gateway console`;
    const container = byId('page');
    const headingId = uid('page-title');
    const heading = h('h1', { id: headingId, tabindex: '-1' }, title);
    const root = h('section', { class: 'page', 'aria-labelledby': headingId, 'data-page': id }, heading);
    replace(container, root);
    render(root);
    if (focus) heading.focus();
  }

  // ---------------------------------------------------------------- reusable pieces

  function card(title, ...children) {
    const headingId = uid('card');
    return h('section', { class: 'card', 'aria-labelledby': headingId },
      h('h2', { id: headingId }, title), children);
  }

  /**
   * A table: `columns` are `{label, numeric?}`; each row is an array of cells (strings,
   * numbers or nodes), the first one the row's header.
   */
  function table(caption, columns, rows, attributes) {
    const head = h('tr', null, columns.map((column) =>
      h('th', { scope: 'col', class: column.numeric ? 'num' : null }, column.label)));
    const body = rows.map((cells) => h('tr', null, cells.map((cell, index) => {
      const numeric = columns[index] && columns[index].numeric;
      const content = typeof cell === 'number' ? formatNumber(cell) : cell;
      return index === 0
        ? h('th', { scope: 'row', class: numeric ? 'num' : null }, content)
        : h('td', { class: numeric ? 'num' : null }, content);
    })));
    return h('div', { class: 'table-wrap' },
      h('table', attributes || null, caption ? h('caption', null, caption) : null,
        h('thead', null, head), h('tbody', null, body)));
  }

  function field(label, input, hint) {
    const id = input.id || uid('field');
    input.id = id;
    const hintNode = hint ? h('span', { class: 'hint', id: `${id}-hint` }, hint) : null;
    if (hintNode) input.setAttribute('aria-describedby', `${id}-hint`);
    const error = h('span', { class: 'field-error', id: `${id}-error` });
    return h('div', { class: 'field' }, h('label', { for: id }, label), input, hintNode, error);
  }

  function select(name, options, value) {
    return h('select', { name }, options.map(([optionValue, label]) =>
      h('option', { value: optionValue, selected: optionValue === value }, label)));
  }

  function datalist(id, values) {
    return h('datalist', { id }, values.map((value) => h('option', { value })));
  }

  /** Marks the fields a VALIDATION_ERROR names, and clears the others. */
  function markFieldErrors(form, failure) {
    for (const node of form.querySelectorAll('.field-error')) node.textContent = '';
    for (const input of form.querySelectorAll('[aria-invalid]')) input.removeAttribute('aria-invalid');
    const details = failure && Array.isArray(failure.details) ? failure.details : [];
    for (const detail of details) {
      if (!detail || !detail.field) continue;
      const input = form.elements.namedItem(detail.field);
      if (!input || !input.id) continue;
      input.setAttribute('aria-invalid', 'true');
      const errorNode = byId(`${input.id}-error`);
      if (errorNode) {
        errorNode.textContent = detail.message;
        const described = (input.getAttribute('aria-describedby') || '').split(' ').filter(Boolean);
        if (!described.includes(errorNode.id)) described.push(errorNode.id);
        input.setAttribute('aria-describedby', described.join(' '));
      }
    }
  }

  // ---------------------------------------------------------------- charts

  /**
   * Stacked bars of `charged` per day, one colour per series (a team or an endpoint), with
   * its legend and, for screen readers and exact numbers, the same data as a table.
   */
  function usageChart(report, seriesKey, caption, labelOf = (name) => name) {
    const days = [];
    const start = new Date(`${report.from}T00:00:00Z`);
    const end = new Date(`${report.to}T00:00:00Z`);
    for (let day = start; day < end && days.length < 400; day = new Date(day.getTime() + 86400000)) {
      days.push(day.toISOString().slice(0, 10));
    }
    const series = [...new Set(report.rows.map((row) => row[seriesKey] || '—'))].sort();
    const labels = new Map(series.map((name) => [name, labelOf(name)]));
    const charged = new Map(); // `${day}|${series}` -> credits
    for (const row of report.rows) {
      const key = `${row.day}|${row[seriesKey] || '—'}`;
      charged.set(key, (charged.get(key) || 0) + row.charged);
    }
    const totals = days.map((day) => series.reduce((sum, name) => sum + (charged.get(`${day}|${name}`) || 0), 0));
    const max = Math.max(1, ...totals);
    // Drawn at about the width it is shown at, so its text stays readable on a phone.
    const shown = byId('page').clientWidth - 48;
    const width = Math.round(Math.min(720, Math.max(320, shown || 640)));
    const height = 220;
    const left = 48;
    const bottom = 24;
    const top = 8;
    const plotHeight = height - top - bottom;
    const band = (width - left - 8) / Math.max(1, days.length);
    const barWidth = Math.max(1, band * 0.7);
    const summary = series.length
      ? `${caption}: ${series.map((name) => `${labels.get(name)} ${formatNumber(days.reduce((sum, day) => sum + (charged.get(`${day}|${name}`) || 0), 0))}`).join(', ')} credits from ${report.from} to the day before ${report.to}.`
      : `${caption}: nothing charged from ${report.from} to the day before ${report.to}.`;
    const chart = svg('svg', {
      viewBox: `0 0 ${width} ${height}`, class: 'chart', role: 'img', 'aria-label': summary,
    });
    for (const fraction of [0, 0.5, 1]) {
      const y = top + plotHeight - plotHeight * fraction;
      chart.append(svg('line', { x1: left, x2: width - 8, y1: y, y2: y, class: 'grid-line' }));
      chart.append(svg('text', { x: left - 6, y: y + 4, class: 'axis-label', 'text-anchor': 'end' },
        formatNumber(Math.round(max * fraction))));
    }
    days.forEach((day, index) => {
      let stacked = 0;
      const x = left + index * band + (band - barWidth) / 2;
      series.forEach((name, seriesIndex) => {
        const value = charged.get(`${day}|${name}`) || 0;
        if (!value) return;
        const barHeight = (value / max) * plotHeight;
        stacked += barHeight;
        chart.append(svg('rect', {
          x: x.toFixed(2), y: (top + plotHeight - stacked).toFixed(2),
          width: barWidth.toFixed(2), height: Math.max(0.5, barHeight).toFixed(2),
          class: `series-${seriesIndex % SERIES_COLOURS}`,
        }, svg('title', null, `${day} · ${labels.get(name)}: ${formatNumber(value)} credits`)));
      });
      const labelEvery = Math.max(1, Math.ceil(days.length / Math.max(3, Math.floor(width / 100))));
      if (index % labelEvery === 0 || index === days.length - 1) {
        chart.append(svg('text', { x: (x + barWidth / 2).toFixed(2), y: height - 6, class: 'axis-label', 'text-anchor': 'middle' },
          day.slice(5)));
      }
    });
    const legend = h('ul', { class: 'legend', 'aria-hidden': 'true' }, series.map((name, index) =>
      h('li', null, h('span', { class: `swatch series-${index % SERIES_COLOURS}` }), labels.get(name))));
    const activeDays = days.filter((day, index) => totals[index] > 0);
    const dataTable = table(`${caption}, credits per day`,
      [{ label: 'Day' }, ...series.map((name) => ({ label: labels.get(name), numeric: true })), { label: 'Total', numeric: true }],
      activeDays.map((day) => [day, ...series.map((name) => charged.get(`${day}|${name}`) || 0),
        series.reduce((sum, name) => sum + (charged.get(`${day}|${name}`) || 0), 0)]));
    return h('figure', { class: 'chart-figure' }, chart, legend,
      h('details', { class: 'chart-data' }, h('summary', null, 'Show the numbers per day'), dataTable));
  }

  /** Totals of a usage report per value of `key`, largest first. */
  function totalsBy(report, key) {
    const totals = new Map();
    for (const row of report.rows) {
      const name = row[key] || '—';
      const total = totals.get(name) || { entries: 0, charged: 0, flagged: 0 };
      total.entries += row.entries;
      total.charged += row.charged;
      total.flagged += row.flagged;
      totals.set(name, total);
    }
    return [...totals.entries()].sort((a, b) => b[1].charged - a[1].charged || a[0].localeCompare(b[0]));
  }

  /**
   * A usage route's report by day and `key` (team or endpoint): the chart, then the period's
   * totals per `key` (`label` heads that column, `nameOf` names its values).
   */
  async function usageSection(path, key, label, nameOf = (name) => name) {
    const report = await api('GET', `${path}${query({ groupBy: `day,${key}` })}`);
    return [
      usageChart(report, key, `Charged by ${label.toLowerCase()}`, nameOf),
      table(`Totals from ${report.from} to the day before ${report.to}`,
        [{ label }, { label: 'Entries', numeric: true }, { label: 'Flagged', numeric: true }, { label: 'Charged', numeric: true }],
        totalsBy(report, key).map(([name, total]) => [nameOf(name), total.entries, total.flagged, total.charged]),
        { 'data-table': `usage-by-${key}` }),
    ];
  }

  /** One team's budget position as a bar: charged, held and left (of the budget). */
  function budgetBar(position) {
    const charged = position.charged || 0;
    const held = position.held || 0;
    const hasBudget = position.budget !== null && position.budget !== undefined;
    const left = hasBudget ? Math.max(0, position.left === null || position.left === undefined ? position.budget - charged - held : position.left) : 0;
    const scale = Math.max(1, hasBudget ? Math.max(position.budget, charged + held) : charged + held);
    const width = 300;
    const parts = [['charged', charged], ['held', held], ['left', left]];
    const label = hasBudget
      ? `${position.team}: ${formatNumber(charged)} charged, ${formatNumber(held)} held, ${formatNumber(left)} left of a ${position.hardBudget ? 'hard' : 'soft'} budget of ${formatNumber(position.budget)} credits`
      : `${position.team}: ${formatNumber(charged)} charged, ${formatNumber(held)} held, no budget`;
    const bar = svg('svg', { viewBox: `0 0 ${width} 14`, class: 'budget-bar', role: 'img', 'aria-label': label, 'data-team': position.team, preserveAspectRatio: 'none' },
      svg('rect', { x: 0, y: 0, width, height: 14, class: 'bar-track' }));
    let x = 0;
    for (const [name, value] of parts) {
      if (!value) continue;
      const partWidth = (value / scale) * width;
      bar.append(svg('rect', { x: x.toFixed(2), y: 0, width: partWidth.toFixed(2), height: 14, class: `bar-${name}` },
        svg('title', null, `${name}: ${formatNumber(value)}`)));
      x += partWidth;
    }
    return h('div', { class: 'budget' },
      h('div', { class: 'budget-head' }, h('strong', null, position.team),
        h('span', { class: 'muted' }, hasBudget ? `budget ${formatNumber(position.budget)}${position.hardBudget ? '' : ' (soft)'}` : 'no budget')),
      bar,
      h('p', { class: 'budget-numbers' },
        h('span', { class: 'key key-charged' }, `charged ${formatNumber(charged)}`), ' · ',
        h('span', { class: 'key key-held' }, `held ${formatNumber(held)}`), ' · ',
        h('span', { class: 'key key-left' }, hasBudget ? `left ${formatNumber(left)}` : 'left —')));
  }

  // ---------------------------------------------------------------- /metrics

  /** Prometheus text as samples `{name, labels, value}`; comments and junk are skipped. */
  function parsePrometheus(text) {
    const samples = [];
    for (const line of text.split('\n')) {
      if (!line || line.startsWith('#')) continue;
      const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
      if (!match) continue;
      const labels = {};
      for (const label of (match[2] || '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
        labels[label[1]] = label[2].replace(/\\(.)/g, (_, c) => (c === 'n' ? '\n' : c));
      }
      samples.push({ name: match[1], labels, value: Number(match[3]) });
    }
    return samples;
  }

  /** Every series of histogram `name`: its labels (but `le`), count, sum and buckets. */
  function histograms(samples, name) {
    const groups = new Map();
    const groupOf = (labels) => {
      const rest = Object.entries(labels).filter(([key]) => key !== 'le').sort(([a], [b]) => a.localeCompare(b));
      const key = JSON.stringify(rest);
      if (!groups.has(key)) groups.set(key, { labels: rest, count: 0, sum: 0, buckets: [] });
      return groups.get(key);
    };
    for (const sample of samples) {
      if (sample.name === `${name}_bucket`) {
        groupOf(sample.labels).buckets.push([sample.labels.le === '+Inf' ? Infinity : Number(sample.labels.le), sample.value]);
      } else if (sample.name === `${name}_count`) {
        groupOf(sample.labels).count = sample.value;
      } else if (sample.name === `${name}_sum`) {
        groupOf(sample.labels).sum = sample.value;
      }
    }
    for (const group of groups.values()) group.buckets.sort((a, b) => a[0] - b[0]);
    return [...groups.values()];
  }

  /** The upper bound of the bucket holding quantile `q` (a histogram only knows that much). */
  function quantileBound(group, q) {
    if (!group.count) return null;
    const rank = q * group.count;
    const bucket = group.buckets.find(([, cumulative]) => cumulative >= rank);
    return bucket ? bucket[0] : null;
  }

  function seconds(value) {
    if (value === null || value === undefined) return '—';
    if (value === Infinity) return '> largest bucket';
    return value < 1 ? `${Math.round(value * 1000)} ms` : `${value.toFixed(2)} s`;
  }

  async function upstreamPressure() {
    let response;
    try {
      response = await fetch('/metrics', { cache: 'no-store', credentials: 'omit', referrerPolicy: 'no-referrer' });
    } catch (error) {
      response = null;
    }
    if (!response || !response.ok) {
      return [h('p', { class: 'not-available' },
        'Not available: /metrics does not answer here (with server.admin_listen set it is served on the admin listener only; with server.metrics_token set it needs that token).')];
    }
    const samples = parsePrometheus(await response.text());
    const refusals = samples.filter((s) => s.name === 'cloro_gateway_upstream_concurrency_429_total');
    const nodes = [h('dl', { class: 'facts' },
      h('dt', null, 'Upstream concurrency 429s (this replica, since start)'),
      h('dd', { 'data-metric': 'upstream-429' }, refusals.length
        ? formatNumber(refusals.reduce((sum, s) => sum + s.value, 0))
        : 'not available'))];
    let waits = [];
    let waitName = null;
    for (const name of QUEUE_WAIT_HISTOGRAMS) {
      waits = histograms(samples, name);
      waitName = name;
      if (waits.length) break;
    }
    if (!waits.length) {
      nodes.push(h('p', { class: 'not-available', 'data-metric': 'queue-wait' }, 'Fair-queue waits: not available.'));
    } else {
      nodes.push(table(`Waits for an account slot (${waitName})`,
        [{ label: 'Series' }, { label: 'Waits', numeric: true }, { label: 'Mean', numeric: true },
          { label: 'p50 ≤', numeric: true }, { label: 'p95 ≤', numeric: true }],
        waits.map((group) => [
          group.labels.length ? group.labels.map(([key, value]) => `${key}=${value}`).join(', ') : 'all',
          group.count,
          group.count ? seconds(group.sum / group.count) : '—',
          seconds(quantileBound(group, 0.5)),
          seconds(quantileBound(group, 0.95)),
        ]), { 'data-metric': 'queue-wait' }));
    }
    return nodes;
  }

  // ---------------------------------------------------------------- Overview (finance, admin)

  function renderOverview(root) {
    const balance = h('div');
    const pressure = h('div');
    const byTeam = h('div');
    const byEndpoint = h('div');
    const positions = h('div');
    const alerts = h('div');
    root.append(
      h('div', { class: 'cards' },
        card('Account balance', balance),
        card('Upstream pressure', pressure)),
      card('Credits charged this period by team', byTeam),
      card('Credits charged this period by engine', byEndpoint),
      card('Budget positions', positions),
      card('Open alerts', alerts));

    loadInto(balance, async () => {
      const report = await api('GET', '/finance/reconciliation');
      const closing = report.closing;
      return [
        h('p', { class: 'big-number', 'data-metric': 'balance' },
          closing ? `${formatNumber(closing.creditsRemaining)} credits` : 'No balance observed yet'),
        h('p', { class: 'muted' }, closing
          ? `As cloro last reported it, at ${formatTime(closing.observedAt)}.`
          : 'cloro reports the balance with every answer; none was seen this period.'),
        report.upstreamCreditsError
          ? h('p', { class: 'muted' }, `No fresh reading: ${report.upstreamCreditsError}`)
          : null,
      ];
    });
    loadInto(pressure, upstreamPressure);
    loadInto(byTeam, () => usageSection('/finance/usage', 'team', 'Team'));
    loadInto(byEndpoint, () => usageSection('/finance/usage', 'endpoint', 'Engine', endpointName));
    loadInto(positions, async () => {
      const list = await api('GET', '/finance/positions');
      if (!list.length) return [h('p', { class: 'muted' }, 'No teams yet.')];
      return [
        h('p', { class: 'muted' }, `Period ${list[0].period}, until ${formatTime(list[0].periodEnd)}.`),
        h('div', { class: 'budgets' }, list.map(budgetBar)),
      ];
    });
    loadInto(alerts, async () => alertList(await api('GET', '/finance/alerts')));
  }

  function alertList(page) {
    if (!page.items.length) return [h('p', { class: 'muted' }, 'No alerts raised.')];
    return [table(null,
      [{ label: 'Raised' }, { label: 'Kind' }, { label: 'Team' }, { label: 'Details' }],
      page.items.map((alert) => [formatTime(alert.raisedAt), alert.kind, alert.team || 'account', alertSummary(alert.details)]),
      { 'data-table': 'alerts' })];
  }

  /** A team alert's usage against its budget, or the balance against its floor. */
  function alertSummary(details) {
    if (details && details.budget !== undefined && details.used !== undefined) {
      return `${formatNumber(details.used)} of ${formatNumber(details.budget)} credits used (alert at ${details.thresholdPct} %), period ${details.period || '—'}`;
    }
    if (details && details.creditsRemaining !== undefined) {
      return `balance ${formatNumber(details.creditsRemaining)} below the floor of ${formatNumber(details.floor)}`;
    }
    return compactJson(details);
  }

  // ---------------------------------------------------------------- Overview (team)

  function renderTeamOverview(root) {
    const position = h('div');
    const quota = h('div');
    const usage = h('div');
    const alerts = h('div');
    root.append(
      h('div', { class: 'cards' }, card('Budget position', position), card('Quota in force', quota)),
      card('Credits charged this period by engine', usage),
      card('Alerts', alerts));
    loadInto(position, async () => {
      const current = await api('GET', '/team/position');
      return [h('p', { class: 'muted' }, `Period ${current.period}, until ${formatTime(current.periodEnd)}.`), budgetBar(current)];
    });
    loadInto(quota, async () => {
      const q = await api('GET', '/team/quota');
      return [h('dl', { class: 'facts' }, [
        ['Source', q.source === 'team' ? "the team's own" : 'the configured default'],
        ['Requests per second', q.rps], ['Burst', q.burst], ['Concurrency', q.concurrency],
        ['Weight', q.weight], ['Budget', q.budget === null || q.budget === undefined ? 'none' : `${formatNumber(q.budget)} (${q.hardBudget ? 'hard' : 'soft'})`],
        ['Alert at', q.alertThresholdPct ? `${q.alertThresholdPct} %` : '—'],
        ['Highest async priority', q.maxPriority], ['Most queued tasks', q.maxQueuedTasks],
      ].map(([term, value]) => [h('dt', null, term), h('dd', null, typeof value === 'number' ? formatNumber(value) : value)]))];
    });
    loadInto(usage, () => usageSection('/team/usage', 'endpoint', 'Engine', endpointName));
    loadInto(alerts, async () => alertList(await api('GET', '/team/alerts')));
  }

  // ---------------------------------------------------------------- Ledger

  const ENTRY_FIELDS = [
    ['Request id', (e) => e.requestId],
    ['Team', (e) => e.team],
    ['Endpoint', (e) => e.endpoint],
    ['Mode', (e) => e.mode],
    ['Status', (e) => e.status],
    ['Estimate', (e) => formatNumber(e.estimate)],
    ['Charged', (e) => formatNumber(e.charged)],
    ['Flagged', (e) => (e.flagged ? 'yes' : 'no')],
    ['Flag reason', (e) => e.flagReason || '—'],
    ['Upstream status', (e) => e.upstreamStatus || '—'],
    ['Void reason', (e) => e.voidReason || '—'],
    ['Client request id', (e) => e.clientRequestId || '—'],
    ['Idempotency key', (e) => e.idempotencyKey || '—'],
    ['Task id', (e) => e.taskId || '—'],
    ['Batch id', (e) => e.batchId || '—'],
    ['Created', (e) => formatTime(e.createdAt)],
    ['Settled', (e) => formatTime(e.settledAt)],
  ];

  function renderLedger(root, scope) {
    const teamsList = uid('teams');
    const endpointsList = uid('endpoints');
    const form = h('form', { class: 'filters', 'aria-label': 'Ledger filters' },
      scope === 'finance' ? field('Team', h('input', { name: 'team', list: teamsList, autocomplete: 'off' })) : null,
      field('Endpoint', h('input', { name: 'endpoint', list: endpointsList, autocomplete: 'off' })),
      field('Status', select('status', [['', 'any'], ['PENDING', 'PENDING'], ['POSTED', 'POSTED'], ['VOIDED', 'VOIDED'], ['EXPIRED', 'EXPIRED']], '')),
      field('Mode', select('mode', [['', 'any'], ['sync', 'sync'], ['async', 'async']], '')),
      field('Flagged', select('flagged', [['', 'any'], ['true', 'flagged only'], ['false', 'unflagged only']], '')),
      field('Flag', select('flag', [['', 'any'], ['outcome_unknown', 'outcome_unknown'], ['expired', 'expired'], ['soft_budget_exceeded', 'soft_budget_exceeded'], ['task_gone', 'task_gone']], '')),
      field('From', h('input', { name: 'from', type: 'datetime-local' }), 'your local time'),
      field('To', h('input', { name: 'to', type: 'datetime-local' }), 'exclusive'),
      field('Page size', select('limit', [['10', '10'], ['25', '25'], ['50', '50'], ['100', '100'], ['500', '500']], '25')),
      h('div', { class: 'actions' },
        h('button', { type: 'submit' }, 'Apply filters'),
        h('button', { type: 'button', class: 'secondary', 'data-action': 'export' }, 'Export CSV')),
      h('div', { class: 'form-error', role: 'alert' }),
      datalist(teamsList, []),
      datalist(endpointsList, ENDPOINTS));
    const results = h('div', { class: 'results' });
    const detail = h('div', { class: 'detail-slot' });
    root.append(form, detail, results);
    const formError = form.querySelector('.form-error');

    if (scope === 'finance') {
      api('GET', '/finance/positions').then((positions) => {
        replace(byId(teamsList), positions.map((p) => h('option', { value: p.team })));
      }).catch(() => {});
    }

    const filters = () => {
      const data = new FormData(form);
      return {
        team: scope === 'finance' ? data.get('team').trim() : '',
        endpoint: data.get('endpoint').trim(),
        status: data.get('status'),
        mode: data.get('mode'),
        flagged: data.get('flagged'),
        flag: data.get('flag'),
        from: localToRfc3339(data.get('from')),
        to: localToRfc3339(data.get('to')),
      };
    };
    const cursors = [null]; // the cursor of each page seen, for "Previous page"
    let pageIndex = 0;

    const openDetail = (entry, opener) => {
      const headingId = uid('entry');
      const heading = h('h2', { id: headingId, tabindex: '-1' }, `Entry ${entry.requestId}`);
      const close = h('button', { type: 'button', class: 'secondary', onclick: () => { replace(detail); opener.focus(); } }, 'Close');
      replace(detail, h('section', { class: 'card entry-detail', 'aria-labelledby': headingId },
        heading,
        h('dl', { class: 'facts' }, ENTRY_FIELDS.map(([term, value]) => [h('dt', null, term), h('dd', null, String(value(entry)))])),
        close));
      heading.focus();
    };

    const load = async () => {
      formError.textContent = '';
      const limit = new FormData(form).get('limit');
      const path = `/${scope}/entries${query({ ...filters(), limit, cursor: cursors[pageIndex] })}`;
      await loadInto(results, async () => {
        const page = await api('GET', path);
        cursors.length = pageIndex + 1;
        if (page.nextCursor) cursors.push(page.nextCursor);
        const rows = page.items.map((entry) => {
          const opener = h('button', { type: 'button', class: 'link', 'aria-label': `Details of entry ${entry.requestId}`, 'data-request-id': entry.requestId }, shortId(entry.requestId));
          opener.addEventListener('click', () => openDetail(entry, opener));
          return [formatTime(entry.createdAt), entry.team, endpointName(entry.endpoint), entry.mode, entry.status,
            entry.estimate, entry.charged === null ? '—' : entry.charged,
            entry.flagged ? (entry.flagReason || 'flagged') : '', opener];
        });
        const pager = h('div', { class: 'pager' },
          h('button', { type: 'button', class: 'secondary', disabled: pageIndex === 0, onclick: () => { pageIndex -= 1; load(); } }, 'Previous page'),
          h('span', { class: 'muted' }, `Page ${pageIndex + 1} · ${page.items.length} entries`),
          h('button', { type: 'button', class: 'secondary', disabled: !page.nextCursor, onclick: () => { pageIndex += 1; load(); } }, 'Next page'));
        return [
          page.items.length
            ? table(null, [{ label: 'Created' }, { label: 'Team' }, { label: 'Endpoint' }, { label: 'Mode' }, { label: 'Status' },
              { label: 'Estimate', numeric: true }, { label: 'Charged', numeric: true }, { label: 'Flags' }, { label: 'Details' }], rows, { 'data-table': 'entries' })
            : h('p', { class: 'muted' }, 'No entries match these filters.'),
          pager,
        ];
      });
    };

    form.addEventListener('submit', (event) => {
      event.preventDefault();
      cursors.length = 1;
      pageIndex = 0;
      replace(detail);
      load();
    });
    form.querySelector('[data-action="export"]').addEventListener('click', async () => {
      formError.textContent = '';
      const path = `/${scope}/export/entries.csv${query(filters())}`;
      try {
        const response = await request('GET', path);
        if (!response.ok) throw await failureOf(response);
        const blob = await response.blob();
        const url = URL.createObjectURL(blob);
        const link = h('a', { href: url, download: `entries-${new Date().toISOString().slice(0, 10)}.csv`, hidden: true });
        document.body.append(link);
        link.click();
        link.remove();
        setTimeout(() => URL.revokeObjectURL(url), 10000);
        announce('CSV export downloaded.');
      } catch (failure) {
        showError(formError, failure);
      }
    });
    load();
  }

  // ---------------------------------------------------------------- Reconciliation

  function renderReconciliation(root) {
    const form = h('form', { class: 'filters', 'aria-label': 'Reconciliation period' },
      field('From', h('input', { name: 'from', type: 'date' }), 'UTC day; empty: the budget period'),
      field('To', h('input', { name: 'to', type: 'date' }), 'exclusive'),
      h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Reconcile')));
    const results = h('div', { class: 'results' });
    root.append(form, results);
    const teamNames = new Map();
    const teamsLoaded = api('GET', '/finance/positions')
      .then((positions) => positions.forEach((p) => teamNames.set(p.teamId, p.team)))
      .catch(() => {});

    const load = () => loadInto(results, async () => {
      const data = new FormData(form);
      const report = await api('GET', `/finance/reconciliation${query({ from: dayToRfc3339(data.get('from')), to: dayToRfc3339(data.get('to')) })}`);
      await teamsLoaded;
      const balance = (b) => (b ? `${formatNumber(b.creditsRemaining)} at ${formatTime(b.observedAt)}` : 'none observed');
      const facts = [
        ['Window', `${formatTime(report.from)} → ${formatTime(report.to)}`],
        ['Opening balance', balance(report.opening)],
        ['Closing balance', balance(report.closing)],
        ['Upstream balance movement (consumed)', formatNumber(report.upstreamConsumed)],
        ['Top-ups', formatNumber(report.topUps)],
        ['Ledger total (settled between the observations)', formatNumber(report.ledgerCharged)],
        ['Ledger total (created in the window)', formatNumber(report.ledgerChargedInPeriod)],
        ['Difference (ledger − upstream)', formatNumber(report.difference)],
        ['Late charges after expiry', formatNumber(report.lateChargesDelta)],
        ['Entries still pending at close', formatNumber(report.pendingAtClose)],
      ];
      const explaining = report.explaining.map((e) => [
        formatTime(e.createdAt), teamNames.get(e.teamId) || shortId(e.teamId), endpointName(e.endpoint), e.status,
        e.estimate, e.charged === null || e.charged === undefined ? '—' : e.charged, e.flagReason || '—',
        e.lateCharge === null || e.lateCharge === undefined ? '—' : e.lateCharge,
      ]);
      return [
        h('dl', { class: 'facts', 'data-table': 'reconciliation' }, facts.map(([term, value]) => [h('dt', null, term), h('dd', null, value)])),
        report.upstreamCreditsError ? h('p', { class: 'muted' }, `No fresh balance reading: ${report.upstreamCreditsError}`) : null,
        h('h2', null, 'Flagged entries that explain the difference'),
        explaining.length
          ? table(null, [{ label: 'Created' }, { label: 'Team' }, { label: 'Endpoint' }, { label: 'Status' },
            { label: 'Estimate', numeric: true }, { label: 'Charged', numeric: true }, { label: 'Flag' }, { label: 'Late charge', numeric: true }],
          explaining, { 'data-table': 'explaining' })
          : h('p', { class: 'muted' }, 'No flagged entries in this window.'),
        report.explainingTruncated ? h('p', { class: 'muted' }, 'More flagged entries exist than are listed: narrow the window.') : null,
      ];
    });
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      load();
    });
    load();
  }

  // ---------------------------------------------------------------- Teams (admin)

  function renderTeams(root) {
    const createForm = h('form', { class: 'filters', 'aria-label': 'Create a team', novalidate: true },
      field('Slug', h('input', { name: 'slug', autocomplete: 'off' }), 'lower-case letters, digits and dashes'),
      field('Name', h('input', { name: 'name', autocomplete: 'off' }), 'optional'),
      h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Create team')),
      h('div', { class: 'form-error', role: 'alert' }));
    const list = h('div');
    const quotaSlot = h('div', { class: 'detail-slot' });
    root.append(card('New team', createForm), quotaSlot, card('Teams', list));

    const loadList = () => loadInto(list, async () => {
      const teams = (await api('GET', '/admin/teams')).items;
      if (!teams.length) return [h('p', { class: 'muted' }, 'No teams yet.')];
      return [table(null, [{ label: 'Slug' }, { label: 'Name' }, { label: 'Status' }, { label: 'Created' }, { label: 'Actions' }],
        teams.map((team) => {
          const suspended = team.status === 'suspended';
          const toggle = h('button', { type: 'button', class: 'secondary', 'aria-label': `${suspended ? 'Resume' : 'Suspend'} ${team.slug}` }, suspended ? 'Resume' : 'Suspend');
          toggle.addEventListener('click', async () => {
            try {
              await api('PATCH', `/admin/teams/${encodeURIComponent(team.slug)}`, { status: suspended ? 'active' : 'suspended' });
              announce(`${team.slug} ${suspended ? 'resumed' : 'suspended'}.`);
              await loadList();
            } catch (failure) {
              announce(`${team.slug}: ${failure.message}`);
            }
          });
          const quota = h('button', { type: 'button', class: 'secondary', 'aria-label': `Quota of ${team.slug}` }, 'Quota');
          quota.addEventListener('click', () => openQuota(quotaSlot, team.slug, quota));
          return [team.slug, team.name, h('span', { class: `badge badge-${suspended ? 'warn' : 'ok'}` }, team.status), formatTime(team.createdAt),
            h('span', { class: 'row-actions' }, toggle, quota)];
        }), { 'data-table': 'teams' })];
    });

    createForm.addEventListener('submit', async (event) => {
      event.preventDefault();
      const error = createForm.querySelector('.form-error');
      error.textContent = '';
      const data = new FormData(createForm);
      const body = { slug: data.get('slug').trim() };
      if (data.get('name').trim()) body.name = data.get('name').trim();
      try {
        const team = await api('POST', '/admin/teams', body);
        markFieldErrors(createForm, null);
        createForm.reset();
        announce(`Team ${team.slug} created.`);
        await loadList();
      } catch (failure) {
        markFieldErrors(createForm, failure);
        showError(error, failure);
      }
    });
    loadList();
  }

  const QUOTA_FIELDS = [
    ['rps', 'Requests per second', 'above 0, at most 100000', 'number'],
    ['burst', 'Burst', '1-100000', 'integer'],
    ['concurrency', 'Concurrency', '1-10000', 'integer'],
    ['weight', 'Weight', '1-1000; share of contended account slots', 'integer'],
    ['budget', 'Budget (credits per period)', 'empty: no budget', 'integer'],
    ['alertThresholdPct', 'Alert threshold (%)', '1-100, needs a budget; empty: none', 'integer'],
    ['maxPriority', 'Highest async priority', '1-10', 'integer'],
    ['maxQueuedTasks', 'Most queued async tasks', '1-1000000', 'integer'],
  ];

  async function openQuota(slot, slug, opener) {
    const headingId = uid('quota');
    const heading = h('h2', { id: headingId, tabindex: '-1' }, `Quota of ${slug}`);
    const body = h('div');
    replace(slot, h('section', { class: 'card quota-editor', 'aria-labelledby': headingId }, heading, body));
    heading.focus();
    await loadInto(body, async () => {
      const quota = await api('GET', `/admin/teams/${encodeURIComponent(slug)}/quota`);
      const source = h('p', { class: 'muted' }, quota.source === 'team'
        ? `The team's own quota, set ${formatTime(quota.updatedAt)}.`
        : 'The configured default applies (the team has no quota of its own).');
      const form = h('form', { class: 'quota-form', novalidate: true, 'aria-describedby': `${headingId}-errors` },
        QUOTA_FIELDS.map(([name, label, hint]) => field(label, h('input', {
          name, type: 'number', step: 'any', inputmode: 'decimal',
          value: quota[name] === null || quota[name] === undefined ? '' : quota[name],
        }), hint)),
        h('div', { class: 'field field-check' },
          h('input', { type: 'checkbox', name: 'hardBudget', id: uid('hard'), checked: quota.hardBudget }),
          h('label', null, 'Hard budget (refuse beyond it; otherwise allow and flag)')),
        h('div', { class: 'form-error', role: 'alert', id: `${headingId}-errors` }),
        h('div', { class: 'actions' },
          h('button', { type: 'submit' }, 'Save quota'),
          h('button', { type: 'button', class: 'secondary', 'data-action': 'clear' }, 'Back to the default'),
          h('button', { type: 'button', class: 'secondary', 'data-action': 'close' }, 'Close')));
      const check = form.querySelector('input[type="checkbox"]');
      check.nextElementSibling.setAttribute('for', check.id);
      const errors = form.querySelector('.form-error');
      const fail = (failure) => {
        markFieldErrors(form, failure);
        showError(errors, failure);
      };
      form.addEventListener('submit', async (event) => {
        event.preventDefault();
        errors.textContent = '';
        const data = new FormData(form);
        const put = {};
        for (const [name] of QUOTA_FIELDS) {
          const text = String(data.get(name) || '').trim();
          put[name] = text === '' ? null : Number(text);
        }
        put.hardBudget = check.checked;
        try {
          const saved = await api('PUT', `/admin/teams/${encodeURIComponent(slug)}/quota`, put);
          markFieldErrors(form, null);
          source.textContent = `The team's own quota, set ${formatTime(saved.updatedAt)}.`;
          announce(`Quota of ${slug} saved.`);
          errors.append(h('span', { class: 'ok-message' }, `Saved: ${formatNumber(saved.rps)} rps, burst ${formatNumber(saved.burst)}, concurrency ${formatNumber(saved.concurrency)}.`));
        } catch (failure) {
          fail(failure);
        }
      });
      form.querySelector('[data-action="clear"]').addEventListener('click', async () => {
        errors.textContent = '';
        try {
          await api('DELETE', `/admin/teams/${encodeURIComponent(slug)}/quota`);
          announce(`Quota of ${slug} reset to the default.`);
          openQuota(slot, slug, opener);
        } catch (failure) {
          fail(failure);
        }
      });
      form.querySelector('[data-action="close"]').addEventListener('click', () => {
        replace(slot);
        if (opener && opener.isConnected) opener.focus();
      });
      return [source, form];
    });
  }

  // ---------------------------------------------------------------- Tokens (admin)

  function renderTokens(root) {
    const minted = h('div', { class: 'detail-slot' });
    const mintForm = h('form', { class: 'filters', 'aria-label': 'Mint a token', novalidate: true },
      field('Role', select('role', [['team', 'team'], ['finance', 'finance'], ['admin', 'admin']], 'team')),
      field('Team', h('input', { name: 'team', autocomplete: 'off' }), 'team tokens only'),
      field('Subject', h('input', { name: 'subject', autocomplete: 'off' }), 'optional'),
      field('Lifetime', h('input', { name: 'ttl', value: '1h', autocomplete: 'off' }), 'e.g. 90s, 1h, 30d'),
      h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Mint token')),
      h('div', { class: 'form-error', role: 'alert' }));
    const filterForm = h('form', { class: 'filters', 'aria-label': 'Token filters' },
      field('Team', h('input', { name: 'team', autocomplete: 'off' })),
      field('Role', select('role', [['', 'any'], ['team', 'team'], ['finance', 'finance'], ['admin', 'admin']], '')),
      h('div', { class: 'field field-check' },
        h('input', { type: 'checkbox', name: 'includeRevoked', id: uid('revoked') }),
        h('label', null, 'Include revoked')),
      h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'List tokens')));
    const revokedCheck = filterForm.querySelector('input[type="checkbox"]');
    revokedCheck.nextElementSibling.setAttribute('for', revokedCheck.id);
    const list = h('div');
    root.append(card('Mint a token', mintForm, minted), card('Tokens', filterForm, list));

    mintForm.addEventListener('submit', async (event) => {
      event.preventDefault();
      const error = mintForm.querySelector('.form-error');
      error.textContent = '';
      const data = new FormData(mintForm);
      const body = { role: data.get('role'), ttl: data.get('ttl').trim() };
      if (data.get('team').trim()) body.team = data.get('team').trim();
      if (data.get('subject').trim()) body.subject = data.get('subject').trim();
      try {
        const token = await api('POST', '/admin/tokens', body);
        markFieldErrors(mintForm, null);
        showMinted(minted, token);
        loadList();
      } catch (failure) {
        markFieldErrors(mintForm, failure);
        showError(error, failure);
      }
    });

    let cursor = null;
    const rowsOf = (items) => items.map((token) => {
      const revoke = token.state === 'revoked' ? '—'
        : h('button', { type: 'button', class: 'secondary', 'aria-label': `Revoke token ${token.jti}` }, 'Revoke');
      if (revoke !== '—') {
        revoke.addEventListener('click', async () => {
          if (!window.confirm(`Revoke token ${token.jti} and every token it minted?`)) return;
          try {
            await api('DELETE', `/admin/tokens/${encodeURIComponent(token.jti)}`);
            announce(`Token ${shortId(token.jti)} revoked.`);
            loadList();
          } catch (failure) {
            announce(`Revoking ${shortId(token.jti)}: ${failure.message}`);
          }
        });
      }
      return [h('code', { title: token.jti }, token.jti), token.role, token.team || '—', token.subject,
        formatTime(token.createdAt), formatTime(token.expiresAt),
        h('span', { class: `badge badge-${token.state === 'active' ? 'ok' : 'warn'}` }, token.state), revoke];
    });
    const columns = [{ label: 'jti' }, { label: 'Role' }, { label: 'Team' }, { label: 'Subject' }, { label: 'Created' },
      { label: 'Expires' }, { label: 'State' }, { label: 'Revoke' }];
    const loadList = (more) => {
      const data = new FormData(filterForm);
      const params = {
        team: data.get('team').trim(), role: data.get('role'),
        includeRevoked: revokedCheck.checked ? 'true' : '', limit: 50, cursor: more ? cursor : '',
      };
      if (more) {
        const button = list.querySelector('[data-action="more"]');
        return api('GET', `/admin/tokens${query(params)}`).then((page) => {
          cursor = page.nextCursor;
          const body = list.querySelector('tbody');
          for (const row of table(null, columns, rowsOf(page.items)).querySelectorAll('tbody tr')) body.append(row);
          if (!cursor && button) button.remove();
        }).catch((failure) => announce(failure.message));
      }
      return loadInto(list, async () => {
        const page = await api('GET', `/admin/tokens${query(params)}`);
        cursor = page.nextCursor;
        if (!page.items.length) return [h('p', { class: 'muted' }, 'No tokens match.')];
        return [table(null, columns, rowsOf(page.items), { 'data-table': 'tokens' }),
          cursor ? h('button', { type: 'button', class: 'secondary', 'data-action': 'more', onclick: () => loadList(true) }, 'More tokens') : null];
      });
    };
    filterForm.addEventListener('submit', (event) => {
      event.preventDefault();
      loadList();
    });
    loadList();
  }

  function showMinted(slot, token) {
    const headingId = uid('minted');
    const textId = uid('token-text');
    const text = h('textarea', { id: textId, readonly: true, rows: 3, spellcheck: 'false', class: 'token-text' });
    text.value = token.token;
    const copy = h('button', { type: 'button' }, 'Copy token');
    copy.addEventListener('click', async () => {
      try {
        await navigator.clipboard.writeText(token.token);
        announce('Token copied to the clipboard.');
      } catch (error) {
        text.focus();
        text.select();
        announce('Copying is not allowed here: the token is selected, copy it with the keyboard.');
      }
    });
    const dismiss = h('button', { type: 'button', class: 'secondary', onclick: () => replace(slot) }, 'Done');
    replace(slot, h('section', { class: 'minted', 'aria-labelledby': headingId },
      h('h3', { id: headingId }, `New ${token.role} token${token.team ? ` for ${token.team}` : ''}`),
      h('p', { class: 'warning' }, 'Copy it now: it is shown only this once and cannot be shown again.'),
      h('label', { for: textId }, 'Token'), text,
      h('p', { class: 'muted' }, `jti ${token.jti} · subject ${token.subject} · expires ${formatTime(token.expiresAt)}`),
      h('div', { class: 'actions' }, copy, dismiss)));
    announce(`Token minted for ${token.subject}; copy it now.`);
    text.focus();
  }

  // ---------------------------------------------------------------- Audit (admin)

  /** What an audited change changed: `field: old → new` for each field that differs. */
  function changeSummary(before, after) {
    if (before === null || before === undefined) return 'created';
    if (after === null || after === undefined) return 'removed';
    if (typeof before !== 'object' || typeof after !== 'object') return 'before → after';
    const shown = (value) => (value === null || value === undefined ? '—' : typeof value === 'object' ? JSON.stringify(value) : String(value));
    const changed = [...new Set([...Object.keys(before), ...Object.keys(after)])]
      .filter((key) => key !== 'updatedAt' && JSON.stringify(before[key]) !== JSON.stringify(after[key]))
      .sort()
      .map((key) => `${key}: ${shown(before[key])} → ${shown(after[key])}`);
    return changed.length ? changed.join('; ') : 'no visible change';
  }

  function renderAudit(root) {
    const form = h('form', { class: 'filters', 'aria-label': 'Audit filters' },
      field('Actor', h('input', { name: 'actor', autocomplete: 'off' })),
      field('Action', h('input', { name: 'action', autocomplete: 'off' }), 'e.g. quota.set'),
      field('Target type', select('targetType', [['', 'any'], ['team', 'team'], ['quota', 'quota'], ['account', 'account'], ['token', 'token'], ['subject', 'subject']], '')),
      field('Target id', h('input', { name: 'targetId', autocomplete: 'off' })),
      field('From', h('input', { name: 'from', type: 'datetime-local' })),
      field('To', h('input', { name: 'to', type: 'datetime-local' })),
      h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Apply filters')));
    const results = h('div');
    root.append(form, results);
    const cursors = [null];
    let pageIndex = 0;
    const change = (row) => h('details', null, h('summary', null, changeSummary(row.before, row.after)),
      h('div', { class: 'change' },
        h('div', null, h('strong', null, 'Before'), h('pre', null, JSON.stringify(row.before, null, 2))),
        h('div', null, h('strong', null, 'After'), h('pre', null, JSON.stringify(row.after, null, 2)))));
    const load = () => loadInto(results, async () => {
      const data = new FormData(form);
      const params = {
        actor: data.get('actor').trim(), action: data.get('action').trim(), targetType: data.get('targetType'),
        targetId: data.get('targetId').trim(), from: localToRfc3339(data.get('from')), to: localToRfc3339(data.get('to')),
        limit: 50, cursor: cursors[pageIndex],
      };
      const page = await api('GET', `/admin/audit${query(params)}`);
      cursors.length = pageIndex + 1;
      if (page.nextCursor) cursors.push(page.nextCursor);
      return [
        page.items.length
          ? table(null, [{ label: 'At' }, { label: 'Actor' }, { label: 'Action' }, { label: 'Target' }, { label: 'Change' }],
            page.items.map((row) => [formatTime(row.at), row.actor, row.action, `${row.targetType} ${row.targetId}`, change(row)]),
            { 'data-table': 'audit' })
          : h('p', { class: 'muted' }, 'No audited changes match.'),
        h('div', { class: 'pager' },
          h('button', { type: 'button', class: 'secondary', disabled: pageIndex === 0, onclick: () => { pageIndex -= 1; load(); } }, 'Previous page'),
          h('span', { class: 'muted' }, `Page ${pageIndex + 1}`),
          h('button', { type: 'button', class: 'secondary', disabled: !page.nextCursor, onclick: () => { pageIndex += 1; load(); } }, 'Next page')),
      ];
    });
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      cursors.length = 1;
      pageIndex = 0;
      load();
    });
    load();
  }

  // ---------------------------------------------------------------- signing in and out

  function showSignedIn() {
    const who = session.role === 'team' ? `team ${session.team}` : session.role;
    byId('identity-text').textContent = `Signed in as ${who}${session.subject ? ` (${session.subject})` : ''}`;
    byId('identity').hidden = false;
    byId('sign-in').hidden = true;
    byId('page').hidden = false;
    buildNav();
    showPage();
  }

  function signOut(message) {
    sessionStorage.removeItem(TOKEN_KEY);
    session.token = null;
    session.role = null;
    session.team = null;
    session.subject = null;
    byId('identity').hidden = true;
    byId('nav').hidden = true;
    replace(byId('nav-list'));
    replace(byId('page'));
    byId('page').hidden = true;
    byId('sign-in').hidden = false;
    byId('sign-in-error').textContent = message || '';
    document.title = 'cloro-gateway console';
    if (window.location.hash) history.replaceState(null, '', window.location.pathname);
    const input = byId('token-input');
    input.value = '';
    input.focus();
    if (!message) announce('Signed out.');
  }

  async function signIn(token) {
    const identity = await identify(token);
    session.token = token;
    session.role = identity.role;
    session.team = identity.team;
    session.subject = identity.subject;
    sessionStorage.setItem(TOKEN_KEY, token);
  }

  function start() {
    const form = byId('sign-in-form');
    const input = byId('token-input');
    const error = byId('sign-in-error');
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      error.textContent = '';
      const token = input.value.trim();
      if (!token) {
        error.textContent = 'Paste a token first.';
        input.focus();
        return;
      }
      const button = form.querySelector('button[type="submit"]');
      button.disabled = true;
      try {
        await signIn(token);
        input.value = '';
        showSignedIn();
        announce(`Signed in as ${session.role}.`);
      } catch (failure) {
        showError(error, failure);
        input.focus();
      } finally {
        button.disabled = false;
      }
    });
    byId('sign-out').addEventListener('click', () => signOut());
    window.addEventListener('hashchange', () => {
      if (currentPageId()) showPage();
    });

    const stored = sessionStorage.getItem(TOKEN_KEY);
    if (stored) {
      signIn(stored).then(showSignedIn).catch((failure) => signOut(`Signed out: ${failure.message}`));
    } else {
      input.focus();
    }
  }

  start();
})();
