// edgebench preview: the camera (or a photo) -> JPEG frames over a WebSocket -> the device's
// model -> top-5 and timings drawn over the picture. One frame in flight at a time: the next frame
// is captured only when the previous one is answered, so the page stays live on a slow device.
// Everything from the server is put into the page as text (textContent), never as HTML.
(function () {
  "use strict";

  const config = JSON.parse(document.getElementById("preview-config").textContent);
  const $ = (id) => document.getElementById(id);
  const MAGIC = [0x45, 0x42, 0x46, 0x31];   // "EBF1", then a uint32 frame id, then the JPEG
  const HEADER_BYTES = 8;
  const JPEG_QUALITY = 0.8;
  const ANSWER_TIMEOUT_MS = 15000;
  const FPS_WINDOW_MS = 2000;
  const token = new URLSearchParams(location.search).get("token") || "";

  const state = {
    limits: config.limits,
    ws: null,
    open: false,
    retryMs: 500,
    nextId: 1,
    inFlight: null,          // {id, sentAt, encodeMs}
    capturing: false,
    lastSentAt: 0,
    mode: "none",            // camera | photo | none
    paused: false,
    stream: null,
    timer: null,
    results: 0,
    errors: 0,
    dropped: 0,
    answers: [],             // times of recent answers, for fps
    inference: [],           // recent device inference ms, for the median
    fps: 0,
    lastTop1: null,
    photoUrl: null,
  };
  const canvas = document.createElement("canvas");
  const video = $("video");

  // ---------------------------------------------------------------- connection
  function socketUrl() {
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    return scheme + location.host + "/ws" + (token ? "?token=" + encodeURIComponent(token) : "");
  }

  function connect() {
    setConn("connecting", "connecting");
    const ws = new WebSocket(socketUrl());
    let opened = false;
    ws.binaryType = "arraybuffer";
    state.ws = ws;
    ws.onopen = () => {
      opened = true;
      state.open = true;
      state.retryMs = 500;
      state.failedConnects = 0;
      setConn("live", "connected");
      schedule(0);
    };
    ws.onmessage = (event) => {
      if (typeof event.data !== "string") return;
      let message;
      try { message = JSON.parse(event.data); } catch (e) { return; }
      onMessage(message);
    };
    ws.onclose = () => {
      state.open = false;
      state.inFlight = null;
      if (state.ws !== ws) return;
      state.failedConnects = opened ? 0 : (state.failedConnects || 0) + 1;
      if (state.failedConnects >= 3) {
        // A restarted preview has a new token: this page's link no longer opens its WebSocket.
        setConn("down", "cannot reach the device, retrying");
        toast("Cannot reach the preview. If it was restarted, open the new link printed in its " +
              "terminal: the token changes on every start.");
      } else {
        setConn("down", "disconnected, retrying");
      }
      setTimeout(connect, state.retryMs);
      state.retryMs = Math.min(state.retryMs * 2, 10000);
    };
  }

  function setConn(kind, text) {
    const el = $("conn");
    el.className = "conn " + kind;
    el.textContent = text;
  }

  function onMessage(message) {
    switch (message.type) {
      case "hello": onHello(message); break;
      case "result": onResult(message); break;
      case "dropped": onDropped(message); break;
      case "error": onError(message); break;
      default: break;
    }
  }

  function answered(id) {
    if (!state.inFlight || state.inFlight.id !== id) return null;
    const sent = state.inFlight;
    state.inFlight = null;
    return sent;
  }

  function onHello(message) {
    state.limits = message.limits || state.limits;
    $("model").textContent = message.model && message.model.name || config.model.name;
    $("target").textContent = message.target || config.target;
    $("device").textContent = message.device || config.device;
    renderSession(message);
    if (message.hub) renderHub(message.hub);
    sharing(message.clients);
  }

  function onResult(message) {
    const sent = answered(message.id);
    state.results += 1;
    if (!sent && state.mode === "photo") return;   // the camera's last frame, answered after a photo was chosen
    const now = performance.now();
    renderAnswer(message);
    const ms = message.ms || {};
    pushLimited(state.inference, ms.inference, 50);
    $("inference").textContent = fmt(ms.inference);
    if (sent) {
      $("rtt").textContent = fmt(now - sent.sentAt);
      if (state.mode === "camera") {
        state.answers.push(now);
        while (state.answers.length && now - state.answers[0] > FPS_WINDOW_MS) state.answers.shift();
        const span = state.answers.length > 1 ? now - state.answers[0] : 0;
        state.fps = span > 0 ? (state.answers.length - 1) * 1000 / span : 0;
        $("fps").textContent = state.fps > 0 ? state.fps.toFixed(1) : "–";
      } else {
        $("fps").textContent = "–";
      }
      $("breakdown").textContent =
        "encode " + fmt(sent.encodeMs) + " · decode " + fmt(ms.decode) + " · preprocess " + fmt(ms.preprocess) +
        " · wait " + fmt(ms.wait) + " · model " + fmt(ms.inference) + " ms" +
        (message.image ? " · " + message.image[0] + "×" + message.image[1] : "");
    }
    sharing(message.clients);
    updateLiveRow();
    if (sent) schedule(0);
  }

  function onDropped(message) {
    state.dropped += 1;
    const sent = answered(message.id);
    if (sent && state.mode === "photo" && message.reason === "in_flight") {
      // The camera's last frame was still on the model: send the photo again once it is done.
      setTimeout(() => sendPhoto($("photo-view")), 200);
      return;
    }
    if (sent) schedule(message.reason === "rate" ? 1000 / state.limits.max_fps : 0);
  }

  function onError(message) {
    state.errors += 1;
    const sent = answered(message.id);
    const text = (message.code === "too_many_clients" ? "" : "Frame refused: ") + (message.message || message.code);
    toast(text);
    if (sent) schedule(250);
  }

  // ---------------------------------------------------------------- capture and send
  function schedule(delayMs) {
    if (state.timer !== null) clearTimeout(state.timer);
    state.timer = setTimeout(() => { state.timer = null; captureFrame(); }, Math.max(0, delayMs));
  }

  function captureFrame() {
    if (state.mode !== "camera" || state.paused || document.hidden || !state.open) return;
    if (state.capturing) return;
    if (state.inFlight) {
      if (performance.now() - state.inFlight.sentAt > ANSWER_TIMEOUT_MS) {
        state.inFlight = null;   // lost (the server answers every frame): do not stall for ever
        toast("No answer for " + ANSWER_TIMEOUT_MS / 1000 + " s; sending the next frame");
      } else {
        schedule(ANSWER_TIMEOUT_MS);
        return;
      }
    }
    if (video.readyState < 2 || !video.videoWidth) { schedule(50); return; }
    const wait = state.lastSentAt + 1000 / state.limits.max_fps - performance.now();
    if (wait > 0) { schedule(wait); return; }
    encode(video, video.videoWidth, video.videoHeight).then(sendEncoded, () => schedule(100));
  }

  function encode(source, width, height) {
    const scale = Math.min(1, state.limits.max_side / Math.max(width, height));
    canvas.width = Math.max(1, Math.round(width * scale));
    canvas.height = Math.max(1, Math.round(height * scale));
    const started = performance.now();
    canvas.getContext("2d").drawImage(source, 0, 0, canvas.width, canvas.height);
    state.capturing = true;
    return new Promise((resolve, reject) => {
      canvas.toBlob((blob) => {
        if (!blob) { state.capturing = false; reject(new Error("encoding failed")); return; }
        blob.arrayBuffer().then((buffer) => {
          state.capturing = false;
          resolve({buffer, encodeMs: performance.now() - started});
        }, (e) => { state.capturing = false; reject(e); });
      }, "image/jpeg", JPEG_QUALITY);
    });
  }

  function sendEncoded(encoded) {
    if (!state.open || state.inFlight) return;
    const id = state.nextId;
    state.nextId = (state.nextId % 0xfffffff0) + 1;
    const message = new Uint8Array(HEADER_BYTES + encoded.buffer.byteLength);
    message.set(MAGIC, 0);
    new DataView(message.buffer).setUint32(4, id, false);
    message.set(new Uint8Array(encoded.buffer), HEADER_BYTES);
    state.inFlight = {id, sentAt: performance.now(), encodeMs: encoded.encodeMs};
    state.lastSentAt = state.inFlight.sentAt;
    state.ws.send(message);
  }

  // ---------------------------------------------------------------- camera, photo
  async function startCamera() {
    if (!window.isSecureContext || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      explainInsecure();
      return;
    }
    try {
      const stream = await navigator.mediaDevices.getUserMedia({
        audio: false,
        video: {facingMode: {ideal: "environment"}, width: {ideal: 640}, height: {ideal: 480}},
      });
      state.stream = stream;
      video.srcObject = stream;
      await video.play().catch(() => {});
      showCamera();
    } catch (error) {
      explainCameraError(error);
    }
  }

  function showCamera() {
    if (state.photoUrl) { URL.revokeObjectURL(state.photoUrl); state.photoUrl = null; }
    $("photo-view").hidden = true;
    video.hidden = false;
    $("notice").hidden = true;
    $("pause").hidden = false;
    $("camera-button").hidden = true;
    state.mode = "camera";
    state.answers = [];
    schedule(0);
  }

  function notice(title, text, hint) {
    $("notice-title").textContent = title;
    $("notice-text").textContent = text;
    $("notice-hint").textContent = hint || "";
    $("notice").hidden = false;
    renderPlaceholder("no camera: take or choose a photo");
  }

  function explainInsecure() {
    notice("Camera unavailable on this page",
      "Browsers give the camera only to secure pages: HTTPS, or a page the phone serves itself. " +
      "This page came over plain HTTP from " + location.host + ".",
      "For the camera, restart the preview with --tls (edgebench preview --host 0.0.0.0 --tls) and open its " +
      "new link. The phone will warn once that the certificate is self-signed: that is expected, and the " +
      "page explains it then. Meanwhile, a photo works, one at a time:");
  }

  function explainCameraError(error) {
    const name = error && error.name;
    let text = "The camera could not be opened (" + (name || "error") + ": " + (error && error.message || "") + ").";
    if (name === "NotAllowedError" || name === "SecurityError") {
      text = "Camera permission was refused. Allow the camera for this page in the browser's site settings and reload.";
    } else if (name === "NotFoundError" || name === "OverconstrainedError") {
      text = "No camera was found on this device.";
    } else if (name === "NotReadableError") {
      text = "The camera is in use by another app. Close it and reload.";
    }
    notice("Camera unavailable", text, "A photo works one image at a time:");
  }

  function onPhotoChosen(event) {
    const file = event.target.files && event.target.files[0];
    event.target.value = "";
    if (!file) return;
    const url = URL.createObjectURL(file);
    const img = $("photo-view");
    img.onload = () => {
      if (state.photoUrl && state.photoUrl !== url) URL.revokeObjectURL(state.photoUrl);
      state.photoUrl = url;
      state.mode = "photo";
      video.hidden = true;
      img.hidden = false;
      $("notice").hidden = true;
      $("pause").hidden = true;
      $("camera-button").hidden = !state.stream;
      $("fps").textContent = "–";
      sendPhoto(img);
    };
    img.onerror = () => { URL.revokeObjectURL(url); toast("This file is not an image the browser can open."); };
    img.src = url;
  }

  function sendPhoto(img) {
    if (!state.open) { toast("Not connected to the device yet; choose the photo again in a moment."); return; }
    state.inFlight = null;   // a photo replaces whatever the camera had in flight
    renderPlaceholder("classifying the photo");
    encode(img, img.naturalWidth, img.naturalHeight).then(sendEncoded, () => toast("Could not encode the photo."));
  }

  // ---------------------------------------------------------------- drawing
  function fmt(value) {
    if (typeof value !== "number" || !isFinite(value)) return "–";
    return value >= 100 ? value.toFixed(0) : value.toFixed(1);
  }

  function pushLimited(list, value, size) {
    if (typeof value !== "number" || !isFinite(value)) return;
    list.push(value);
    if (list.length > size) list.shift();
  }

  function median(values) {
    if (!values.length) return null;
    const sorted = values.slice().sort((a, b) => a - b);
    const mid = sorted.length >> 1;
    return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  }

  function renderPlaceholder(text) {
    drawOverlay(null);
    const list = $("top5");
    list.replaceChildren();
    const li = document.createElement("li");
    li.className = "placeholder";
    li.textContent = text;
    list.appendChild(li);
    list.classList.add("empty");
  }

  function renderTop5(top5) {
    const list = $("top5");
    list.replaceChildren();
    list.classList.remove("empty");
    top5.forEach((p, i) => {
      const li = document.createElement("li");
      if (i === 0) li.className = "first";
      const bar = document.createElement("span");
      bar.className = "bar";
      bar.style.width = Math.max(0, Math.min(100, p.score * 100)).toFixed(1) + "%";
      const label = document.createElement("span");
      label.className = "label";
      label.textContent = p.label;
      const score = document.createElement("span");
      score.className = "score";
      score.textContent = (p.score * 100).toFixed(1) + "%";
      li.append(bar, label, score);
      list.appendChild(li);
    });
    state.lastTop1 = top5.length ? top5[0].label : null;
  }

  // ---------------------------------------------------------------- the task's answer
  // A classifier's top-5 as bars; any other task's one-line answer, with its overlay drawn on a
  // canvas over the picture: boxes, a class map, a skeleton. Overlay positions are relative to
  // the frame that was sent, mapped onto the picture as the page shows it (cover or contain).
  const PALETTE = ["#e6194b", "#3cb44b", "#ffe119", "#4363d8", "#f58231", "#911eb4", "#46f0f0",
                   "#f032e6", "#bcf60c", "#fabebe", "#008080", "#e6beff", "#9a6324", "#fffac8",
                   "#800000", "#aaffc3", "#808000", "#ffd8b1", "#000075", "#808080"];

  function renderAnswer(message) {
    const answer = message.answer || {};
    if ((message.top5 || []).length || !answer.summary) {
      renderTop5(message.top5 || []);
    } else {
      const list = $("top5");
      list.replaceChildren();
      list.classList.remove("empty");
      const li = document.createElement("li");
      li.className = "first summary";
      const label = document.createElement("span");
      label.className = "label";
      label.textContent = answer.summary;
      li.append(label);
      list.appendChild(li);
      state.lastTop1 = answer.summary;
    }
    drawOverlay(answer.overlay || null, message.image);
  }

  function shownRect() {
    // Where the frame is drawn inside the stage: covering it or contained in it (object-fit).
    const photo = state.mode === "photo";
    const el = photo ? $("photo-view") : video;
    const nw = photo ? el.naturalWidth : video.videoWidth;
    const nh = photo ? el.naturalHeight : video.videoHeight;
    const W = el.clientWidth, H = el.clientHeight;
    if (!nw || !nh || !W || !H) return null;
    const contain = getComputedStyle(el).objectFit === "contain";
    const scale = contain ? Math.min(W / nw, H / nh) : Math.max(W / nw, H / nh);
    const w = nw * scale, h = nh * scale;
    return {x: (W - w) / 2, y: (H - h) * (contain ? 0.3 : 0.5), w: w, h: h};
  }

  function drawOverlay(overlay, imageSize) {
    const layer = $("overlay");
    const stage = $("stage");
    const ratio = window.devicePixelRatio || 1;
    layer.width = Math.round(stage.clientWidth * ratio);
    layer.height = Math.round(stage.clientHeight * ratio);
    const ctx = layer.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, stage.clientWidth, stage.clientHeight);
    // A task that answers with positions shows the whole frame the model saw (a cropped view
    // would hide what it found near the edges).
    stage.classList.toggle("whole", !!overlay && ["detection", "segmentation", "pose"].includes(overlay.kind));
    const rect = shownRect();
    if (!overlay || !rect) { layer.hidden = true; return; }
    layer.hidden = false;
    if (overlay.kind === "detection") drawBoxes(ctx, rect, overlay.boxes || []);
    else if (overlay.kind === "segmentation") drawClassMap(ctx, rect, overlay);
    else if (overlay.kind === "pose") drawSkeleton(ctx, rect, overlay.keypoints || [], overlay.skeleton || []);
    else layer.hidden = true;
  }

  function drawBoxes(ctx, rect, boxes) {
    ctx.lineWidth = 3;
    ctx.font = "600 14px system-ui, sans-serif";
    ctx.textBaseline = "top";
    boxes.forEach((b) => {
      const [ymin, xmin, ymax, xmax] = b.box;
      const x = rect.x + xmin * rect.w, y = rect.y + ymin * rect.h;
      const w = (xmax - xmin) * rect.w, h = (ymax - ymin) * rect.h;
      const colour = PALETTE[b.index % PALETTE.length];
      ctx.strokeStyle = colour;
      ctx.strokeRect(x, y, w, h);
      const text = b.label + " " + Math.round(b.score * 100) + "%";
      const width = ctx.measureText(text).width + 8;
      const top = y >= 20 ? y - 20 : y;
      const left = Math.max(0, Math.min(x - 1.5, ctx.canvas.clientWidth - width));   // kept on screen
      ctx.fillStyle = colour;
      ctx.fillRect(left, top, width, 20);
      ctx.fillStyle = "#000";
      ctx.fillText(text, left + 4.5, top + 3);
    });
  }

  function drawClassMap(ctx, rect, overlay) {
    const [h, w] = overlay.shape;
    const bytes = Uint8Array.from(atob(overlay.classes), (c) => c.charCodeAt(0));
    if (bytes.length !== h * w) return;
    const small = document.createElement("canvas");
    small.width = w;
    small.height = h;
    const image = small.getContext("2d").createImageData(w, h);
    for (let i = 0; i < bytes.length; i++) {
      if (bytes[i] === 0) continue;   // class 0 (background) left clear
      const hex = PALETTE[bytes[i] % PALETTE.length];
      image.data[4 * i] = parseInt(hex.slice(1, 3), 16);
      image.data[4 * i + 1] = parseInt(hex.slice(3, 5), 16);
      image.data[4 * i + 2] = parseInt(hex.slice(5, 7), 16);
      image.data[4 * i + 3] = 120;
    }
    small.getContext("2d").putImageData(image, 0, 0);
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(small, rect.x, rect.y, rect.w, rect.h);
  }

  function drawSkeleton(ctx, rect, keypoints, bones) {
    const at = (k) => [rect.x + k[1] * rect.w, rect.y + k[0] * rect.h];
    const visible = (k) => k && k[2] >= 0.2;
    ctx.lineWidth = 4;
    ctx.strokeStyle = "#46f0f0";
    bones.forEach(([a, b]) => {
      if (!visible(keypoints[a]) || !visible(keypoints[b])) return;
      const [x1, y1] = at(keypoints[a]), [x2, y2] = at(keypoints[b]);
      ctx.beginPath();
      ctx.moveTo(x1, y1);
      ctx.lineTo(x2, y2);
      ctx.stroke();
    });
    ctx.fillStyle = "#ffe119";
    keypoints.forEach((k) => {
      if (!visible(k)) return;
      const [x, y] = at(k);
      ctx.beginPath();
      ctx.arc(x, y, 5, 0, 2 * Math.PI);
      ctx.fill();
    });
  }

  let toastTimer = null;
  function toast(text) {
    const el = $("toast");
    el.textContent = text;
    el.hidden = false;
    if (toastTimer) clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { el.hidden = true; }, 5000);
  }

  function sharing(clients) {
    if (typeof clients !== "number") return;
    const sub = clients > 1 ? " · " + clients + " pages share the model" : "";
    $("conn").textContent = state.open ? "connected" + sub : $("conn").textContent;
  }

  function renderSession(hello) {
    const rows = [
      ["model", hello.model && hello.model.name],
      ["source", hello.model && hello.model.source],
      ["target", hello.target],
      ["device", hello.device],
      ["input", hello.session && hello.session.input],
      ["labels", hello.session && hello.session.labels],
      ["settings", hello.session && Object.entries(hello.session.settings || {}).map(([k, v]) => k + " " + v).join(", ")],
      ["limits", hello.limits && ("up to " + hello.limits.max_fps + " fps and " +
        Math.round(hello.limits.max_frame_bytes / 1024) + " KiB per frame; " + hello.limits.max_clients + " pages at once")],
    ];
    const dl = $("session");
    dl.replaceChildren();
    rows.filter(([, v]) => v).forEach(([k, v]) => {
      const dt = document.createElement("dt");
      dt.textContent = k;
      const dd = document.createElement("dd");
      dd.textContent = String(v);
      dl.append(dt, dd);
    });
    $("max-side").textContent = String(state.limits.max_side);
  }

  function cell(row, text, numeric) {
    const td = document.createElement("td");
    td.textContent = text;
    if (numeric) td.className = "num";
    row.appendChild(td);
    return td;
  }

  function deviceCell(row, device, detail) {
    const td = document.createElement("td");
    const name = document.createElement("div");
    name.className = "device";
    name.textContent = device;
    const sub = document.createElement("div");
    sub.className = "detail";
    sub.textContent = detail;
    td.append(name, sub);
    row.appendChild(td);
  }

  function renderHub(hub) {
    $("hub").hidden = false;
    $("hub-ref").textContent = hub.ref + (hub.version ? "@" + hub.version : "");
    const body = $("hub-table").tBodies[0];
    body.replaceChildren();
    const live = document.createElement("tr");
    live.className = "live";
    live.id = "live-row";
    deviceCell(live, "this device, live", [config.target, hub.version ? "v" + hub.version : "", config.device]
      .filter(Boolean).join(" · "));
    cell(live, "–", true).id = "live-median";
    cell(live, "–", true).id = "live-fps";
    body.appendChild(live);
    const results = (hub.results || []).slice().sort((a, b) => (b.fps || 0) - (a.fps || 0));
    results.forEach((r) => {
      const tr = document.createElement("tr");
      if (r.target === config.target) tr.className = "same-target";
      deviceCell(tr, r.device || "?", (r.target || "?") + (r.version ? " · v" + r.version : ""));
      cell(tr, fmt(r.median_ms), true);
      cell(tr, fmt(r.fps), true);
      body.appendChild(tr);
    });
    let note = results.length
      ? "Published figures are each device's timed benchmark loop (edgebench run). The live row is this " +
        "page: its median is the model alone on this device; its fps counts frames through the camera, " +
        "the network and the model."
      : "Nobody has published results for this model yet (edgebench hub push).";
    if (hub.error) note = "The hub could not be asked: " + hub.error;
    $("hub-note").textContent = note;
  }

  function updateLiveRow() {
    if (!$("live-row")) return;
    const m = median(state.inference);
    $("live-median").textContent = m === null ? "–" : fmt(m);
    $("live-fps").textContent = state.mode === "camera" && state.fps > 0 ? state.fps.toFixed(1) : "–";
  }

  // ---------------------------------------------------------------- start
  function start() {
    if (config.tls && config.tls.self_signed && location.protocol === "https:") {
      $("tls-about").hidden = false;   // the fingerprint is checked in the browser's certificate viewer
    }
    if (config.hub) renderHub(config.hub);
    $("max-side").textContent = String(state.limits.max_side);
    $("photo").addEventListener("change", onPhotoChosen);
    $("pause").addEventListener("click", () => {
      state.paused = !state.paused;
      $("pause").textContent = state.paused ? "Resume" : "Pause";
      if (!state.paused) schedule(0);
    });
    $("camera-button").addEventListener("click", showCamera);
    document.addEventListener("visibilitychange", () => { if (!document.hidden) schedule(0); });
    connect();
    startCamera();
  }

  // For tests and the curious: the page's counters, and a way to send raw bytes on its socket.
  window.edgebenchPreview = {
    stats: () => ({results: state.results, errors: state.errors, dropped: state.dropped, fps: state.fps,
                   top1: state.lastTop1, mode: state.mode, open: state.open}),
    sendRaw: (bytes) => { if (state.open) state.ws.send(bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes)); },
  };

  start();
})();
