// The Trawl dashboard: one Server-Sent Events stream (api/events) of
// snapshots, rendered with plain DOM calls. Text from crawled pages (titles,
// URLs, errors) is only ever set as textContent, never parsed as HTML.
'use strict';

const token = new URLSearchParams(location.search).get('token') || '';
const withToken = (path) => token ? path + (path.includes('?') ? '&' : '?') + 'token=' + encodeURIComponent(token) : path;
const $ = (id) => document.getElementById(id);
const maxPoints = 120;
const series = { pages: [], bytes: [] };
let prev = null;        // the previous snapshot's sample
let hosts = [];         // the latest host rows
let sortKey = 'queued', sortDesc = true;

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

function fmtNum(n) { return (n || 0).toLocaleString('en'); }
function fmtBytes(n) {
  const u = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1000 && i < u.length - 1) { n /= 1000; i++; }
  return (i ? n.toFixed(1) : Math.round(n)) + ' ' + u[i];
}
function isZeroTime(t) { return !t || t.startsWith('0001-'); }

// drawChart plots values as a polyline scaled to the chart's height.
function drawChart(id, values) {
  const svg = $(id);
  const max = Math.max(1, ...values);
  const step = 300 / (maxPoints - 1);
  const off = maxPoints - values.length;
  const pts = values.map((v, i) => ((off + i) * step).toFixed(1) + ',' + (78 - (v / max) * 74).toFixed(1));
  svg.querySelector('polyline').setAttribute('points', pts.join(' '));
  svg.dataset.points = values.length;
  svg.dataset.max = max;
  svg.dataset.last = values.length ? values[values.length - 1] : 0;
}

function pushSample(snap) {
  const t = Date.parse(snap.time) / 1000;
  if (prev && t > prev.t && snap.pages >= prev.pages) {
    const dt = t - prev.t;
    series.pages.push((snap.pages - prev.pages) / dt);
    series.bytes.push((snap.bytes - prev.bytes) / dt);
    for (const k of ['pages', 'bytes']) if (series[k].length > maxPoints) series[k].shift();
    $('pages-rate').textContent = series.pages.at(-1).toFixed(1);
    $('bytes-rate').textContent = fmtBytes(series.bytes.at(-1));
    drawChart('chart-pages', series.pages);
    drawChart('chart-bytes', series.bytes);
  }
  prev = { t: t, pages: snap.pages, bytes: snap.bytes };
}

function renderTotals(snap) {
  const run = snap.run, st = snap.file ? snap.file.stats : null;
  const cls = (c) => st ? snap.classes[c] || 0 : '';
  const rows = [
    ['pages', run ? run.fetched : '', st ? st.Pages : ''],
    ['done (answered)', run ? run.fetched - run.failed : '', st ? st.Done : ''],
    ['failed', run ? run.failed : '', st ? st.Failed : ''],
    ['robots-denied', run ? run.robots_denied : '', st ? st.Robots : ''],
    ['2xx', run ? run.status[2] : '', cls('2xx')],
    ['3xx', run ? run.status[3] : '', cls('3xx')],
    ['4xx', run ? run.status[4] : '', cls('4xx')],
    ['5xx', run ? run.status[5] : '', cls('5xx')],
    ['no response', run ? run.status[0] : '', cls('none')],
    ['retries', run ? run.retries : '', ''],
    ['links', run ? run.links : '', st ? st.Links : ''],
    ['new URLs', run ? run.discovered : '', st ? st.Discovered : ''],
    ['queued', run ? run.queued : '', st ? st.Queued : ''],
    ['in flight', run ? run.in_flight : '', ''],
    ['body bytes', run ? fmtBytes(run.bytes) : '', st ? fmtBytes(st.Bytes) : ''],
  ];
  const body = $('totals').tBodies[0];
  body.replaceChildren(...rows.map(([name, a, b]) => {
    const tr = el('tr');
    tr.dataset.row = name;
    tr.append(el('th', name), el('td', typeof a === 'number' ? fmtNum(a) : a, 'num run'), el('td', typeof b === 'number' ? fmtNum(b) : b, 'num file'));
    return tr;
  }));
}

function nextContact(h, now) {
  if (isZeroTime(h.next_at)) return h.queued ? 'now' : '';
  const at = new Date(h.next_at);
  const secs = Math.max(0, Math.round((at - now) / 1000));
  return at.toLocaleTimeString('en-GB') + ' (in ' + secs + ' s)';
}

function renderHosts(now) {
  const num = (k) => ['queued', 'in_flight', 'pages', 'done', 'failed', 'robots'].includes(k);
  const rows = hosts.slice().sort((a, b) => {
    let x = a[sortKey], y = b[sortKey];
    if (sortKey === 'next_at') { x = isZeroTime(x) ? 0 : Date.parse(x); y = isZeroTime(y) ? 0 : Date.parse(y); }
    const c = num(sortKey) || sortKey === 'next_at' ? x - y : String(x).localeCompare(String(y));
    return (sortDesc ? -c : c) || a.host.localeCompare(b.host);
  });
  $('hosts').tBodies[0].replaceChildren(...rows.map((h) => {
    const tr = el('tr', undefined, h.wait ? 'waiting' : '');
    tr.dataset.host = h.host;
    tr.append(el('td', h.host, 'host'), el('td', fmtNum(h.queued), 'num queued'), el('td', fmtNum(h.in_flight), 'num inflight'),
      el('td', nextContact(h, now), 'next'), el('td', h.wait, 'wait'), el('td', fmtNum(h.pages), 'num pages'),
      el('td', fmtNum(h.done), 'num done'), el('td', fmtNum(h.failed), 'num failed'), el('td', fmtNum(h.robots), 'num robots'));
    return tr;
  }));
  for (const th of $('hosts').tHead.rows[0].cells) {
    th.className = th.dataset.key === sortKey ? (sortDesc ? 'desc' : 'asc') : '';
  }
}

function renderLists(snap) {
  const errors = snap.errors || [];
  $('errors').tBodies[0].replaceChildren(...errors.map((e) => {
    const tr = el('tr');
    tr.append(el('td', e.fetched_at.slice(11, 19)), el('td', e.url, 'url'), el('td', e.status || ''), el('td', e.class), el('td', e.error, 'url'));
    return tr;
  }));
  $('drops').tBodies[0].replaceChildren(...(snap.drops || []).map((d) => {
    const tr = el('tr');
    tr.append(el('td', d.Reason), el('td', fmtNum(d.Count), 'num'), el('td', d.Example, 'url'));
    return tr;
  }));
}

function render(snap) {
  $('db').textContent = snap.db;
  const mode = $('mode');
  mode.textContent = snap.live ? (snap.paused ? 'paused' : 'crawling') : 'file (read-only)';
  mode.className = 'badge ' + (snap.paused ? 'paused' : snap.live ? 'ok' : '');
  $('controls').hidden = !snap.live;
  $('waiting').textContent = snap.waiting || '';
  pushSample(snap);
  renderTotals(snap);
  hosts = snap.hosts || [];
  renderHosts(new Date(snap.time));
  renderLists(snap);
  $('file-head').textContent = snap.file ? 'file, as of ' + new Date(snap.file.as_of).toLocaleTimeString('en-GB') : 'file';
  $('file-note').textContent = snap.file
    ? 'file figures as of ' + new Date(snap.file.as_of).toLocaleTimeString('en-GB') + (snap.file_err ? ' (last read failed: ' + snap.file_err + ')' : '')
    : (snap.file_err ? 'cannot read the file: ' + snap.file_err : '');
  document.body.dataset.updates = String(Number(document.body.dataset.updates || 0) + 1);
}

function connect() {
  const es = new EventSource(withToken('api/events'));
  es.onopen = () => { $('conn').textContent = 'live'; $('conn').className = 'badge ok'; };
  es.onmessage = (ev) => render(JSON.parse(ev.data));
  es.onerror = () => { $('conn').textContent = 'disconnected (retrying)'; $('conn').className = 'badge bad'; };
}

async function control(body) {
  const msg = $('control-msg');
  try {
    const r = await fetch(withToken('api/control'), {
      method: 'POST', headers: { 'Content-Type': 'application/json', 'X-Trawl-Control': '1', 'X-Trawl-Token': token }, body: JSON.stringify(body),
    });
    const text = await r.text();
    msg.textContent = r.ok ? JSON.parse(text).message : 'error: ' + text;
  } catch (e) {
    msg.textContent = 'error: ' + e;
  }
}

async function getJSON(path) {
  const r = await fetch(withToken(path), { headers: { 'X-Trawl-Token': token } });
  if (!r.ok) throw new Error(await r.text());
  return r.json();
}

async function search(q) {
  const list = $('results');
  try {
    const pages = await getJSON('api/pages?q=' + encodeURIComponent(q));
    list.replaceChildren(...pages.map((p) => {
      const li = el('li', (p.title ? p.title + ' — ' : '') + p.url + (p.status ? ' [' + p.status + ']' : '') + (p.error ? ' (' + p.error + ')' : ''));
      li.dataset.id = p.id;
      li.addEventListener('click', () => showPage(p.id));
      return li;
    }));
    if (!pages.length) list.replaceChildren(el('li', 'no page matches'));
  } catch (e) {
    list.replaceChildren(el('li', 'error: ' + e.message));
  }
}

function linkList(title, links) {
  const box = el('div');
  box.append(el('h3', title + ' (' + links.length + (links.length === 100 ? '+' : '') + ')'));
  const ul = el('ul');
  for (const l of links) {
    const li = el('li');
    if (l.page_id !== "0") {
      const a = el('a', l.url);
      a.addEventListener('click', () => showPage(l.page_id));
      li.append(a);
    } else {
      li.append(el('span', l.url));
    }
    if (l.nofollow) li.append(el('small', ' nofollow'));
    ul.append(li);
  }
  box.append(ul);
  return box;
}

async function showPage(id) {
  const d = $('detail');
  try {
    const p = await getJSON('api/page?id=' + encodeURIComponent(id));
    const dl = el('dl');
    for (const [k, v] of Object.entries(p.page)) {
      // 64-bit integers lose digits as JavaScript numbers: leave them to export.
      if (v === null || v === false || v === '' || k === 'id' || k === 'simhash') continue;
      dl.append(el('dt', k), el('dd', typeof v === 'object' ? JSON.stringify(v) : v));
    }
    d.replaceChildren(el('h3', p.page.title || p.page.url), dl, linkList('links out', p.links_out), linkList('links in', p.links_in));
    d.dataset.id = id;
  } catch (e) {
    d.replaceChildren(el('p', 'error: ' + e.message));
  }
}

$('pause').addEventListener('click', () => control({ action: 'pause' }));
$('resume').addEventListener('click', () => control({ action: 'resume' }));
$('stop').addEventListener('click', () => {
  if (confirm('Stop the crawl? Fetches in flight finish; the rest stays queued for the next run.')) control({ action: 'stop' });
});
$('seed-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const seeds = $('seed-url').value.split(/\s+/).filter(Boolean);
  if (seeds.length) control({ action: 'seeds', seeds: seeds });
});
$('search-form').addEventListener('submit', (ev) => { ev.preventDefault(); search($('search').value.trim()); });
for (const th of $('hosts').tHead.rows[0].cells) {
  th.addEventListener('click', () => {
    if (sortKey === th.dataset.key) sortDesc = !sortDesc; else { sortKey = th.dataset.key; sortDesc = th.dataset.num !== undefined; }
    renderHosts(new Date());
  });
}
connect();
