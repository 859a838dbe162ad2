// The campaign dashboard's script (SPEC §9). Plain modern JavaScript, no build step: it asks
// this server's JSON endpoints and draws with Chart.js (/dashboard/chart.js, Debian's
// libjs-chart.js embedded in the server). Numbers are written with a data-value attribute
// holding the API's exact integer (a string: sums are 64-bit), which tests/browser compares
// with the API's own answers.
'use strict';

(() => {
  const $ = (id) => document.getElementById(id);
  const DIMENSIONS = ['origin', 'brand_id', 'category_id'];
  const ACTIONS = ['VIEW', 'BUY'];
  const MINUTE_MS = 60000;
  const TOP_LIMIT = 10;
  // More rows than this make a panel scroll forever; the count tile still gives the total.
  const MAX_LIST_ROWS = 50;
  const COLORS = { VIEW: '#2563eb', BUY: '#16a34a', revenue: '#0d9488', spike: '#dc2626',
                   drop: '#ea580c' };
  // Controls whose values are kept in the page's URL, so that a view can be bookmarked/shared.
  const URL_CONTROLS = {
    minutes: 'window-minutes', end: 'window-end-input', origin: 'pick-origin',
    brand_id: 'pick-brand_id', category_id: 'pick-category_id', refresh: 'refresh-seconds',
    top_action: 'top-action', metric: 'top-metric', dimension: 'anomaly-dimension',
  };

  let generation = 0;      // the newest refresh; answers of older ones are dropped
  let refreshTimer = null;
  let refreshes = 0;
  let charts = null;       // {tags, revenue} once Chart.js is there
  let markers = [];        // anomalies by minute index, drawn as vertical lines

  // ---- time ----------------------------------------------------------------------------
  // The API's bucket/range format: UTC, second precision, no zone suffix.
  const apiTime = (ms) => new Date(ms).toISOString().slice(0, 19);
  const parseApiTime = (text) => Date.parse(/[zZ]$/.test(text) ? text : text + 'Z');
  const hhmm = (ms) => new Date(ms).toISOString().slice(11, 16);
  const shortTime = (text) => text.replace('T', ' ').replace(/(:\d\d)(\.\d+)?Z?$/, '$1');

  // ---- numbers -------------------------------------------------------------------------
  // BigInt keeps 64-bit sums exact; toLocaleString groups digits for people.
  const big = (text) => BigInt(text);
  const grouped = (value) => BigInt(value).toLocaleString('en-US');
  function setNumber(el, value) {
    el.dataset.value = String(value);
    el.textContent = grouped(value);
  }

  // ---- HTTP ----------------------------------------------------------------------------
  async function api(method, path, params) {
    const response = await fetch(`${path}?${params}`, { method, cache: 'no-store' });
    let body = null;
    try { body = await response.json(); } catch (e) { /* reported below */ }
    if (!response.ok || body === null) {
      const why = body && body.error ? body.error : `HTTP ${response.status}`;
      throw new Error(`${method} ${path}: ${why}`);
    }
    return body;
  }
  const catalogue = (params) => api('GET', '/catalogue', new URLSearchParams(params));

  // ---- controls and URL ----------------------------------------------------------------
  function ensureOption(select, value) {
    if (value === '' || [...select.options].some((o) => o.value === value)) return;
    select.add(new Option(value, value));
  }

  function readUrl() {
    const params = new URLSearchParams(location.search);
    for (const [name, id] of Object.entries(URL_CONTROLS)) {
      if (!params.has(name)) continue;
      const el = $(id);
      if (el.tagName === 'SELECT') ensureOption(el, params.get(name));
      el.value = params.get(name);
    }
  }

  function writeUrl() {
    const params = new URLSearchParams();
    for (const [name, id] of Object.entries(URL_CONTROLS)) {
      const el = $(id);
      const initial = el.tagName === 'SELECT'
        ? ([...el.options].find((o) => o.defaultSelected) || el.options[0]).value : '';
      if (el.value !== initial) params.set(name, el.value);
    }
    const query = params.toString();
    history.replaceState(null, '', query ? `?${query}` : location.pathname);
  }

  function filters() {
    const chosen = {};
    for (const d of DIMENSIONS) if ($(`pick-${d}`).value) chosen[d] = $(`pick-${d}`).value;
    return chosen;
  }

  // Fills a picker with the catalogue's values, keeping the current choice.
  function fillPicker(dimension, values) {
    const select = $(`pick-${dimension}`);
    const chosen = select.value;
    const wanted = values.map((v) => v.value);
    const have = [...select.options].slice(1).map((o) => o.value);
    if (wanted.join('\n') !== have.join('\n')) {
      select.length = 1;  // keep "all"
      for (const v of wanted) select.add(new Option(v, v));
    }
    ensureOption(select, chosen);
    select.value = chosen;
    select.dataset.selected = chosen;  // the DOM shows the choice (value is not an attribute)
  }

  // ---- the window ----------------------------------------------------------------------
  // [begin, end) in whole minutes: ending after the newest event's minute unless the user
  // typed an end, a UTC minute "YYYY-MM-DD HH:MM" (or with a T, as in the API).
  function chooseWindow(newestMs) {
    const minutes = Number($('window-minutes').value) || 60;
    const typed = $('window-end-input').value.trim().replace(' ', 'T');
    let end;
    if (typed) {
      end = /^\d{4}-\d\d-\d\dT\d\d:\d\d(:00)?$/.test(typed)
        ? parseApiTime(typed.length === 16 ? `${typed}:00` : typed) : NaN;
    } else {
      const anchor = Number.isFinite(newestMs) ? newestMs : Date.now();
      end = Math.floor(anchor / MINUTE_MS) * MINUTE_MS + MINUTE_MS;
    }
    if (!Number.isFinite(end)) throw new Error(`the window end "${typed}" is not a time`);
    end = Math.floor(end / MINUTE_MS) * MINUTE_MS;
    return { begin: end - minutes * MINUTE_MS, end, minutes };
  }

  // ---- one refresh ---------------------------------------------------------------------
  async function refresh() {
    const mine = ++generation;
    clearTimeout(refreshTimer);
    document.body.dataset.state = 'loading';
    try {
      // The pickers' values and the newest event time (the largest last_seen of any device:
      // every accepted tag has one).
      const [origins, brands, categories, devices] = await Promise.all(
        ['origin', 'brand_id', 'category_id', 'device'].map((d) => catalogue({ dimension: d })));
      if (mine !== generation) return;
      fillPicker('origin', origins.values);
      fillPicker('brand_id', brands.values);
      fillPicker('category_id', categories.values);
      const newest = Math.max(...devices.values.map((v) => parseApiTime(v.last_seen)));
      const win = chooseWindow(newest);
      const range = `${apiTime(win.begin)}_${apiTime(win.end)}`;
      const chosen = filters();
      const dimension = $('anomaly-dimension').value;

      const aggregates = ACTIONS.map((action) => {
        const params = new URLSearchParams({ time_range: range, action });
        params.append('aggregates', 'COUNT');
        params.append('aggregates', 'SUM_PRICE');
        for (const [d, v] of Object.entries(chosen)) params.set(d, v);
        return api('POST', '/aggregates', params);
      });
      const tops = DIMENSIONS.map((d) => api('GET', '/top', new URLSearchParams({
        time_range: range, action: $('top-action').value, dimension: d,
        metric: $('top-metric').value, limit: String(TOP_LIMIT) })));
      const [view, buy, topOrigin, topBrand, topCategory, fresh, silent, anomalies] =
        await Promise.all([
          ...aggregates, ...tops,
          catalogue({ dimension: 'origin', new_since: apiTime(win.begin) }),
          catalogue({ dimension: 'origin', silent_since: apiTime(win.begin) }),
          api('GET', '/anomalies', new URLSearchParams({ time_range: range, dimension })),
        ]);
      if (mine !== generation) return;

      showWindow(win, range, newest, chosen);
      const series = seriesOf(win, { VIEW: view, BUY: buy });
      showTotals(series);
      showTop('origin', topOrigin);
      showTop('brand_id', topBrand);
      showTop('category_id', topCategory);
      showCatalogue('catalogue-new', fresh.values, 'first_seen');
      showCatalogue('catalogue-silent', silent.values, 'last_seen');
      showAnomalies(anomalies.anomalies);
      showSeriesTable(series);
      drawCharts(series, anomalies.anomalies);

      refreshes += 1;
      document.body.dataset.refreshes = String(refreshes);
      document.body.dataset.state = 'ok';
      $('status').textContent = Number.isFinite(newest) ? 'live' : 'no tags stored yet';
      $('status').className = '';
      const now = new Date();
      $('updated-at').dateTime = now.toISOString();
      $('updated-at').textContent = `${now.toISOString().slice(11, 19)} UTC`;
    } catch (error) {
      if (mine !== generation) return;
      document.body.dataset.state = 'error';
      $('status').textContent = `error: ${error.message}`;
      $('status').className = 'error';
    } finally {
      if (mine === generation) schedule();
    }
  }

  function schedule() {
    clearTimeout(refreshTimer);
    const seconds = Number($('refresh-seconds').value);
    if (seconds > 0) refreshTimer = setTimeout(refresh, seconds * 1000);
  }

  // ---- rendering -----------------------------------------------------------------------
  function showWindow(win, range, newest, chosen) {
    document.body.dataset.timeRange = range;
    $('window-begin').dataset.value = apiTime(win.begin);
    $('window-begin').textContent = shortTime(apiTime(win.begin));
    $('window-end').dataset.value = apiTime(win.end);
    $('window-end').textContent = shortTime(apiTime(win.end));
    setNumber($('window-minutes-shown'), win.minutes);
    $('newest-event').dataset.value = Number.isFinite(newest) ? new Date(newest).toISOString() : '';
    $('newest-event').textContent =
      Number.isFinite(newest) ? shortTime(new Date(newest).toISOString()) : 'none';
    const parts = Object.entries(chosen).map(([d, v]) => `${d}=${v}`);
    $('filter-note').textContent = parts.length ? `· tiles and charts filtered: ${parts.join(', ')}` : '';
  }

  // Per action, the count and sum_price columns of every minute of the window (the API gives
  // one row per bucket; a missing one would be a server bug, shown as 0 rather than hidden).
  function seriesOf(win, answers) {
    const minutes = [];
    for (let t = win.begin; t < win.end; t += MINUTE_MS) minutes.push(apiTime(t));
    const series = { minutes };
    for (const action of ACTIONS) {
      const { columns, rows } = answers[action];
      const count = columns.indexOf('count');
      const sum = columns.indexOf('sum_price');
      const byMinute = new Map(rows.map((row) => [row[0], row]));
      series[action] = minutes.map((m) => {
        const row = byMinute.get(m);
        return { count: row ? row[count] : '0', sum: row ? row[sum] : '0' };
      });
    }
    return series;
  }

  function showTotals(series) {
    for (const action of ACTIONS) {
      let count = 0n;
      let sum = 0n;
      for (const point of series[action]) {
        count += big(point.count);
        sum += big(point.sum);
      }
      setNumber($(`total-${action}-count`), count);
      setNumber($(`total-${action}-sum_price`), sum);
    }
  }

  function cell(row, text, className) {
    const td = row.insertCell();
    td.textContent = text;  // never innerHTML: values are whatever the tags carried
    if (className) td.className = className;
    return td;
  }

  function emptyRow(tbody, columns, text) {
    const td = tbody.insertRow().insertCell();
    td.colSpan = columns;
    td.className = 'empty';
    td.textContent = text;
  }

  function showTop(dimension, answer) {
    const tbody = $(`top-${dimension}`);
    tbody.replaceChildren();
    tbody.dataset.rows = String(answer.rows.length);
    const metric = $('top-metric').value;
    for (const [value, count, sum] of answer.rows) {
      const row = tbody.insertRow();
      Object.assign(row.dataset, { value, count, sumPrice: sum });
      cell(row, value, 'name').title = value;
      cell(row, grouped(count), metric === 'count' ? 'num key' : 'num');
      cell(row, grouped(sum), metric === 'sum_price' ? 'num key' : 'num');
    }
    if (answer.rows.length === 0) emptyRow(tbody, 3, 'no tags in the window');
  }

  function showCatalogue(id, values, timeField) {
    const tbody = $(id);
    tbody.replaceChildren();
    setNumber($(`${id}-count`), values.length);
    $(`${id}-count`).textContent = `(${values.length})`;
    for (const v of values.slice(0, MAX_LIST_ROWS)) {
      const row = tbody.insertRow();
      Object.assign(row.dataset, { value: v.value, firstSeen: v.first_seen,
                                   lastSeen: v.last_seen, tags: String(v.tags) });
      cell(row, v.value, 'name').title = v.value;
      cell(row, shortTime(v[timeField]));
      cell(row, grouped(v.tags), 'num');
    }
    if (values.length === 0) emptyRow(tbody, 3, 'none');
    else if (values.length > MAX_LIST_ROWS) {
      emptyRow(tbody, 3, `and ${values.length - MAX_LIST_ROWS} more`);
    }
  }

  function showAnomalies(list) {
    const tbody = $('anomalies');
    tbody.replaceChildren();
    setNumber($('anomaly-count'), list.length);
    // Newest first: the list is for spotting what just happened.
    const newestFirst = [...list].reverse();
    for (const a of newestFirst.slice(0, MAX_LIST_ROWS)) {
      const row = tbody.insertRow();
      row.className = a.kind;
      Object.assign(row.dataset, { minute: a.minute, value: a.value, action: a.action,
                                   observed: String(a.observed), expected: String(a.expected),
                                   kind: a.kind });
      cell(row, hhmm(parseApiTime(a.minute)));
      cell(row, a.value, 'name').title = a.value;
      cell(row, a.action);
      cell(row, grouped(a.observed), 'num');
      cell(row, Number(a.expected).toLocaleString('en-US', { maximumFractionDigits: 1 }), 'num');
      cell(row, a.kind, 'kind');
    }
    if (list.length === 0) emptyRow(tbody, 6, 'none in the window');
    else if (list.length > MAX_LIST_ROWS) emptyRow(tbody, 6, `and ${list.length - MAX_LIST_ROWS} older`);
  }

  function showSeriesTable(series) {
    const tbody = $('series');
    tbody.replaceChildren();
    series.minutes.forEach((minute, i) => {
      const row = tbody.insertRow();
      const [v, b] = [series.VIEW[i], series.BUY[i]];
      Object.assign(row.dataset, { minute, viewCount: v.count, viewSumPrice: v.sum,
                                   buyCount: b.count, buySumPrice: b.sum });
      cell(row, shortTime(minute));
      for (const n of [v.count, v.sum, b.count, b.sum]) cell(row, grouped(n), 'num');
    });
  }

  // ---- charts --------------------------------------------------------------------------
  // Vertical lines at anomaly minutes, on both charts (their x axes are the same minutes).
  const markerPlugin = {
    id: 'anomalyMarkers',
    afterDatasetsDraw(chart) {
      const { ctx, chartArea, scales } = chart;
      ctx.save();
      ctx.lineWidth = 1.5;
      ctx.setLineDash([5, 4]);
      for (const m of markers) {
        const x = scales.x.getPixelForValue(m.index);
        ctx.strokeStyle = COLORS[m.kind];
        ctx.beginPath();
        ctx.moveTo(x, chartArea.top);
        ctx.lineTo(x, chartArea.bottom);
        ctx.stroke();
      }
      ctx.restore();
    },
  };

  // Minutes between x ticks: about a dozen ticks on any window.
  function tickStep(minutes) {
    return [1, 2, 5, 10, 15, 30, 60, 120, 180].find((s) => minutes / s <= 13) || 240;
  }

  function axis(title) {
    return { title: { display: true, text: title, font: { size: 13, weight: '600' } },
             grid: { color: '#e5e7eb' } };
  }

  function makeCharts() {
    if (typeof window.Chart === 'undefined') {
      $('charts-missing').hidden = false;
      for (const c of document.querySelectorAll('.chart')) c.hidden = true;
      return null;
    }
    const { Chart } = window;
    Chart.defaults.font.family = 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif';
    Chart.defaults.font.size = 12;
    Chart.defaults.color = '#374151';
    const common = {
      animation: false, responsive: true, maintainAspectRatio: false, normalized: true,
      interaction: { mode: 'index', intersect: false },
      plugins: { legend: { position: 'top', align: 'end', labels: { boxWidth: 14 } },
                 tooltip: { callbacks: { title: (items) => items.length
                   ? `${shortTime(items[0].chart.data.minutes[items[0].dataIndex])} UTC` : '' } } },
    };
    // The same ticks on both charts, at round minutes (every 5 in an hour's window).
    const xAxis = () => ({ ...axis('minute (UTC)'), ticks: { maxRotation: 0, autoSkip: false,
      callback(value, i) {
        const minutes = this.chart.data.minutes || [];
        const step = tickStep(minutes.length);
        const t = parseApiTime(minutes[i] || '1970-01-01T00:00:00') / MINUTE_MS;
        return t % step === 0 ? this.getLabelForValue(value) : null;
      } } });
    const markerSet = (kind, style, rotation) => ({
      type: 'line', label: `${kind} (anomaly)`, data: [], showLine: false,
      pointStyle: style, rotation, pointRadius: 7, pointHoverRadius: 9,
      backgroundColor: COLORS[kind], borderColor: COLORS[kind], anomalies: [] });
    const line = (label, color) => ({ type: 'line', label, data: [], borderColor: color,
      backgroundColor: color, borderWidth: 2, pointRadius: 0, tension: 0.2 });
    const tags = new Chart($('chart-tags'), {
      type: 'line',
      data: { labels: [], datasets: [line('VIEW', COLORS.VIEW), line('BUY', COLORS.BUY),
        markerSet('spike', 'triangle', 0), markerSet('drop', 'triangle', 180)] },
      options: { ...common, scales: { x: xAxis(),
        y: { ...axis('tags/min'), beginAtZero: true, ticks: { precision: 0 } } },
        plugins: { ...common.plugins, tooltip: { ...common.plugins.tooltip, callbacks: {
          ...common.plugins.tooltip.callbacks,
          label: (item) => item.dataset.anomalies
            ? item.dataset.anomalies[item.dataIndex] || null
            : `${item.dataset.label}: ${item.formattedValue} tags` } } } },
      plugins: [markerPlugin],
    });
    const revenue = new Chart($('chart-revenue'), {
      type: 'bar',
      data: { labels: [], datasets: [{ label: 'revenue (BUY prices)', data: [],
        backgroundColor: COLORS.revenue, borderWidth: 0, barPercentage: 1.0,
        categoryPercentage: 0.9 }] },
      options: { ...common, scales: { x: xAxis(),
        y: { ...axis('revenue/min'), beginAtZero: true } } },
      plugins: [markerPlugin],
    });
    return { tags, revenue };
  }

  function drawCharts(series, anomalies) {
    if (charts === null) return;
    const labels = series.minutes.map((m) => hhmm(parseApiTime(m)));
    const index = new Map(series.minutes.map((m, i) => [m, i]));
    // One marker per (minute, kind); its text lists every anomaly of that minute.
    const byKind = { spike: new Map(), drop: new Map() };
    for (const a of anomalies) {
      const i = index.get(a.minute);
      if (i === undefined || !byKind[a.kind]) continue;
      const list = byKind[a.kind].get(i) || [];
      list.push(`${a.kind}: ${a.value} ${a.action} ${a.observed} (expected ${a.expected})`);
      byKind[a.kind].set(i, list);
    }
    markers = [];
    for (const kind of ['spike', 'drop']) {
      for (const i of byKind[kind].keys()) markers.push({ index: i, kind });
    }
    $('chart-tags').dataset.markers = String(markers.length);
    $('chart-revenue').dataset.markers = String(markers.length);

    const counts = (action) => series[action].map((p) => Number(p.count));
    const viewCounts = counts('VIEW');
    const buyCounts = counts('BUY');
    const [viewSet, buySet, spikeSet, dropSet] = charts.tags.data.datasets;
    charts.tags.data.labels = labels;
    charts.tags.data.minutes = series.minutes;
    viewSet.data = viewCounts;
    buySet.data = buyCounts;
    // A marker sits on the VIEW line (the taller one) at its minute, so that it is visible.
    for (const [set, kind] of [[spikeSet, 'spike'], [dropSet, 'drop']]) {
      set.data = labels.map((_, i) => (byKind[kind].has(i) ? viewCounts[i] : null));
      set.anomalies = labels.map((_, i) => (byKind[kind].get(i) || []).join('; ') || null);
    }
    charts.tags.update('none');
    charts.revenue.data.labels = labels;
    charts.revenue.data.minutes = series.minutes;
    charts.revenue.data.datasets[0].data = series.BUY.map((p) => Number(p.sum));
    charts.revenue.update('none');
  }

  // ---- start ---------------------------------------------------------------------------
  function start() {
    readUrl();
    charts = makeCharts();
    const onChange = () => { writeUrl(); refresh(); };
    for (const id of Object.values(URL_CONTROLS)) $(id).addEventListener('change', onChange);
    $('controls').addEventListener('submit', (event) => { event.preventDefault(); onChange(); });
    refresh();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
