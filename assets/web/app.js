// The principal's flow in a phone browser. Talks only to the App API (/app/v1), like a
// native App; the steps always come from the server, so a reload resumes where the
// principal was. The session token is kept in sessionStorage (this tab only); no personal
// data is stored in the browser. The camera opens only on the step that needs it.
'use strict';

(() => {
  const token = location.pathname.split('/').filter(Boolean).pop() || '';
  const storeKey = 'heyan-session:' + token;
  const $ = (id) => document.getElementById(id);
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  const STEPS = ['phone', 'consent', 'liveness', 'handheld', 'front', 'back', 'complete'];
  const PHOTO_KINDS = ['handheld', 'front', 'back'];
  const MAX_PHOTO_SIDE = 2048;
  const FRAME_GAP_MS = 250;

  const state = {
    session: sessionStorage.getItem(storeKey),
    coords: null,
    kind: null,
    stream: null,
    facing: null,
  };

  // ---- text in two languages -------------------------------------------------------

  /** A fragment with the Chinese text and, beside it, the English one. */
  function bilingual(zh, en) {
    const frag = document.createDocumentFragment();
    const z = document.createElement('span');
    z.className = 'zh';
    z.textContent = zh;
    const e = document.createElement('span');
    e.className = 'en';
    e.lang = 'en';
    e.textContent = en;
    frag.append(z, e);
    return frag;
  }

  function setText(el, zh, en) {
    el.replaceChildren(bilingual(zh, en));
  }

  function say(zh, en) {
    setText($('status'), zh, en || zh);
  }

  /** Shows a server refusal's own message, as it is. */
  function showError(body) {
    const box = $('error');
    const p = document.createElement('p');
    p.append(bilingual(body.message_zh || '出错了，请重试', body.message_en || 'Something went wrong; try again'));
    box.replaceChildren(p);
    box.hidden = false;
    document.body.dataset.error = body.code || 'error';
  }

  function clearError() {
    $('error').hidden = true;
    $('error').replaceChildren();
    delete document.body.dataset.error;
  }

  // ---- the API ---------------------------------------------------------------------

  class SessionEnded extends Error {}

  /** Calls the API; network failures are retried twice with a message, a 401 on a
   * session call ends the session and goes back to the phone step. */
  async function api(method, path, options = {}) {
    const headers = {};
    let body = options.body;
    if (state.session && options.auth !== false) headers.Authorization = 'Bearer ' + state.session;
    if (options.json !== undefined) {
      headers['Content-Type'] = 'application/json';
      body = JSON.stringify(options.json);
    } else if (options.type) {
      headers['Content-Type'] = options.type;
    }
    for (let attempt = 0; ; attempt += 1) {
      let response;
      try {
        response = await fetch(path, { method, headers, body, cache: 'no-store', credentials: 'omit' });
      } catch (e) {
        if (attempt >= 2) {
          showError({ code: 'network', message_zh: '网络连接失败，请检查网络后重试', message_en: 'No connection; check the network and try again' });
          throw e;
        }
        say('网络不稳定，正在重试…', 'Network trouble; retrying…');
        await sleep(1000 * (attempt + 1));
        continue;
      }
      const type = response.headers.get('content-type') || '';
      const data = type.includes('json') ? await response.json() : await response.blob();
      if (response.status === 401 && headers.Authorization) {
        endSession(data);
        throw new SessionEnded();
      }
      return { status: response.status, ok: response.ok, data };
    }
  }

  /** Back to the phone step (with the registered number's hint), keeping heyan's message. */
  function endSession(body) {
    sessionStorage.removeItem(storeKey);
    state.session = null;
    openPhone()
      .catch(() => {})
      .finally(() => showError(body));
  }

  // ---- views -----------------------------------------------------------------------

  function stopCamera() {
    if (state.stream) state.stream.getTracks().forEach((t) => t.stop());
    state.stream = null;
    state.facing = null;
  }

  function show(view, step) {
    stopCamera();
    clearError();
    $('status').replaceChildren();
    document.body.dataset.view = view;
    const current = step || view;
    const at = STEPS.indexOf(current === 'location' ? 'liveness' : current);
    document.querySelectorAll('#progress li').forEach((li) => {
      const i = STEPS.indexOf(li.dataset.step);
      li.classList.toggle('done', at >= 0 && i < at);
      li.classList.toggle('current', i === at);
      if (i === at) li.setAttribute('aria-current', 'step');
      else li.removeAttribute('aria-current');
    });
    window.scrollTo(0, 0);
  }

  /** Goes to the step the server says is next. */
  function route(appCase) {
    const next = appCase.next_step;
    if (next === 'consent') return openConsent();
    if (next === 'liveness') return show('location');
    if (PHOTO_KINDS.includes(next)) return openPhoto(next);
    return show('complete');
  }

  async function resume() {
    if (!state.session) return openPhone();
    const r = await api('GET', '/app/v1/case');
    if (r.ok) route(r.data);
  }

  // ---- phone -----------------------------------------------------------------------

  async function openPhone() {
    show('phone');
    const r = await api('GET', '/app/v1/entry/' + encodeURIComponent(token), { auth: false });
    if (!r.ok) {
      showError(r.data);
      $('send-code').disabled = true;
      $('sign-in').disabled = true;
      return;
    }
    const info = r.data;
    setText($('entry-info'), `${info.provider} · ${info.domains.join('、')}`, `${info.provider} · ${info.domains.join(', ')}`);
    const hint = info.mobile_hints.join(' / ');
    $('mobile').placeholder = hint;
    setText($('mobile-hint'), `登记的手机号：${hint}`, `The registered number: ${hint}`);
  }

  function countdown(button, secs) {
    button.disabled = true;
    const original = button.cloneNode(true).childNodes;
    const tick = () => {
      if (secs <= 0) {
        button.replaceChildren(...original);
        button.disabled = false;
        return;
      }
      setText(button, `${secs} 秒后可重新获取`, `Ask again in ${secs} s`);
      secs -= 1;
      setTimeout(tick, 1000);
    };
    tick();
  }

  async function sendCode() {
    clearError();
    const mobile = $('mobile').value;
    const r = await api('POST', '/app/v1/sms', { json: { mobile, download_token: token }, auth: false });
    if (!r.ok) return showError(r.data);
    say(r.data.message_zh, r.data.message_en);
    countdown($('send-code'), r.data.resend_after_secs);
    $('sms-code').focus();
  }

  async function signIn() {
    clearError();
    const body = { mobile: $('mobile').value, code: $('sms-code').value, download_token: token };
    const r = await api('POST', '/app/v1/sessions', { json: body, auth: false });
    if (r.status !== 201) return showError(r.data);
    state.session = r.data.token;
    sessionStorage.setItem(storeKey, state.session);
    $('sms-code').value = '';
    route(r.data.case);
  }

  // ---- consent ---------------------------------------------------------------------

  let consent = null;

  async function openConsent() {
    show('consent');
    const r = await api('GET', '/app/v1/consent', { auth: false });
    if (!r.ok) return showError(r.data);
    consent = r.data;
    $('consent-text').textContent = consent.text;
    $('consent-agree').checked = false;
    $('consent-accept').disabled = true;
  }

  async function acceptConsent() {
    const r = await api('POST', '/app/v1/consent', {
      json: { version: consent.version, text_sha256: consent.text_sha256 },
    });
    if (!r.ok) return showError(r.data);
    route(r.data);
  }

  // ---- location --------------------------------------------------------------------

  function locate() {
    clearError();
    $('location-denied').hidden = true;
    if (!navigator.geolocation) return locationDenied();
    say('正在获取位置…', 'Finding your location…');
    navigator.geolocation.getCurrentPosition(
      (position) => {
        state.coords = position.coords;
        openLiveness();
      },
      locationDenied,
      { enableHighAccuracy: true, timeout: 20000, maximumAge: 60000 },
    );
  }

  function locationDenied() {
    $('status').replaceChildren();
    $('location-denied').hidden = false;
    setText($('locate'), '重试', 'Try again');
    document.body.dataset.error = 'location_denied';
  }

  // ---- camera ----------------------------------------------------------------------

  /** Why the camera cannot work here, or null. */
  function cameraProblem() {
    if (!window.isSecureContext) {
      return ['请使用 https:// 开头的链接打开本页，浏览器只在安全连接下允许使用相机。', 'Open this page with an https:// link: browsers allow the camera only over a secure connection.'];
    }
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      if (/MicroMessenger|QQ\/|AlipayClient/i.test(navigator.userAgent)) {
        return ['当前应用内的浏览器无法使用相机：请点击右上角「…」，选择「在浏览器打开」。', 'This in-app browser cannot use the camera: tap “…” in the top-right corner and choose “Open in Browser”.'];
      }
      return ['此浏览器无法使用相机，请换用手机自带的浏览器。', 'This browser cannot use the camera; use the phone’s own browser.'];
    }
    return null;
  }

  function cameraRefused(error) {
    const denied = error && (error.name === 'NotAllowedError' || error.name === 'SecurityError');
    showError(denied
      ? { code: 'camera_denied', message_zh: '未获得相机权限：请在浏览器设置中允许本网页使用相机，然后重试', message_en: 'No camera permission: allow this page to use the camera in the browser settings, then try again' }
      : { code: 'camera_unavailable', message_zh: '无法打开相机，请关闭其他使用相机的应用后重试', message_en: 'The camera did not open; close other apps using it and try again' });
  }

  /** Opens a camera into `video`; iOS shows black unless play() follows srcObject. */
  async function openCamera(video, facingMode) {
    const constraints = { audio: false, video: { facingMode, width: { ideal: 1280 }, height: { ideal: 960 } } };
    const stream = await navigator.mediaDevices.getUserMedia(constraints);
    stopCamera();
    state.stream = stream;
    const track = stream.getVideoTracks()[0];
    state.facing = (track && track.getSettings && track.getSettings().facingMode) || null;
    video.srcObject = stream;
    await video.play();
    if (!video.videoWidth) await new Promise((resolve) => video.addEventListener('loadedmetadata', resolve, { once: true }));
  }

  /** The video's current picture as a JPEG, at most `maxSide` pixels on its long side. */
  function grab(video, maxSide, quality) {
    const scale = Math.min(1, maxSide / Math.max(video.videoWidth, video.videoHeight));
    const canvas = document.createElement('canvas');
    canvas.width = Math.round(video.videoWidth * scale);
    canvas.height = Math.round(video.videoHeight * scale);
    canvas.getContext('2d').drawImage(video, 0, 0, canvas.width, canvas.height);
    return new Promise((resolve) => canvas.toBlob(resolve, 'image/jpeg', quality));
  }

  async function showBlob(img, path) {
    const r = await api('GET', path);
    if (!r.ok) return showError(r.data);
    if (img.src.startsWith('blob:')) URL.revokeObjectURL(img.src);
    img.src = URL.createObjectURL(r.data);
    await img.decode().catch(() => {});
  }

  // ---- liveness --------------------------------------------------------------------

  async function openLiveness() {
    show('liveness');
    $('liveness-review').hidden = true;
    $('liveness-start').hidden = false;
    $('action-prompt').replaceChildren();
    const problem = cameraProblem();
    if (problem) return unavailable(problem);
    try {
      await openCamera($('camera'), 'user');
    } catch (e) {
      cameraRefused(e);
    }
  }

  function speak(text) {
    if (!('speechSynthesis' in window)) return;
    const utterance = new SpeechSynthesisUtterance(text);
    utterance.lang = 'zh-CN';
    window.speechSynthesis.cancel();
    window.speechSynthesis.speak(utterance);
  }

  async function runLiveness() {
    clearError();
    if (!state.stream) {
      try {
        await openCamera($('camera'), 'user');
      } catch (e) {
        return cameraRefused(e);
      }
    }
    if (!state.coords) return show('location');
    const { latitude, longitude, accuracy } = state.coords;
    const r = await api('POST', '/app/v1/liveness/challenge', {
      json: { latitude, longitude, accuracy_m: accuracy },
    });
    if (r.status !== 201) return showError(r.data);
    const challenge = r.data;
    $('liveness-start').hidden = true;
    const perAction = Math.min(challenge.max_frames_per_action, Math.max(challenge.min_frames_per_action, 6));
    const form = new FormData();
    for (const action of challenge.actions) {
      setText($('action-prompt'), action.prompt_zh, action.prompt_en);
      speak(action.prompt_zh);
      await sleep(900);
      for (let i = 0; i < perAction; i += 1) {
        form.append(action.action, await grab($('camera'), 640, 0.85), `${action.action}-${i}.jpg`);
        await sleep(FRAME_GAP_MS);
      }
    }
    setText($('action-prompt'), '正在核验…', 'Checking…');
    const sent = await api('POST', challenge.upload_url, { body: form });
    $('action-prompt').replaceChildren();
    if (!sent.ok) {
      $('liveness-start').hidden = false;
      setText($('liveness-start'), '重新开始', 'Start again');
      return showError(sent.data);
    }
    stopCamera();
    await showBlob($('liveness-preview'), sent.data.preview_url);
    $('liveness-review').hidden = false;
    document.body.dataset.passed = 'liveness';
  }

  // ---- ID photos -------------------------------------------------------------------

  const PHOTO_TEXT = {
    handheld: [['手持身份证照片', 'Photo holding your ID card'], ['请手持身份证人像面放在胸前，露出完整面部，证件清晰无遮挡，背景为白色或浅色墙面。', 'Hold the photo side of your ID card below your face; face fully visible, card clear and not covered, against a white or light wall.']],
    front: [['身份证人像面', 'ID card, photo side'], ['将身份证人像面平放在深色桌面上，四角完整，无反光。', 'Lay the photo side flat on a dark surface, all four corners in the picture, no glare.']],
    back: [['身份证国徽面', 'ID card, emblem side'], ['将身份证国徽面平放在深色桌面上，四角完整，无反光。', 'Lay the emblem side flat on a dark surface, all four corners in the picture, no glare.']],
  };

  function openPhoto(kind) {
    state.kind = kind;
    show('photo', kind);
    document.querySelector('section[data-view="photo"]').dataset.kind = kind;
    const [title, guide] = PHOTO_TEXT[kind];
    setText($('photo-title'), ...title);
    setText($('photo-guide'), ...guide);
    $('photo-review').hidden = true;
    $('photo-finder').hidden = true;
    $('photo-shoot').hidden = true;
    $('photo-camera-open').hidden = cameraProblem() !== null;
    $('photo-choose').hidden = false;
    $('photo-file').value = '';
  }

  async function openPhotoCamera() {
    clearError();
    try {
      // The rear camera where there is one; `ideal` never fails where there is not.
      await openCamera($('photo-camera'), { ideal: 'environment' });
    } catch (e) {
      return cameraRefused(e);
    }
    $('photo-finder').hidden = false;
    $('photo-shoot').hidden = false;
    $('photo-camera-open').hidden = true;
  }

  async function shoot() {
    const mirrored = state.facing === 'user';
    const blob = await grab($('photo-camera'), MAX_PHOTO_SIDE, 0.92);
    stopCamera();
    $('photo-finder').hidden = true;
    $('photo-shoot').hidden = true;
    await upload(blob, mirrored);
  }

  /** A chosen file, turned upright and scaled to at most 2048 px in the page: large phone
   * photos crash pages that upload them whole. Re-encoding also drops EXIF (location). */
  async function downscale(file) {
    const bitmap = await createImageBitmap(file, { imageOrientation: 'from-image' });
    const scale = Math.min(1, MAX_PHOTO_SIDE / Math.max(bitmap.width, bitmap.height));
    const canvas = document.createElement('canvas');
    canvas.width = Math.round(bitmap.width * scale);
    canvas.height = Math.round(bitmap.height * scale);
    canvas.getContext('2d').drawImage(bitmap, 0, 0, canvas.width, canvas.height);
    bitmap.close();
    return new Promise((resolve) => canvas.toBlob(resolve, 'image/jpeg', 0.92));
  }

  async function fileChosen() {
    const file = $('photo-file').files[0];
    if (!file) return;
    clearError();
    let blob;
    try {
      blob = await downscale(file);
    } catch (e) {
      return showError({ code: 'not_an_image', message_zh: '无法读取这张图片，请换一张照片', message_en: 'This picture cannot be read; choose another photo' });
    }
    await upload(blob, false);
  }

  async function upload(blob, mirrored) {
    say('正在上传…', 'Uploading…');
    const r = await api('PUT', '/app/v1/photos/' + state.kind, { body: blob, type: 'image/jpeg' });
    $('status').replaceChildren();
    $('photo-file').value = '';
    if (!r.ok) {
      $('photo-camera-open').hidden = cameraProblem() !== null;
      return showError(r.data);
    }
    $('photo-camera-open').hidden = true;
    $('photo-choose').hidden = true;
    await showBlob($('photo-preview'), r.data.preview_url);
    $('mirror-hint').hidden = !mirrored;
    $('photo-review').hidden = false;
    state.nextCase = r.data.case;
  }

  // ---- completion ------------------------------------------------------------------

  async function getCode() {
    clearError();
    const r = await api('POST', '/app/v1/complete');
    if (r.status !== 201) return showError(r.data);
    $('code-text').textContent = r.data.code;
    $('code-image').src = 'data:image/png;base64,' + r.data.code_png_base64;
    $('code-image').alt = r.data.code;
    const until = new Date(r.data.expires_at).toLocaleString('zh-CN', { hour12: false });
    setText($('code-expiry'), `有效期至 ${until}`, `Valid until ${until}`);
    $('code-box').hidden = false;
    // The code first; asking again becomes the lesser button below it.
    $('code-box').after($('get-code'));
    $('get-code').classList.remove('primary');
    setText($('get-code'), '重新获取验证码', 'Get a new code');
    document.body.dataset.code = r.data.code;
    say(r.data.message_zh, r.data.message_en);
  }

  async function copyCode() {
    const code = $('code-text').textContent;
    try {
      await navigator.clipboard.writeText(code);
      say('已复制', 'Copied');
    } catch (e) {
      window.getSelection().selectAllChildren($('code-text'));
      say('请长按验证码复制', 'Press and hold the code to copy it');
    }
  }

  function unavailable([zh, en]) {
    show('unavailable');
    setText($('unavailable-reason'), zh, en);
  }

  // ---- wiring ----------------------------------------------------------------------

  /** Runs a handler; a SessionEnded is already handled, anything else is shown. */
  function on(id, event, handler) {
    $(id).addEventListener(event, () => {
      handler().catch((e) => {
        if (!(e instanceof SessionEnded) && !document.body.dataset.error) {
          showError({ code: 'page_error' });
        }
      });
    });
  }

  function start() {
    on('lang', 'click', async () => document.body.classList.toggle('lang-en'));
    on('send-code', 'click', sendCode);
    on('sign-in', 'click', signIn);
    on('consent-agree', 'change', async () => {
      $('consent-accept').disabled = !$('consent-agree').checked;
    });
    on('consent-accept', 'click', acceptConsent);
    on('locate', 'click', async () => locate());
    on('liveness-start', 'click', runLiveness);
    on('liveness-retake', 'click', openLiveness);
    on('liveness-next', 'click', resume);
    on('photo-camera-open', 'click', openPhotoCamera);
    on('photo-shoot', 'click', shoot);
    on('photo-file', 'change', fileChosen);
    on('photo-retake', 'click', async () => openPhoto(state.kind));
    on('photo-confirm', 'click', async () => route(state.nextCase));
    on('get-code', 'click', getCode);
    on('copy-code', 'click', copyCode);
    resume().catch((e) => {
      if (!(e instanceof SessionEnded)) showError({ code: 'page_error' });
    });
  }

  start();
})();
