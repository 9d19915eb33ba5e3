/*
 * framerun adapter: <video> elements, seeked to the exact frame.
 *
 * Media elements play on the wall clock, so the runtime takes them over: every
 * <video> in the document is paused (play() on one does nothing) and, on each
 * seek, set to the source time for that frame; the frame is captured only
 * after the element reports 'seeked' and has presented the decoded frame
 * (requestVideoFrameCallback), both bounded in real time.
 *
 * When a clip shows follows the one clip-timing resolver (hyperframes.js's
 * mediaWindow, twin of timing.py that the audio mix uses), so a clip's picture
 * and sound agree:
 *   data-start        composition seconds the clip starts at, or "intro",
 *                     "intro + 2", "intro - 0.5": the end of #intro
 *   data-duration     how long it shows (legacy: data-end); default: until the
 *                     source ends, or forever with `loop`
 *   data-playback-start  offset into the source (data-media-start if absent)
 *   loop              back to that offset when the source ends
 * Nested composition hosts (an ancestor with data-composition-id inside the
 * root) start it with them and cut it at their end; data-hf-media-start-basis=
 * "global" makes data-start root time. A clip with data-start (or inside a
 * host) is hidden (visibility: hidden) outside [start, end) and holds its last
 * frame when its data-duration outlasts the source; a plain <video> plays from
 * 0 and holds its last frame, as a browser shows it.
 *
 * Sources the engine can decode (every site video without alpha that PyAV reads:
 * config.videoFrames, videoframes.py) are not played by the element at all. It
 * loses its source, and each frame its picture arrives as the element's poster,
 * decoded and encoded by the engine; the element keeps its CSS and its place, and
 * reads as a loaded, paused element of the source: its duration and size, the
 * currentTime a script set, and the media events (loadedmetadata, seeked) a script
 * waits on. Other videos are seeked as below.
 *
 * Frame N of the composition shows the source frame on screen at
 * t = N / fps: we aim a little into that frame (AIM_S) rather than at its
 * first instant, because containers round timestamps (WebM to 1 ms) and
 * N / fps exactly can land on frame N - 1. (The middle of the source frame
 * would need the source frame rate, which media elements do not expose.)
 */
(function () {
  "use strict";
  const fr = window.__framerun;
  if (!fr || !fr.registerAdapter) return;
  const { real, record } = fr.__internal;
  const LOAD_TIMEOUT_MS = 15000;
  const FRAME_TIMEOUT_MS = 5000;
  const POLL_MS = 10;
  const HAVE_METADATA = 1, HAVE_CURRENT_DATA = 2, HAVE_ENOUGH_DATA = 4;
  const AIM_S = Math.min(0.004, 0.25 / fr.fps);
  const FRAMES = fr.config.videoFrames || { path: "", sources: {} };

  // The runtime owns playback of the document's videos.
  if (window.HTMLMediaElement) {
    const play = HTMLMediaElement.prototype.play;
    HTMLMediaElement.prototype.play = function () {
      if (this instanceof HTMLVideoElement && this.isConnected) return Promise.resolve();
      return play.apply(this, arguments);
    };
  }

  const label = (v) => (v.id ? `<video id="${v.id}">` : `<video src="${v.getAttribute("src") || v.currentSrc}">`);
  const reported = new WeakSet();
  function fail(v, message) {
    if (reported.has(v)) return;
    reported.add(v);
    record("adapter video", `${label(v)}: ${message}`);
  }

  // ------------------------------------------------------------------ timing
  // When a clip shows is the one clip-timing resolver's answer (adapters/hyperframes.js,
  // twin of service/framerun_service/render/timing.py, which the audio mix uses), so picture and sound agree.
  const ROOT_MARKS = ["data-composition-id", "data-width", "data-height", "data-fps", "data-duration"];
  function clipOf(v) {
    const w = window.__framerunHyperframes.mediaWindow(v);
    let marked = 0; // composition elements around v: more than the root means a nested host
    for (let n = v.parentElement; n; n = n.parentElement) if (ROOT_MARKS.some((a) => n.hasAttribute(a))) marked++;
    return {
      start: w.start,
      end: w.end,
      mediaStart: w.trim,
      source: Number.isFinite(v.duration) && v.duration > 0 ? v.duration : null,
      timed: v.hasAttribute("data-start") || marked > 1,
    };
  }
  // Seconds into the source that composition time t shows.
  function sourceTime(v, clip, t) {
    let at = Math.max(0, t - clip.start + clip.mediaStart);
    if (clip.source === null) return at;
    const span = clip.source - clip.mediaStart;
    if (v.loop && span > 0 && at >= clip.source) at = clip.mediaStart + ((at - clip.mediaStart) % span);
    return Math.min(at + AIM_S, clip.source); // past the end: the last frame
  }

  // ---------------------------------------------------------------- posters
  const posters = new WeakMap(); // video -> { sitePath, shown, preload, overrides }
  function posterSource(v) {
    const src = v.getAttribute("src");
    if (!src || v.querySelector("source")) return null;
    let url;
    try {
      url = new URL(src, document.baseURI);
    } catch (e) {
      return null;
    }
    const sitePath = url.origin === location.origin ? decodeURIComponent(url.pathname) : "";
    return Object.prototype.hasOwnProperty.call(FRAMES.sources, sitePath) ? sitePath : null;
  }
  // The element stops loading its source and reads as the source would: loaded,
  // paused, and seekable. Page scripts often wait on its media events (a seek they
  // started from 'loadedmetadata', or one they start later); they get the events the
  // element would have sent, or they would wait forever on an element with no source.
  function detach(v, sitePath) {
    const info = FRAMES.sources[sitePath];
    const wasSeeking = v.seeking;
    const hadMetadata = v.readyState >= HAVE_METADATA;
    let current = v.currentTime;
    v.removeAttribute("src");
    v.load(); // removing src alone keeps the loaded resource
    const send = (...names) => real.setTimeout(() => names.forEach((name) => v.dispatchEvent(new Event(name))), 0);
    const reads = (value) => ({ configurable: true, get: () => value });
    const overrides = {
      duration: reads(info.duration),
      videoWidth: reads(info.width),
      videoHeight: reads(info.height),
      readyState: reads(HAVE_ENOUGH_DATA),
      seeking: reads(false),
      currentTime: {
        configurable: true,
        get: () => current,
        set: (value) => {
          const t = Number(value);
          if (!Number.isFinite(t)) throw new TypeError(`${label(v)}: currentTime must be a finite number`);
          current = Math.min(Math.max(t, 0), info.duration);
          send("seeking", "timeupdate", "seeked");
        },
      },
    };
    Object.defineProperties(v, overrides);
    posters.set(v, { sitePath, shown: null, preload: null, overrides: Object.keys(overrides) });
    if (!hadMetadata) send("durationchange", "loadedmetadata", "loadeddata", "canplay", "canplaythrough");
    if (wasSeeking) send("seeked");
  }
  // A script gave a taken-over element a new source: it reads as a plain element again.
  function reattach(v) {
    posters.get(v).overrides.forEach((name) => delete v[name]);
    posters.delete(v);
    prepared.delete(v);
  }
  // Show the source's picture at `target` s as the poster, once it is decoded.
  async function showPoster(v, poster, target) {
    const url = `${FRAMES.path}${encodeURI(poster.sitePath)}?t=${target.toFixed(6)}`;
    if (poster.shown === url) return;
    const img = document.createElement("img");
    img.src = url;
    const decoded = img.decode().then(() => true, () => false);
    if (!(await within(decoded, FRAME_TIMEOUT_MS)) || !(await decoded)) {
      record("adapter video", `${label(v)}: no picture at ${target.toFixed(3)} s within ${FRAME_TIMEOUT_MS} ms`);
      return;
    }
    poster.preload = img; // held, so the poster finds the picture decoded
    v.poster = url;
    poster.shown = url;
  }

  // ---------------------------------------------------------------- loading
  const prepared = new WeakSet();
  function hasSource(v) {
    if (posters.has(v)) return false; // the engine shows its pictures
    return !!(v.getAttribute("src") || v.currentSrc || v.querySelector("source[src]"));
  }
  function prepare(v) {
    if (prepared.has(v)) return;
    prepared.add(v);
    const sitePath = posterSource(v);
    if (sitePath !== null) return detach(v, sitePath);
    v.autoplay = false;
    if (!v.paused) v.pause();
    if (v.preload !== "auto") {
      v.preload = "auto";
      if (v.readyState === 0 && hasSource(v)) v.load(); // preload="none" never starts by itself
    }
  }
  function loaded(videos) {
    const waiting = videos.filter((v) => hasSource(v) && v.readyState < HAVE_CURRENT_DATA && !v.error);
    if (!waiting.length) return null;
    const deadline = real.Date.now() + LOAD_TIMEOUT_MS;
    return new Promise((resolve) => {
      (function poll() {
        const left = waiting.filter((v) => v.readyState < HAVE_CURRENT_DATA && !v.error);
        if (!left.length || real.Date.now() >= deadline) {
          left.forEach((v) => fail(v, `no frame after ${LOAD_TIMEOUT_MS} ms; check that the file exists and is complete`));
          waiting.filter((v) => v.error).forEach((v) => fail(v, `cannot be played (MediaError ${v.error.code}${v.error.message ? ": " + v.error.message : ""}); use VP9/AV1 WebM or H.264 MP4`));
          return resolve();
        }
        real.setTimeout(poll, POLL_MS);
      })();
    });
  }

  // ------------------------------------------------------------------- seek
  const visibility = new WeakMap(); // the page's own inline visibility, restored when active
  function setActive(v, active) {
    if (!visibility.has(v)) visibility.set(v, v.style.visibility);
    const want = active ? visibility.get(v) : "hidden";
    if (v.style.visibility !== want) v.style.visibility = want;
  }
  function within(promise, ms) {
    return Promise.race([promise.then(() => true), new Promise((r) => real.setTimeout(() => r(false), ms))]);
  }
  // Set currentTime and wait until the decoded frame is on screen.
  async function show(v, target) {
    if (!v.seeking && Math.abs(v.currentTime - target) < 1e-6) return; // already there (no new frame would come)
    const waits = [new Promise((r) => v.addEventListener("seeked", r, { once: true }))];
    if (typeof v.requestVideoFrameCallback === "function" && v.getClientRects().length) {
      waits.push(new Promise((resolve) => {
        const onFrame = (now, meta) => {
          // A frame later than the target is a stale one from before the seek.
          if (meta && meta.mediaTime > target + 1e-3) v.requestVideoFrameCallback(onFrame);
          else resolve();
        };
        v.requestVideoFrameCallback(onFrame);
      }));
    }
    v.currentTime = target;
    if (!(await within(Promise.all(waits), FRAME_TIMEOUT_MS))) {
      record("adapter video", `${label(v)}: frame at ${target.toFixed(3)} s not shown within ${FRAME_TIMEOUT_MS} ms`);
    }
  }
  async function sync(v, t) {
    if (posters.has(v) && v.getAttribute("src")) reattach(v); // start over with the new source
    prepare(v);
    const poster = posters.get(v);
    if (!poster) {
      if (!hasSource(v)) return;
      if (!v.paused) v.pause();
      await loaded([v]);
    }
    const clip = clipOf(v);
    const active = t >= clip.start - 1e-9 && t < clip.end - 1e-9;
    if (clip.timed) setActive(v, active);
    if (clip.timed && !active) return;
    if (poster) await showPoster(v, poster, sourceTime(v, clip, t));
    else if (v.readyState >= HAVE_CURRENT_DATA) await show(v, sourceTime(v, clip, t));
  }

  function videos() {
    return Array.from(document.querySelectorAll("video"));
  }
  async function ready() {
    const list = videos();
    list.forEach(prepare);
    await loaded(list);
  }
  async function seek(ms) {
    await Promise.all(videos().map((v) => sync(v, ms / 1000).catch((e) => record("adapter video", e))));
  }

  fr.registerAdapter({ name: "video", ready, seek });
})();
