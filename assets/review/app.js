// heyan reviewer console (served at /review/static/app.js).
//
// Plain ES2020, no framework, no build step. The page is governed by a strict CSP
// (script-src 'self', style-src 'self'), so everything here builds DOM nodes with
// createElement/textContent and toggles classes; server data never goes through
// innerHTML.
'use strict';

(() => {
  const API = '/review/v1';
  const PER_PAGE = 50;
  const QUEUE_REFRESH_MS = 30_000;
  // The approve "arm" state falls back to idle after this long, so a stray "a"
  // minutes later cannot approve a case by itself.
  const APPROVE_CONFIRM_MS = 6_000;
  // Re-claim (extend) the lease when less than this is left and the case is still open.
  const LEASE_RENEW_BEFORE_S = 120;
  // Beijing time for every displayed timestamp: deadlines are counted in China's
  // business days, whatever time zone the reviewer's computer is set to.
  const TZ = 'Asia/Shanghai';

  // The order of the photos on screen, the keys 1–4 and the App's steps.
  const STEPS = [
    { kind: 'liveness', zh: '本人核验画面', en: 'Liveness frame' },
    { kind: 'handheld', zh: '手持证件照', en: 'Handheld with ID' },
    { kind: 'front', zh: '身份证人像面', en: 'ID card front' },
    { kind: 'back', zh: '身份证国徽面', en: 'ID card back' },
  ];

  // Rejection reasons and the steps each may name (a rejection reopens exactly those
  // steps in the App). The server validates this too (422 invalid_reasons).
  const REASONS = [
    { code: 'face_not_visible', zh: '看不清人脸', en: 'Face not visible', steps: ['liveness', 'handheld'] },
    { code: 'id_unreadable', zh: '证件不清晰', en: 'ID unreadable', steps: ['handheld', 'front', 'back'] },
    { code: 'id_mismatch', zh: '证件信息与登记不符', en: 'ID does not match the registration', steps: ['handheld', 'front', 'back'] },
    { code: 'liveness_failed', zh: '本人核验未通过', en: 'Liveness failed', steps: ['liveness'] },
    { code: 'handheld_invalid', zh: '手持证件照不合格', en: 'Handheld photo invalid', steps: ['handheld'] },
    { code: 'other', zh: '其他（需填写说明）', en: 'Other (note required)', steps: ['liveness', 'handheld', 'front', 'back'] },
  ];

  const LABELS = {
    // Values as heyan stores them (src/domain); anything else is shown as sent.
    subject_type: { individual: ['个人', 'Individual'], enterprise: ['企业', 'Enterprise'] },
    id_type: {
      resident_id_card: ['居民身份证', 'Resident ID card'],
      passport: ['护照', 'Passport'],
      hk_macao_permit: ['港澳居民来往内地通行证', 'HK/Macao permit'],
      taiwan_permit: ['台湾居民来往大陆通行证', 'Taiwan permit'],
    },
    action: { nod: ['点头', 'nod'], shake: ['摇头', 'shake'], blink: ['眨眼', 'blink'], open_mouth: ['张嘴', 'open mouth'] },
    status: {
      in_review: ['审核中', 'In review'], approved: ['已通过', 'Approved'], rejected: ['已驳回', 'Rejected'],
      cancelled: ['已撤销', 'Cancelled'], redeemed: ['待审核', 'Awaiting review'],
    },
  };

  // ---- state (in memory only; the CSRF token is re-fetched from /me after a reload) ----
  const state = {
    me: null, // { reviewer, csrf_token }
    view: 'loading',
    queue: { items: [], total: 0, page: 1, overdueCount: 0, selectedId: null, loadedAt: 0 },
    filters: { overdue: false, mine: false },
    caseData: null,
    caseSeq: 0, // bumps on every case open, so late answers for an old case are dropped
    leaseUntilMs: null,
    approveTimer: null,
    zoomIndex: -1,
    busy: false,
  };

  // Deadlines are kept as "performance.now() at which seconds_left hits 0": the
  // server's seconds_left is authoritative and the monotonic clock does not jump when
  // the computer's wall clock is wrong or adjusted.
  function deadlineFrom(secondsLeft, dueAt) {
    let left = Number(secondsLeft);
    // Fall back to the wall clock only when the server sent no seconds_left.
    if (secondsLeft === null || secondsLeft === undefined || Number.isNaN(left)) left = (Date.parse(dueAt) - Date.now()) / 1000;
    return performance.now() + (Number.isNaN(left) ? 0 : left) * 1000;
  }
  const secondsUntil = (deadline) => Math.round((deadline - performance.now()) / 1000);

  const $ = (id) => document.getElementById(id);

  // ---- small DOM helpers ----

  /** Creates an element with a class and text (text via textContent, never HTML). */
  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  /** "中文 English" pair: the English part smaller, marked lang="en". */
  function bilingual(zh, en, className) {
    const span = el('span', className);
    span.append(document.createTextNode(zh));
    if (en) {
      span.append(' ');
      const e = el('span', 'en', en);
      e.lang = 'en';
      span.append(e);
    }
    return span;
  }

  function label(map, value) {
    const pair = LABELS[map][value];
    return pair ? pair : [String(value ?? '—'), ''];
  }

  function setText(id, text) {
    $(id).textContent = text;
  }

  // ---- time formatting ----

  const dateFmt = new Intl.DateTimeFormat('zh-CN', {
    timeZone: TZ, month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hour12: false,
  });
  const timeFmt = new Intl.DateTimeFormat('zh-CN', { timeZone: TZ, hour: '2-digit', minute: '2-digit', hour12: false });
  const fullFmt = new Intl.DateTimeFormat('zh-CN', {
    timeZone: TZ, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false,
  });

  function fmtDate(iso, fmt = dateFmt) {
    const d = new Date(iso);
    return Number.isNaN(d.getTime()) ? String(iso ?? '—') : fmt.format(d);
  }

  /**
   * Time left as zh + en text and an urgency class.
   * Seconds are shown under an hour so the countdown visibly moves when it matters.
   */
  function describeLeft(seconds) {
    const overdue = seconds < 0;
    const s = Math.abs(seconds);
    const d = Math.floor(s / 86400);
    const h = Math.floor((s % 86400) / 3600);
    const m = Math.floor((s % 3600) / 60);
    const sec = s % 60;
    let zh;
    let en;
    if (d > 0) {
      zh = `${d}天${h}小时`;
      en = `${d}d ${h}h`;
    } else if (h > 0) {
      zh = `${h}小时${m}分`;
      en = `${h}h ${m}m`;
    } else {
      zh = `${m}分${String(sec).padStart(2, '0')}秒`;
      en = `${m}m ${String(sec).padStart(2, '0')}s`;
    }
    if (overdue) return { zh: `已超时 ${zh}`, en: `${en} overdue`, level: 'overdue' };
    const level = seconds < 3600 ? 'urgent' : seconds < 4 * 3600 ? 'soon' : 'ok';
    return { zh: `剩余 ${zh}`, en: `${en} left`, level };
  }

  /** Fills a countdown element (re-used every second, so only text and class change). */
  function paintCountdown(node, deadline) {
    const left = secondsUntil(deadline);
    const t = describeLeft(left);
    let zh = node.firstChild;
    let en = node.lastChild;
    if (!zh || zh === en) {
      node.textContent = '';
      zh = el('span', 'cd-zh');
      en = el('span', 'en cd-en');
      en.lang = 'en';
      node.append(zh, ' ', en);
    }
    zh.textContent = t.zh;
    en.textContent = t.en;
    node.dataset.secondsLeft = String(left);
    node.dataset.level = t.level;
    return left;
  }

  // ---- API ----

  /** An API error carrying the server's bilingual message. */
  class ApiError extends Error {
    constructor(status, body) {
      super(body?.message_en || body?.code || `HTTP ${status}`);
      this.status = status;
      this.code = body?.code || `http_${status}`;
      this.zh = body?.message_zh || `请求失败（${status}）`;
      this.en = body?.message_en || `Request failed (${status})`;
      this.fields = body?.fields || null;
    }
  }

  async function readJson(res) {
    if (res.status === 204) return null;
    const type = res.headers.get('Content-Type') || '';
    if (!type.includes('json')) return null;
    try {
      return await res.json();
    } catch {
      return null;
    }
  }

  /**
   * fetch() against the review API. The session cookie is HttpOnly, so the browser
   * sends it; POSTs carry the CSRF token from /login or /me. A 401 anywhere means the
   * session is gone: back to the login form.
   */
  async function api(method, path, body, retried = false) {
    const headers = { Accept: 'application/json' };
    if (method !== 'GET') {
      headers['Content-Type'] = 'application/json';
      if (state.me?.csrf_token) headers['X-CSRF-Token'] = state.me.csrf_token;
    }
    let res;
    try {
      res = await fetch(API + path, {
        method,
        headers,
        credentials: 'same-origin',
        cache: 'no-store',
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch {
      throw new ApiError(0, { code: 'network', message_zh: '网络错误，请检查连接后重试', message_en: 'Network error, please retry' });
    }
    const data = await readJson(res);
    if (res.ok) return data;
    const err = new ApiError(res.status, data);
    if (res.status === 401 && path !== '/login') {
      showLogin(err);
      err.handled = true;
    } else if (res.status === 403 && /csrf/i.test(err.code) && !retried && method !== 'GET') {
      // A stale token (e.g. the session was renewed in another tab): fetch a fresh one once.
      await loadMe();
      if (state.me) return api(method, path, body, true);
    }
    throw err;
  }

  // ---- flash messages ----

  let flashTimer = null;

  /** Shows a message at the top; errors stay longer and are announced as alerts. */
  function flash(zh, en, kind = 'info') {
    const box = $('flash');
    box.hidden = false;
    box.dataset.kind = kind;
    box.setAttribute('role', kind === 'error' ? 'alert' : 'status');
    setText('flash-zh', zh);
    setText('flash-en', en || '');
    clearTimeout(flashTimer);
    flashTimer = setTimeout(hideFlash, kind === 'error' ? 12_000 : 5_000);
  }

  function flashError(err) {
    if (err?.handled) return;
    flash(err?.zh || '出错了', err?.en || 'Something went wrong', 'error');
  }

  function hideFlash() {
    $('flash').hidden = true;
  }

  // ---- views ----

  const HINTS = {
    login: '',
    queue: 'j/k 选择 select · Enter 打开 open · o 仅看超时 overdue only · r 刷新 refresh · ? 帮助 help',
    case: '1–4 放大 zoom · Esc 返回 back · a a 通过 approve · x 驳回 reject · ? 帮助 help',
  };

  function setView(view) {
    state.view = view;
    document.body.dataset.view = view;
    $('login-view').hidden = view !== 'login';
    $('queue-view').hidden = view !== 'queue';
    $('case-view').hidden = view !== 'case';
    $('session-bar').hidden = view === 'login' || !state.me;
    setText('shortcut-hint', HINTS[view] || '');
    if (view !== 'case') closeZoom();
    syncQueueTimer();
  }

  function showLogin(err) {
    state.me = null;
    state.caseData = null;
    state.caseSeq += 1;
    // The next reviewer at this browser starts from a clean queue.
    state.queue = { items: [], total: 0, page: 1, overdueCount: 0, selectedId: null, loadedAt: 0 };
    setView('login');
    const box = $('login-error');
    if (err && err.code !== 'login_required') {
      showFormError(box, err);
    } else {
      box.hidden = true;
    }
    $('login-username').focus();
  }

  function showFormError(box, err) {
    box.textContent = '';
    box.append(el('span', null, err.zh));
    const en = el('span', 'en', err.en);
    en.lang = 'en';
    box.append(' ', en);
    box.hidden = false;
  }

  // ---- session ----

  async function loadMe() {
    try {
      state.me = await api('GET', '/me');
      renderWhoami();
      return true;
    } catch (err) {
      state.me = null;
      if (!err.handled) showLogin(err.status === 401 ? null : err);
      return false;
    }
  }

  function renderWhoami() {
    const r = state.me?.reviewer;
    if (!r) return;
    const box = $('whoami');
    box.textContent = '';
    box.append(el('strong', null, r.display_name || r.username));
    if (isAuditor()) box.append(' ', el('span', 'role-chip', '审计 auditor'));
    box.title = r.username;
  }

  const isAuditor = () => (state.me?.reviewer?.roles || []).includes('auditor');

  async function onLoginSubmit(event) {
    event.preventDefault();
    const username = $('login-username').value.trim();
    const password = $('login-password').value;
    const box = $('login-error');
    if (!username || !password) {
      showFormError(box, { zh: '请输入用户名和密码', en: 'Enter your username and password' });
      return;
    }
    $('login-submit').disabled = true;
    box.hidden = true;
    try {
      const answer = await api('POST', '/login', { username, password });
      // Keep only what the console needs; the bearer token is for API clients, the
      // console relies on the HttpOnly cookie.
      state.me = { reviewer: answer.reviewer, csrf_token: answer.csrf_token, expires_at: answer.expires_at };
      $('login-password').value = '';
      renderWhoami();
      route();
    } catch (err) {
      showFormError(box, err);
      $('login-password').select();
    } finally {
      $('login-submit').disabled = false;
    }
  }

  async function logout() {
    try {
      await api('POST', '/logout');
    } catch (err) {
      if (err.handled) return;
    }
    state.me = null;
    hideFlash();
    location.hash = '';
    showLogin(null);
  }

  // ---- routing: #/queue and #/case/{id}, so a reload or the Back button keeps the place ----

  function route() {
    if (!state.me) return;
    const m = /^#\/case\/(.+)$/.exec(location.hash);
    if (m) {
      openCase(decodeURIComponent(m[1]));
    } else {
      showQueue();
    }
  }

  function goQueue() {
    if (location.hash.startsWith('#/case/')) {
      location.hash = '#/queue'; // hashchange → route() → showQueue()
    } else {
      showQueue();
    }
  }

  // ---- queue ----

  let queueTimer = null;

  /** Polls the queue only while it is on screen and the tab is visible. */
  function syncQueueTimer() {
    clearInterval(queueTimer);
    queueTimer = null;
    if (state.view === 'queue' && !document.hidden) {
      queueTimer = setInterval(() => loadQueue({ quiet: true }), QUEUE_REFRESH_MS);
    }
  }

  function showQueue() {
    state.caseSeq += 1; // drops answers still arriving for a case that was just left
    state.caseData = null;
    cancelApproveConfirm();
    setView('queue');
    // Show what we have at once (minus a just-decided case), then refresh from the server.
    if (state.queue.loadedAt) renderQueue();
    loadQueue();
  }

  function queueQuery() {
    const p = new URLSearchParams({
      page: String(state.queue.page),
      per_page: String(PER_PAGE),
      overdue: String(state.filters.overdue),
      mine: String(state.filters.mine),
    });
    return `/queue?${p}`;
  }

  async function loadQueue({ quiet = false } = {}) {
    if (!state.me) return;
    const wanted = queueQuery();
    if (!quiet) $('queue-view').classList.add('is-loading');
    try {
      const data = await api('GET', wanted);
      if (state.view !== 'queue' || wanted !== queueQuery()) return; // filters changed meanwhile
      const items = (data.items || []).map((it) => ({ ...it, deadline: deadlineFrom(it.seconds_left, it.due_at) }));
      // A page emptied by decisions elsewhere: step back instead of showing nothing.
      if (items.length === 0 && state.queue.page > 1 && data.total > 0) {
        state.queue.page -= 1;
        loadQueue({ quiet });
        return;
      }
      Object.assign(state.queue, {
        items,
        total: data.total ?? items.length,
        page: data.page ?? state.queue.page,
        perPage: data.per_page ?? PER_PAGE,
        overdueCount: data.overdue_count ?? 0,
        loadedAt: Date.now(),
      });
      renderQueue();
    } catch (err) {
      if (!quiet || err.status !== 0) flashError(err);
    } finally {
      $('queue-view').classList.remove('is-loading');
    }
  }

  function renderOverdueCount(n) {
    const pill = $('overdue-count');
    pill.dataset.count = String(n);
    setText('overdue-number', String(n));
    pill.classList.toggle('has-overdue', n > 0);
  }

  function renderQueue() {
    const q = state.queue;
    const body = $('queue-body');
    body.textContent = '';
    for (const item of q.items) body.append(queueRow(item));
    $('queue-empty').hidden = q.items.length > 0;
    renderOverdueCount(q.overdueCount);

    const summary = $('queue-summary');
    summary.textContent = '';
    summary.append(bilingual(`共 ${q.total} 件`, `${q.total} cases`));
    summary.append(' · ');
    summary.append(bilingual(`超时 ${q.overdueCount} 件`, `${q.overdueCount} overdue`, q.overdueCount > 0 ? 'text-danger' : ''));
    setText('queue-updated', `更新于 ${fmtDate(new Date(q.loadedAt).toISOString(), timeFmt)} updated`);

    const pages = Math.max(1, Math.ceil(q.total / (q.perPage || PER_PAGE)));
    setText('page-info', `第 ${q.page} / ${pages} 页 · page ${q.page} of ${pages}`);
    $('page-prev').disabled = q.page <= 1;
    $('page-next').disabled = q.page >= pages;

    // Keep the selection on the same case across refreshes; otherwise the most urgent.
    const ids = q.items.map((it) => it.case_id);
    if (!ids.includes(q.selectedId)) q.selectedId = ids[0] ?? null;
    paintSelection(false);
  }

  function queueRow(item) {
    const tr = el('tr');
    tr.dataset.caseId = item.case_id;
    tr.tabIndex = -1;
    if (item.overdue || item.seconds_left < 0) tr.classList.add('overdue');

    tr.append(el('td', 'mono nowrap', item.filing_id));
    tr.append(el('td', null, item.subject_name_masked));

    const domains = el('td', 'domains');
    for (const d of item.domains || []) domains.append(el('span', 'domain', d));
    tr.append(domains);

    tr.append(el('td', 'nowrap muted', fmtDate(item.submitted_at)));
    tr.append(el('td', 'nowrap', fmtDate(item.due_at)));

    const cd = el('td', 'countdown nowrap');
    cd.dataset.deadline = String(item.deadline);
    paintCountdown(cd, item.deadline);
    tr.append(cd);

    const leaseCell = el('td');
    if (item.lease) leaseCell.append(leaseBadge(item.lease));
    tr.append(leaseCell);

    tr.addEventListener('click', () => {
      state.queue.selectedId = item.case_id;
      openCaseFromQueue(item.case_id);
    });
    return tr;
  }

  function leaseBadge(lease) {
    const until = fmtDate(lease.until, timeFmt);
    if (lease.mine) {
      const b = bilingual('我已认领', `mine · until ${until}`, 'lease-badge');
      b.dataset.lease = 'mine';
      return b;
    }
    const b = bilingual(`${lease.display_name || lease.reviewer_id} 处理中`, `in review until ${until}`, 'lease-badge');
    b.dataset.lease = 'other';
    b.title = `至 ${until} until`;
    return b;
  }

  /** Marks the selected row; `scroll` moves it into view for j/k. */
  function paintSelection(scroll) {
    for (const tr of $('queue-body').rows) {
      const selected = tr.dataset.caseId === state.queue.selectedId;
      tr.classList.toggle('selected', selected);
      if (selected) tr.setAttribute('aria-current', 'true');
      else tr.removeAttribute('aria-current');
      tr.tabIndex = selected ? 0 : -1;
      if (selected && scroll) {
        tr.scrollIntoView({ block: 'nearest' });
        // Move focus with the selection unless the reviewer is in a filter control.
        if (document.activeElement === document.body || document.activeElement?.tagName === 'TR') tr.focus({ preventScroll: true });
      }
    }
  }

  function moveSelection(delta) {
    const ids = state.queue.items.map((it) => it.case_id);
    if (!ids.length) return;
    const at = ids.indexOf(state.queue.selectedId);
    const next = at < 0 ? 0 : Math.min(ids.length - 1, Math.max(0, at + delta));
    state.queue.selectedId = ids[next];
    paintSelection(true);
  }

  function openCaseFromQueue(caseId) {
    if (!caseId) return;
    location.hash = `#/case/${encodeURIComponent(caseId)}`;
  }

  function setFilter(name, value) {
    state.filters[name] = value;
    $(name === 'overdue' ? 'filter-overdue' : 'filter-mine').checked = value;
    state.queue.page = 1;
    try {
      sessionStorage.setItem('heyan-review-filters', JSON.stringify(state.filters));
    } catch {
      /* storage may be disabled; filters then just reset on reload */
    }
    loadQueue();
  }

  function restoreFilters() {
    try {
      const saved = JSON.parse(sessionStorage.getItem('heyan-review-filters') || '{}');
      state.filters.overdue = saved.overdue === true;
      state.filters.mine = saved.mine === true;
    } catch {
      /* ignore */
    }
    $('filter-overdue').checked = state.filters.overdue;
    $('filter-mine').checked = state.filters.mine;
  }

  /** One timer for all countdowns: queue cells, the case header and the lease. */
  function tick() {
    if (state.view === 'queue') {
      for (const cell of $('queue-body').querySelectorAll('td.countdown')) {
        const left = paintCountdown(cell, Number(cell.dataset.deadline));
        // A case that runs out while on screen turns red without waiting for a refresh.
        if (left < 0) cell.parentElement.classList.add('overdue');
      }
    } else if (state.view === 'case' && state.caseData) {
      paintCountdown($('case-countdown'), state.caseData.deadline);
      tickLease();
    }
  }

  // ---- case ----

  /** Claims the case (the API requires holding the lease to read it), then loads it. */
  async function openCase(caseId) {
    const seq = ++state.caseSeq;
    state.caseData = null;
    state.leaseUntilMs = null;
    cancelApproveConfirm();
    resetCaseView(caseId);
    setView('case');
    try {
      const claim = await api('POST', `/cases/${encodeURIComponent(caseId)}/claim`);
      if (seq !== state.caseSeq) return;
      noteLease(claim?.lease_until, claim?.lease_seconds_left);
      const data = await api('GET', `/cases/${encodeURIComponent(caseId)}`);
      if (seq !== state.caseSeq) return;
      hideFlash(); // an error about another case no longer applies
      renderCase(data);
      if (isAuditor()) loadAudit(caseId, seq);
    } catch (err) {
      if (err.handled || seq !== state.caseSeq) return;
      // Leased by someone else, already decided, gone…: say so and go back.
      flashError(err);
      goQueue();
    }
  }

  /**
   * Remembers when the lease ends as a point on this page's monotonic clock, counted from
   * the server's `seconds_left`: the browser's wall clock may be off by minutes.
   */
  function noteLease(untilIso, secondsLeft) {
    const left = Number(secondsLeft);
    state.leaseUntilMs = Number.isFinite(left) ? performance.now() + left * 1000 : null;
    setText('case-lease', state.leaseUntilMs ? `认领至 ${fmtDate(untilIso, timeFmt)} lease until` : '');
  }

  /** Extends the lease while the reviewer is still on the case. */
  let renewing = false;
  async function tickLease() {
    if (!state.leaseUntilMs || renewing || !state.caseData || state.caseData.decision) return;
    if (state.leaseUntilMs - performance.now() > LEASE_RENEW_BEFORE_S * 1000) return;
    renewing = true;
    const seq = state.caseSeq;
    try {
      const claim = await api('POST', `/cases/${encodeURIComponent(state.caseData.case_id)}/claim`);
      if (seq === state.caseSeq) noteLease(claim?.lease_until, claim?.lease_seconds_left);
    } catch (err) {
      if (seq === state.caseSeq && !err.handled) {
        flashError(err);
        state.leaseUntilMs = null;
      }
    } finally {
      renewing = false;
    }
  }

  function resetCaseView(caseId) {
    const view = $('case-view');
    view.dataset.caseId = caseId;
    view.dataset.loaded = 'false';
    $('case-loading').hidden = false;
    $('case-body').hidden = true;
    setText('case-filing-id', '');
    setText('case-subject', '');
    setText('case-status', '');
    setText('case-countdown', '');
    setText('case-due', '');
    setText('case-lease', '');
    $('note').value = '';
    $('decision-error').hidden = true;
    $('audit').hidden = true;
  }

  function renderCase(data) {
    state.caseData = { ...data, deadline: deadlineFrom(data.seconds_left, data.due_at) };
    const view = $('case-view');
    view.dataset.caseId = data.case_id;

    setText('case-filing-id', data.filing_id);
    setText('case-subject', data.subject_name);
    const [stZh, stEn] = label('status', data.status);
    setText('case-status', `${stZh} ${stEn}`.trim());
    setText('case-due', `截止 ${fmtDate(data.due_at)} due`);
    paintCountdown($('case-countdown'), state.caseData.deadline);
    if (data.lease?.until && !state.leaseUntilMs) noteLease(data.lease.until, data.lease.seconds_left);

    renderPhotos(data);
    renderFacts(data);
    renderChecks(data);
    renderDecisionState(data);

    $('case-loading').hidden = true;
    $('case-body').hidden = false;
    view.dataset.loaded = 'true';
    // Nothing focused inside the form: the shortcuts (1–4, a, x) work right away.
    if (document.activeElement && document.activeElement !== document.body) document.activeElement.blur();
  }

  /** The four photos side by side, each with the reasons that may name its step. */
  function renderPhotos(data) {
    const strip = $('photo-strip');
    strip.textContent = '';
    const byKind = new Map((data.photos || []).map((p) => [p.kind, p]));
    STEPS.forEach((step, i) => {
      const card = el('section', 'photo-card');
      card.dataset.step = step.kind;
      card.setAttribute('aria-label', `${step.zh} ${step.en}`);

      const head = el('h2', 'photo-title');
      head.append(el('kbd', null, String(i + 1)), ' ', bilingual(step.zh, step.en));
      card.append(head);

      const photo = byKind.get(step.kind);
      if (photo) {
        const btn = el('button', 'photo-frame');
        btn.type = 'button';
        btn.title = `放大 Zoom (${i + 1})`;
        const img = el('img', 'case-photo');
        img.dataset.kind = step.kind;
        img.alt = `${step.zh} ${step.en}（案件 ${data.filing_id}）`;
        img.decoding = 'async';
        if (photo.width && photo.height) {
          // Attributes, not inline style: reserves the aspect ratio before the bytes arrive.
          img.width = photo.width;
          img.height = photo.height;
        }
        img.addEventListener('error', () => card.classList.add('photo-failed'));
        img.src = photo.url;
        btn.append(img);
        btn.append(el('span', 'photo-failed-note', '图片加载失败 Failed to load'));
        btn.addEventListener('click', () => openZoom(i));
        card.append(btn);
      } else {
        card.classList.add('photo-missing');
        card.append(el('div', 'photo-frame photo-placeholder', '缺少照片 Missing photo'));
      }

      card.append(reasonFieldset(step));
      strip.append(card);
    });
    syncReasons();
  }

  function reasonFieldset(step) {
    const fs = el('fieldset', 'reasons');
    // The legend is for screen readers; sighted reviewers see the boxes under the photo.
    const legend = el('legend', 'sr-only');
    legend.append(bilingual(`驳回原因：${step.zh}`, `Reject reasons: ${step.en}`));
    fs.append(legend);
    for (const reason of REASONS.filter((r) => r.steps.includes(step.kind))) {
      const id = `reason-${step.kind}-${reason.code}`;
      const row = el('label', 'check reason');
      row.htmlFor = id;
      const box = el('input');
      box.type = 'checkbox';
      box.name = 'reason';
      box.id = id;
      box.value = `${reason.code}:${step.kind}`;
      box.addEventListener('change', () => {
        $('decision-error').hidden = true; // an old "note required" no longer applies
        syncReasons();
      });
      row.append(box, ' ', bilingual(reason.zh, reason.en));
      fs.append(row);
    }
    return fs;
  }

  function tickedReasons() {
    return [...document.querySelectorAll('#photo-strip input[name="reason"]:checked')].map((box) => {
      const [code, step] = box.value.split(':');
      return { code, step };
    });
  }

  /**
   * Reject is enabled only with a reason ticked; approve is blocked while any reason is
   * ticked, since approving with reasons ticked is almost certainly a slip.
   */
  function syncReasons() {
    const reasons = tickedReasons();
    const decided = Boolean(state.caseData?.decision);
    const flagged = new Set(reasons.map((r) => r.step));
    for (const card of document.querySelectorAll('#photo-strip .photo-card')) {
      card.classList.toggle('flagged', flagged.has(card.dataset.step));
    }
    $('reject').disabled = decided || state.busy || reasons.length === 0;
    $('approve').disabled = decided || state.busy || reasons.length > 0;
    if (reasons.length > 0) cancelApproveConfirm();

    const summary = $('reason-summary');
    summary.textContent = '';
    if (reasons.length === 0) {
      summary.append(bilingual('驳回原因请在各照片下方勾选', 'Tick rejection reasons under each photo'));
    } else {
      summary.append(bilingual(`已勾选 ${reasons.length} 项驳回原因`, `${reasons.length} reason(s) ticked`, 'text-danger'));
      const list = el('ul', 'reason-list');
      for (const r of reasons) {
        const reason = REASONS.find((x) => x.code === r.code);
        const step = STEPS.find((s) => s.kind === r.step);
        list.append(el('li', null, `${step.zh} · ${reason.zh}`));
      }
      summary.append(list);
    }
    const hint = $('approve-hint');
    hint.hidden = !(reasons.length > 0 && !decided);
    hint.textContent = '';
    if (!hint.hidden) hint.append(bilingual('已勾选驳回原因，取消勾选后才能通过', 'Untick all reasons to approve'));
    $('note').classList.toggle('required', reasons.some((r) => r.code === 'other'));
  }

  function renderFacts(data) {
    const dl = $('case-facts');
    dl.textContent = '';
    const [tZh, tEn] = label('subject_type', data.subject_type);
    const subject = el('span');
    subject.append(el('strong', null, data.subject_name), ' · ', bilingual(tZh, tEn));
    addFact(dl, '主体', 'Subject', subject);

    const box = $('case-websites');
    box.textContent = '';
    let previous = null;
    (data.websites || []).forEach((w, i) => {
      box.append(websiteBlock(w, i, samePrincipal(previous, w.principal)));
      previous = w.principal;
    });
    box.append(el('p', 'muted small submitted', `提交于 ${fmtDate(data.submitted_at, fullFmt)} submitted`));
  }

  function samePrincipal(a, b) {
    return Boolean(a && b) && a.name === b.name && a.id_number === b.id_number && a.mobile_masked === b.mobile_masked;
  }

  function addFact(dl, zh, en, valueNode, wide = false) {
    const dt = el('dt');
    dt.append(bilingual(zh, en));
    const dd = el('dd');
    dd.append(valueNode);
    if (wide) {
      dt.classList.add('wide');
      dd.classList.add('wide');
    }
    dl.append(dt, dd);
  }

  /** One website and its principal; a principal repeated from the site above is not repeated. */
  function websiteBlock(w, i, sameAsAbove) {
    const block = el('div', 'website');
    block.append(el('div', 'domain domain-large', w.domain));
    if (sameAsAbove) {
      block.append(bilingual('负责人同上', 'Same principal as above', 'muted small same-principal'));
      return block;
    }
    const p = w.principal || {};
    const dl = el('dl', 'facts');
    addFact(dl, '负责人', 'Principal', el('strong', 'principal-name', p.name));
    const [idZh, idEn] = label('id_type', p.id_type);
    addFact(dl, '证件号码', 'ID number', bilingual(idZh, idEn, 'small'));
    const number = el('dd', 'wide id-box');
    number.append(idNumber(p.id_number, i));
    dl.append(number);
    addFact(dl, '手机', 'Mobile', el('span', 'mono', p.mobile_masked));
    block.append(dl);
    return block;
  }

  /**
   * The full ID number in a monospace font, split 6-8-4 (region, birth date,
   * sequence+check) by spacing only, so copying still yields the plain number.
   */
  function idNumber(value, i) {
    const s = String(value ?? '');
    const span = el('span', 'id-number mono');
    if (i === 0) span.id = 'case-id-number'; // the first principal's, for tests
    if (/^[0-9]{17}[0-9Xx]$/.test(s)) {
      span.append(el('span', 'id-part', s.slice(0, 6)), el('span', 'id-part', s.slice(6, 14)), el('span', 'id-part', s.slice(14)));
    } else {
      span.textContent = s;
    }
    return span;
  }

  function renderChecks(data) {
    const loc = $('case-location');
    loc.textContent = '';
    const inSh = data.location_in_shanghai;
    loc.dataset.state = inSh === true ? 'yes' : inSh === false ? 'no' : 'unknown';
    if (inSh === true) {
      loc.append(bilingual('✓ 定位在上海', 'Located in Shanghai'));
    } else if (inSh === false) {
      loc.append(bilingual('✗ 不在上海', 'Not in Shanghai'));
    } else {
      loc.append(bilingual('? 位置未知', 'Location unknown'));
    }
    loc.title = '核验时手机定位 Phone location during verification';

    const live = $('case-liveness');
    live.textContent = '';
    const l = data.liveness || {};
    const head = el('div', `liveness-head ${l.passed ? 'ok' : 'bad'}`);
    head.append(l.passed ? bilingual('✓ 通过', 'Passed') : bilingual('✗ 未通过', 'Not passed'));
    if (l.at) head.append(el('span', 'muted small liveness-at', fmtDate(l.at, fullFmt)));
    live.append(head);
    const list = el('ul', 'actions');
    for (const a of l.actions || []) {
      const [aZh, aEn] = label('action', a.action);
      const li = el('li', a.passed ? 'ok' : 'bad');
      li.append(el('span', 'action-mark', a.passed ? '✓' : '✗'), ' ', bilingual(aZh, aEn));
      const bits = [`${a.frames ?? '—'} 帧 frames`];
      if (a.movement !== null && a.movement !== undefined) bits.push(`幅度 ${Number(a.movement).toFixed(2)}`);
      li.append(el('span', 'muted small', ` · ${bits.join(' · ')}`));
      list.append(li);
    }
    live.append(list);
  }

  function renderDecisionState(data) {
    const decided = $('case-decided');
    const d = data.decision;
    decided.hidden = !d;
    decided.textContent = '';
    if (d) {
      const ok = d.decision === 'approved';
      decided.className = `decided ${ok ? 'ok' : 'bad'}`;
      decided.append(bilingual(ok ? '已通过' : '已驳回', ok ? 'Approved' : 'Rejected'));
      decided.append(el('span', 'muted small', ` · ${d.decided_by ?? ''} · ${fmtDate(d.decided_at, fullFmt)}`));
      for (const box of document.querySelectorAll('#photo-strip input[name="reason"]')) {
        box.checked = (d.reasons || []).some((r) => `${r.code}:${r.step}` === box.value);
        box.disabled = true;
      }
      $('note').value = d.note || '';
      $('note').readOnly = true;
    } else {
      $('note').readOnly = false;
    }
    syncReasons();
  }

  // ---- decisions ----

  function armOrApprove() {
    const btn = $('approve');
    if (state.view !== 'case' || !state.caseData || btn.disabled || state.busy) return;
    if (btn.dataset.state === 'confirm') {
      cancelApproveConfirm();
      submitDecision({ decision: 'approve' });
      return;
    }
    btn.dataset.state = 'confirm';
    btn.classList.add('confirming');
    const labelBox = $('approve-label');
    labelBox.textContent = '';
    labelBox.append(bilingual('确认通过？再按 a 或点击', 'Confirm: press a / click again'));
    clearTimeout(state.approveTimer);
    state.approveTimer = setTimeout(cancelApproveConfirm, APPROVE_CONFIRM_MS);
  }

  function cancelApproveConfirm() {
    clearTimeout(state.approveTimer);
    const btn = $('approve');
    if (btn.dataset.state !== 'confirm') return;
    btn.dataset.state = 'idle';
    btn.classList.remove('confirming');
    const labelBox = $('approve-label');
    labelBox.textContent = '';
    labelBox.append(bilingual('通过', 'Approve'));
  }

  function reject() {
    if (state.view !== 'case' || !state.caseData || $('reject').disabled || state.busy) return;
    const reasons = tickedReasons();
    if (reasons.length === 0) return;
    const note = $('note').value.trim();
    if (reasons.some((r) => r.code === 'other') && !note) {
      showFormError($('decision-error'), { zh: '选择“其他”时必须填写说明', en: 'A note is required when “Other” is ticked' });
      $('note').focus();
      return;
    }
    const body = { decision: 'reject', reasons };
    if (note) body.note = note;
    submitDecision(body);
  }

  function setBusy(busy) {
    state.busy = busy;
    document.body.classList.toggle('busy', busy);
    syncReasons();
  }

  async function submitDecision(body) {
    const c = state.caseData;
    if (!c) return;
    const seq = state.caseSeq;
    $('decision-error').hidden = true;
    if (body.decision === 'approve') {
      const note = $('note').value.trim();
      if (note) body.note = note;
    }
    setBusy(true);
    try {
      await api('POST', `/cases/${encodeURIComponent(c.case_id)}/decision`, body);
      const ok = body.decision === 'approve';
      flash(`${ok ? '已通过' : '已驳回'}：${c.filing_id}`, `${ok ? 'Approved' : 'Rejected'}: ${c.filing_id}`, ok ? 'success' : 'info');
      dropFromQueue(c.case_id);
      goQueue();
    } catch (err) {
      if (err.handled || seq !== state.caseSeq) return;
      if (err.status === 422) {
        // Invalid reasons or note: stay on the case so the reviewer can fix it.
        showFormError($('decision-error'), withFields(err));
      } else if (err.status === 409) {
        // Someone else holds it, the lease ran out, or it is already decided.
        flashError(err);
        goQueue();
      } else {
        showFormError($('decision-error'), err);
      }
    } finally {
      setBusy(false);
    }
  }

  /** Appends the server's per-field messages ("reasons[0].step: …") to the error text. */
  function withFields(err) {
    if (!err.fields || typeof err.fields !== 'object') return err;
    const extra = Object.entries(err.fields)
      .map(([k, v]) => `${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`)
      .join('; ');
    return { zh: `${err.zh}（${extra}）`, en: err.en };
  }

  /** Removes a decided case at once, so the queue does not flash it before the refresh. */
  function dropFromQueue(caseId) {
    const q = state.queue;
    const before = q.items.length;
    q.items = q.items.filter((it) => it.case_id !== caseId);
    if (q.items.length < before) q.total = Math.max(0, q.total - 1);
    if (q.selectedId === caseId) q.selectedId = null;
  }

  // ---- audit (auditors only) ----

  async function loadAudit(caseId, seq) {
    try {
      const data = await api('GET', `/audit?case=${encodeURIComponent(caseId)}`);
      if (seq !== state.caseSeq) return;
      renderAudit(data.entries || []);
    } catch (err) {
      if (seq === state.caseSeq && !err.handled) flashError(err);
    }
  }

  function renderAudit(entries) {
    const body = $('audit-body');
    body.textContent = '';
    const sorted = [...entries].sort((a, b) => Number(a.seq) - Number(b.seq));
    for (const e of sorted) {
      const tr = el('tr');
      tr.append(el('td', 'mono', e.seq));
      tr.append(el('td', 'nowrap', fmtDate(e.at, fullFmt)));
      tr.append(el('td', null, `${e.actor_kind ?? ''}${e.actor_id ? ` ${e.actor_id}` : ''}`));
      tr.append(el('td', 'mono', e.action));
      tr.append(el('td', 'mono', e.ip ?? ''));
      const details = el('td', 'details');
      if (e.details !== null && e.details !== undefined && !(typeof e.details === 'object' && Object.keys(e.details).length === 0)) {
        details.append(el('code', null, typeof e.details === 'string' ? e.details : JSON.stringify(e.details)));
      }
      tr.append(details);
      body.append(tr);
    }
    $('audit-empty').hidden = sorted.length > 0;
    $('audit').hidden = false;
  }

  // ---- zoom ----

  let zoomReturnFocus = null;

  function openZoom(index) {
    const imgs = [...document.querySelectorAll('#photo-strip img.case-photo')];
    const step = STEPS[index];
    const img = imgs.find((x) => x.dataset.kind === step?.kind);
    if (!img) return;
    const zoom = $('zoom');
    if (zoom.hidden) zoomReturnFocus = document.activeElement;
    state.zoomIndex = index;
    const big = $('zoom-img');
    big.src = img.currentSrc || img.src;
    big.alt = img.alt;
    big.dataset.kind = step.kind;
    zoom.classList.remove('actual-size');
    setText('zoom-caption', `${index + 1}/4 · ${step.zh} ${step.en}`);
    zoom.hidden = false;
    zoom.focus();
  }

  function closeZoom() {
    const zoom = $('zoom');
    if (zoom.hidden) return false;
    zoom.hidden = true;
    state.zoomIndex = -1;
    $('zoom-img').removeAttribute('src');
    if (zoomReturnFocus && document.contains(zoomReturnFocus)) zoomReturnFocus.focus();
    else document.activeElement?.blur();
    zoomReturnFocus = null;
    return true;
  }

  // ---- help ----

  function toggleHelp(force) {
    const help = $('help');
    const show = force ?? help.hidden;
    help.hidden = !show;
    $('help-toggle').setAttribute('aria-expanded', String(show));
  }

  // ---- keyboard ----

  /** True while the reviewer is typing: shortcuts must not steal letters from fields. */
  function isTyping(target) {
    if (!(target instanceof Element)) return false;
    if (target.isContentEditable) return true;
    if (target.tagName === 'TEXTAREA' || target.tagName === 'SELECT') return true;
    if (target.tagName !== 'INPUT') return false;
    return !['checkbox', 'radio', 'button', 'submit', 'reset', 'range', 'color', 'file', 'image'].includes(target.type);
  }

  /** Enter only means "open" when it would not also press a focused button or link. */
  function enterIsFree(target) {
    if (!(target instanceof Element) || target === document.body) return true;
    if (target.tagName === 'INPUT' && target.type === 'checkbox') return true; // Enter does nothing on a checkbox
    return target.tagName === 'TR' || target.tagName === 'TABLE';
  }

  function onKeyDown(event) {
    if (event.ctrlKey || event.metaKey || event.altKey || event.isComposing) return;
    const key = event.key;

    if (isTyping(event.target)) {
      // Esc leaves the field, so the next Esc can close/go back as usual.
      if (key === 'Escape') event.target.blur();
      return;
    }
    if (state.view === 'login' || state.view === 'loading') return;

    if (key === '?') {
      toggleHelp();
      event.preventDefault();
      return;
    }
    if (key === 'Escape' && !$('help').hidden) {
      toggleHelp(false);
      event.preventDefault();
      return;
    }

    const handled = state.view === 'queue' ? queueKey(key, event.target) : state.view === 'case' ? caseKey(key) : false;
    if (handled) event.preventDefault();
  }

  function queueKey(key, target) {
    switch (key) {
      case 'j':
      case 'ArrowDown':
        moveSelection(1);
        return true;
      case 'k':
      case 'ArrowUp':
        moveSelection(-1);
        return true;
      case 'Enter':
        if (!enterIsFree(target)) return false;
        openCaseFromQueue(state.queue.selectedId);
        return true;
      case 'o':
        setFilter('overdue', !state.filters.overdue);
        return true;
      case 'r':
        loadQueue();
        return true;
      default:
        return false;
    }
  }

  function caseKey(key) {
    const zoomOpen = !$('zoom').hidden;
    if (key >= '1' && key <= '4' && key.length === 1) {
      openZoom(Number(key) - 1);
      return true;
    }
    if (key === 'Escape') {
      if (closeZoom()) return true;
      if ($('approve').dataset.state === 'confirm') {
        cancelApproveConfirm();
        return true;
      }
      goQueue();
      return true;
    }
    if (zoomOpen) {
      if (key === 'z') {
        $('zoom').classList.toggle('actual-size');
        return true;
      }
      if (key === 'ArrowRight' || key === 'ArrowLeft') {
        openZoom((state.zoomIndex + (key === 'ArrowRight' ? 1 : 3)) % 4);
        return true;
      }
      return false; // a/x do nothing while zoomed: the reviewer should see the form
    }
    if (key === 'a') {
      armOrApprove();
      return true;
    }
    if (key === 'x') {
      reject();
      return true;
    }
    return false;
  }

  // ---- wiring ----

  function wire() {
    $('login-form').addEventListener('submit', onLoginSubmit);
    $('logout').addEventListener('click', logout);
    $('help-toggle').addEventListener('click', () => toggleHelp());
    $('flash-close').addEventListener('click', hideFlash);

    $('filter-overdue').addEventListener('change', (e) => setFilter('overdue', e.target.checked));
    $('filter-mine').addEventListener('change', (e) => setFilter('mine', e.target.checked));
    $('refresh').addEventListener('click', () => loadQueue());
    $('page-prev').addEventListener('click', () => {
      state.queue.page = Math.max(1, state.queue.page - 1);
      loadQueue();
    });
    $('page-next').addEventListener('click', () => {
      state.queue.page += 1;
      loadQueue();
    });

    $('back').addEventListener('click', goQueue);
    $('approve').addEventListener('click', armOrApprove);
    $('reject').addEventListener('click', reject);
    $('note').addEventListener('input', () => {
      $('decision-error').hidden = true;
    });

    // Any click on the overlay closes it (the image included), as reviewers expect.
    $('zoom').addEventListener('click', closeZoom);

    document.addEventListener('keydown', onKeyDown);
    window.addEventListener('hashchange', route);
    document.addEventListener('visibilitychange', () => {
      syncQueueTimer();
      if (!document.hidden && state.view === 'queue') loadQueue({ quiet: true });
    });
    setInterval(tick, 1000);
  }

  async function start() {
    wire();
    restoreFilters();
    if (await loadMe()) route();
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', start);
  } else {
    start();
  }
})();
