/*
 * framerun seek runtime — injected (as a script every new document runs first, cdppage.py) before any
 * page script, right after `window.__FRAMERUN_CONFIG__ = {...}`.
 *
 * The renderer captures frames in arbitrary order, possibly in a fresh page per
 * worker, so the page must never observe wall-clock time. We freeze every clock
 * the page can read and let time move only through `__framerun.seek(ms)`, which
 * is *absolute*: frame N must look the same whatever was rendered before it.
 *
 * Public API (window.__framerun === window.__hyperframes):
 *   ready()          -> Promise: load event + fonts + <img> decode (no virtual time involved)
 *   seek(ms)         -> Promise<ms>: show exactly time ms; seeks are serialized
 *   time()           -> current virtual time in ms
 *   fps, width, height, duration, seed, config
 *   getVariables()   -> deep copy of config.variables
 *   delay(promise)   -> make the next seek() wait for `promise` (returns it)
 *   errors           -> strings describing exceptions thrown by page callbacks
 *   preroll(from, to, budgetMs?) -> Promise<next>: move time through frames [from, to)
 *                      without drawing them; stops early after budgetMs of real time
 *   registerAdapter({name, ready?, seek, preroll?}) -> hook a library into ready()/seek()
 *
 * Continuous time. A page's scripts can keep state across ticks (d3-timer treats a
 * jump of over a second as sleep, anime.js composes tweens in seek order, GSAP
 * .call() and rAF simulations count frames), so frame N may depend on every frame
 * before it. A chunk that starts at frame N > 0 in a fresh page first calls
 * preroll(0, N): the same timers, rAF callbacks, GSAP moves and stateful adapters
 * run at every frame time, but nothing that only paints (CSS/WAAPI positioning,
 * SMIL, <video> seeks, layout, fonts, images) does. Frame N is then the same
 * pixels whatever the chunking, the worker count or the machine.
 *
 * Limitations (by design):
 *   - Backward seeks only move the clock: timers that already fired are not
 *     re-run and DOM mutations they made are not undone. Timeline-style content
 *     (CSS/WAAPI/GSAP/rAF-drawn-from-timestamp) seeks correctly in both directions.
 *   - Pages that control their own WAAPI/CSS animation playback get overridden:
 *     every animation is paused and positioned at (t - birth). A CSS transition's
 *     birth is the virtual time of the timer/rAF batch whose style change
 *     started it; seeking before a birth shows the animation's before-phase.
 *   - GSAP's root timeline keeps completed tweens (autoRemoveChildren=false) so
 *     backward seeks work; pages spawning endless tweens grow memory.
 *   - Math.random is reseeded per frame (rAF) and per timer due time, so draws
 *     are reproducible but not one continuous stream.
 *   - crypto.getRandomValues, event.timeStamp and document.timeline.currentTime
 *     are not virtualized. <video> is seeked frame-exactly by adapters/video.js;
 *     <audio> is never played in the page (audio.py mixes it at assemble).
 */
(function () {
  "use strict";
  if (window.__framerun && window.__framerun.__isFramerunRuntime) return; // injected twice

  // Cross-origin iframes can't be driven by the top frame's seek(); freezing
  // their clocks would stall them forever, so leave them on real time.
  if (window !== window.top) {
    try { void window.top.location.href; } catch (e) { return; }
  }

  const cfg = Object.assign({ fps: 30, width: 0, height: 0, duration: 0, variables: {}, seed: 0 },
                            window.__FRAMERUN_CONFIG__ || {});
  const fps = Number(cfg.fps) > 0 ? Number(cfg.fps) : 30;
  const seed = (Number(cfg.seed) || 0) >>> 0;
  const EPOCH = 1704067200000; // 2024-01-01T00:00:00Z: fixed so Date output is reproducible

  // Keep the real primitives: the runtime itself needs real async plumbing.
  const real = {
    Date: window.Date,
    setTimeout: window.setTimeout.bind(window),
    MessageChannel: window.MessageChannel,
  };
  const errors = [];
  function record(where, e) {
    if (errors.length < 1000) errors.push(where + ": " + ((e && (e.stack || e.message)) || String(e)));
  }

  let clock = 0; // virtual ms since composition start

  // ---------------------------------------------------------------- random
  // mulberry32: tiny, fast, and good enough to make visuals reproducible.
  let rngState = 0;
  function reseed(...parts) {
    let h = 0x9e3779b9 ^ seed;
    for (const p of parts) { h = Math.imul(h ^ (p >>> 0), 0x85ebca6b); h ^= h >>> 13; h = Math.imul(h, 0xc2b2ae35); h ^= h >>> 16; }
    rngState = h >>> 0;
  }
  Math.random = function random() {
    let t = (rngState = (rngState + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  reseed(0xabc); // load-time draws depend only on config.seed
  const frameOf = (ms) => Math.round((ms * fps) / 1000);

  // ------------------------------------------------------------------ clocks
  const nowMs = () => Math.floor(EPOCH + clock);
  function FDate(...args) {
    if (!new.target) return new real.Date(nowMs()).toString(); // Date() called as a function
    return Reflect.construct(real.Date, args.length ? args : [nowMs()], new.target);
  }
  FDate.prototype = real.Date.prototype; // keeps `instanceof Date` and all methods
  FDate.prototype.constructor = FDate;
  FDate.now = nowMs;
  FDate.UTC = real.Date.UTC;
  FDate.parse = real.Date.parse;
  window.Date = FDate;
  try { performance.now = () => clock; } catch (e) { record("performance.now", e); }

  // ------------------------------------------------------------------ timers
  // Timers live in a virtual queue ordered by (due, seq); seek() drains it.
  const timers = new Map();
  let timerSeq = 0, nesting = 0;
  function addTimer(fn, delay, args, repeat) {
    if (typeof fn !== "function") { const src = String(fn); fn = () => (0, eval)(src); }
    delay = Math.max(0, Number(delay) || 0);
    if (nesting >= 5) delay = Math.max(delay, 4); // HTML clamp; also stops 0ms chains looping forever
    const id = ++timerSeq;
    timers.set(id, { id, fn, args, delay, repeat, due: clock + delay, seq: id, nesting: nesting + 1 });
    return id;
  }
  const clearTimer = (id) => { timers.delete(id); };
  window.setTimeout = (fn, delay, ...args) => addTimer(fn, delay, args, false);
  window.setInterval = (fn, delay, ...args) => addTimer(fn, delay, args, true);
  window.clearTimeout = clearTimer;
  window.clearInterval = clearTimer;
  if (window.requestIdleCallback) {
    window.requestIdleCallback = (cb) => addTimer(() => cb({ didTimeout: false, timeRemaining: () => 50 }), 1, [], false);
    window.cancelIdleCallback = clearTimer;
  }
  function nextTimer(limit) {
    let best = null;
    for (const t of timers.values()) {
      if (t.due <= limit && (!best || t.due < best.due || (t.due === best.due && t.seq < best.seq))) best = t;
    }
    return best;
  }
  function runTimer(t, indexInBatch) {
    if (t.repeat) { t.due += Math.max(t.delay, t.nesting >= 5 ? 4 : 1); t.seq = ++timerSeq; }
    else timers.delete(t.id);
    // Randomness keyed by *when* the timer fires, not by how many draws happened before.
    reseed(0x7133, Math.round(t.due * 1000), indexInBatch);
    const saved = nesting;
    nesting = t.nesting;
    try { t.fn.apply(window, t.args); } catch (e) { record("timer", e); }
    nesting = saved;
    if (t.repeat) t.nesting++;
  }

  // --------------------------------------------------------------------- rAF
  let rafQueue = new Map(), rafRunning = null, rafSeq = 0;
  window.requestAnimationFrame = (cb) => { const id = ++rafSeq; rafQueue.set(id, cb); return id; };
  window.cancelAnimationFrame = (id) => { rafQueue.delete(id); if (rafRunning) rafRunning.delete(id); };

  // A macrotask hop drains every microtask the page queued (a bare `await` only
  // drains one level), mimicking the checkpoint browsers run after each task.
  const channel = new real.MessageChannel();
  const hops = [];
  channel.port1.onmessage = () => { const r = hops.shift(); if (r) r(); };
  const hop = () => new Promise((r) => { hops.push(r); channel.port2.postMessage(0); });

  // --------------------------------------------------- CSS / WAAPI animations
  // Each Animation is positioned at (t - birth), birth being the virtual time it
  // was first seen. We keep our own registry because document.getAnimations()
  // drops finished, non-filling animations, which a backward seek must revive.
  const births = new WeakMap();
  const registry = new Set();
  function adopt(a) {
    if (!births.has(a)) { births.set(a, clock); registry.add(a); }
  }
  function stamp() {
    try { if (document.getAnimations) document.getAnimations().forEach(adopt); } catch (e) { record("getAnimations", e); }
  }
  if (window.Element && Element.prototype.animate) {
    const origAnimate = Element.prototype.animate;
    Element.prototype.animate = function animate(...args) {
      const a = origAnimate.apply(this, args);
      adopt(a);
      return a;
    };
  }
  // Pausing an animation whose compositor start is still pending (e.g. a CSS
  // transition created a moment ago) can leave the compositor showing a stale
  // frame while the DOM reports the right value. Letting it start first (one
  // real frame, bounded) avoids that; the time we then set makes it exact anyway.
  function settleAnimations(onlyPlayPending) {
    stamp();
    // A beginFrame page (beginframe.py) runs every compositor stage for the time set
    // before it draws, so there is no stale compositor to wait for, and no frame
    // would come to start the animation while we waited.
    if (cfg.beginFrame) return null;
    const waits = [];
    for (const a of registry) {
      if (a.pending && (!onlyPlayPending || a.playState === "running")) waits.push(a.ready.catch(() => {}));
    }
    if (!waits.length) return null;
    return Promise.race([Promise.all(waits), new Promise((r) => real.setTimeout(r, 250))]);
  }
  function syncAnimations(t) {
    stamp();
    for (const a of registry) {
      const target = a.effect && a.effect.target;
      const engineOwned = (window.CSSAnimation && a instanceof CSSAnimation) || (window.CSSTransition && a instanceof CSSTransition);
      if (target && !target.isConnected) { registry.delete(a); continue; }
      if (a.playState === "idle") { if (engineOwned) registry.delete(a); continue; } // cancelled; never revive
      try { a.pause(); a.currentTime = t - births.get(a); } catch (e) { record("animation", e); }
    }
    // SMIL: outermost <svg> elements have their own document-relative clock.
    document.querySelectorAll("svg").forEach((svg) => {
      if (svg.ownerSVGElement || !svg.setCurrentTime) return;
      try { svg.pauseAnimations(); svg.setCurrentTime(t / 1000); } catch (e) { record("svg", e); }
    });
  }

  // -------------------------------------------------------------------- GSAP
  // GSAP may arrive later via <script>, so detect it lazily. Its root timeline is
  // paused and driven by us; completed children must stay attached
  // (autoRemoveChildren=false) or backward seeks would find nothing to render.
  let gsapSeen = null;
  function gsapRoot() {
    const g = window.gsap;
    if (!g || !g.globalTimeline) return null;
    const root = g.globalTimeline;
    if (gsapSeen !== g) {
      gsapSeen = g;
      try { g.ticker.lagSmoothing(0); } catch (e) { record("gsap", e); }
      root.autoRemoveChildren = false;
    }
    if (!root.paused()) root.pause(); // the page may have resumed it
    return root;
  }
  // Advance the root in step with virtual time so tweens created by a timer or
  // rAF callback get `_start` = the virtual time they were created at.
  function gsapStep(ms) {
    const root = gsapRoot();
    if (!root) return;
    try { if (root.totalTime() !== ms / 1000) root.totalTime(ms / 1000, false); } catch (e) { record("gsap", e); }
  }
  function seekTimeline(tl, s) {
    // totalTime() is a no-op when the playhead is already there; nudge it so
    // content added since the last render gets drawn (HyperFrames does the same).
    if (Math.abs(tl.totalTime() - s) < 1e-9) tl.totalTime(s + 0.001, true);
    tl.totalTime(s, false);
  }
  function gsapSync(ms) {
    const root = gsapRoot();
    if (!root) return;
    const s = ms / 1000;
    gsapStep(ms);
    // Standalone timelines: paused ones are skipped by the root render, so seek
    // them directly to composition time. Unpaused ones are already driven by root.
    const set = new Set();
    const reg = window.__timelines;
    if (reg && typeof reg === "object") Object.values(reg).forEach((tl) => tl && tl.totalTime && set.add(tl));
    try { root.getChildren(false, false, true).forEach((tl) => tl.paused() && set.add(tl)); } catch (e) { record("gsap", e); }
    for (const tl of set) {
      // A registered timeline the author nested into another one is rendered by its
      // parent; seeking it directly to composition time would draw it twice.
      if (tl.parent && tl.parent !== root && tl.parent.parent) continue;
      if (!tl.paused() && tl.parent === root) continue;
      try { seekTimeline(tl, s); } catch (e) { record("gsap timeline", e); }
    }
  }

  // ---------------------------------------------------------------- adapters
  // Library-specific seekers (service/render/adapters/*.js, injected right after
  // this file) register here. Each is { name, ready?(): Promise, seek(ms): any,
  // preroll?(ms): any }; seek runs after timers, rAF and GSAP have reached ms,
  // before CSS/WAAPI sync, and may return a promise the frame waits for (e.g. a
  // <video> 'seeked'). preroll runs instead while time moves without drawing: an
  // adapter whose picture is a function of time alone has none.
  const adapters = [];
  function registerAdapter(adapter) {
    if (!adapter || typeof adapter.seek !== "function") throw new Error("framerun adapter needs seek(ms)");
    adapters.push(adapter);
  }
  async function seekAdapters(ms, light) {
    for (const a of adapters) {
      const step = light ? a.preroll : a.seek;
      if (typeof step !== "function") continue;
      try { await step.call(a, ms); } catch (e) { record("adapter " + (a.name || "?"), e); }
    }
  }

  // --------------------------------------------------------------- readiness
  const pending = new Set();
  function delay(p) {
    const wrapped = Promise.resolve(p).catch((e) => record("delay", e)).finally(() => pending.delete(wrapped));
    pending.add(wrapped);
    return p;
  }
  async function settleImages(all) {
    const imgs = Array.from(document.images || []);
    await Promise.all(imgs.map((img) => {
      if (!all && img.complete) return null;
      if (img.loading === "lazy") img.loading = "eager"; // off-screen lazy images would never load
      return img.decode().catch(() => {}); // broken images are the page's problem, not a hang
    }));
  }
  async function settleFonts() {
    // Layout triggers font loads; flush it so fonts.ready covers new text.
    if (document.documentElement) document.documentElement.getBoundingClientRect();
    if (document.fonts) await document.fonts.ready;
  }
  async function ready() {
    if (document.readyState !== "complete") {
      await new Promise((r) => window.addEventListener("load", r, { once: true }));
    }
    await settleFonts();
    await settleImages(true);
    gsapRoot();
    for (const a of adapters) {
      if (a.ready) { try { await a.ready(); } catch (e) { record("adapter " + (a.name || "?"), e); } }
    }
    await Promise.all(childRuntimes().map((rt) => rt.ready()));
  }
  // Same-origin iframes run their own copy of this runtime; drive them from here.
  function childRuntimes() {
    const out = [];
    for (let i = 0; i < window.frames.length; i++) {
      try { const rt = window.frames[i].__framerun; if (rt && rt.__isFramerunRuntime) out.push(rt); } catch (e) { /* cross-origin */ }
    }
    return out;
  }

  // -------------------------------------------------------------------- seek
  // light: time moves (timers, rAF, GSAP, stateful adapters) but nothing is drawn.
  async function doSeek(ms, light) {
    ms = Number(ms);
    if (!Number.isFinite(ms) || ms < 0) throw new Error("framerun.seek: bad time " + ms);
    stamp(); // anything created since the last seek was born at the current clock
    if (ms >= clock) {
      let ranSinceHop = false, batchIndex = 0, guard = 0;
      for (;;) {
        const next = nextTimer(ms);
        if (ranSinceHop && (!next || next.due > clock)) {
          await hop();           // microtasks of this batch run at this virtual time
          stamp();
          ranSinceHop = false;
          continue;              // the batch may have queued more timers due now
        }
        if (!next) break;
        if (next.due > clock) { clock = next.due; batchIndex = 0; gsapStep(clock); }
        runTimer(next, batchIndex++);
        ranSinceHop = true;
        if (++guard > 1e6) { record("seek", "timer storm: gave up after 1e6 callbacks"); break; }
      }
    }
    // Backward seeks land here directly: already-fired timers are not replayed.
    clock = ms;
    gsapStep(ms);

    // rAF: only callbacks registered before this point; new ones wait for the next seek.
    reseed(0x4af, frameOf(ms));
    rafRunning = rafQueue;
    rafQueue = new Map();
    for (const [id, cb] of rafRunning) {
      if (!rafRunning.has(id)) continue; // cancelled by an earlier callback
      try { cb(ms); } catch (e) { record("rAF", e); }
    }
    rafRunning = null;
    await hop();

    gsapSync(ms);
    await seekAdapters(ms, light);
    if (light) {
      await Promise.all(childRuntimes().map((rt) => rt.__step(ms, true)));
      while (pending.size) await Promise.all(Array.from(pending));
      reseed(0x4af, frameOf(ms));
      return ms;
    }
    await settleAnimations(true);
    syncAnimations(ms);
    await settleAnimations(false);
    await Promise.all(childRuntimes().map((rt) => rt.seek(ms)));

    await settleFonts();
    await settleImages(false);
    while (pending.size) await Promise.all(Array.from(pending));
    reseed(0x4af, frameOf(ms)); // draws between seeks (e.g. page.evaluate) stay reproducible
    return ms;
  }
  let chain = Promise.resolve();
  function step(ms, light) {
    const p = chain.then(() => doSeek(ms, light));
    chain = p.catch(() => {});
    return p;
  }
  const seek = (ms) => step(ms, false);
  // Frames [from, to) in order, for at most budgetMs of real time: returns the next
  // frame to pre-roll (to when done), so the caller can keep each call short.
  async function preroll(from, to, budgetMs = Infinity) {
    const started = real.Date.now();
    let k = from;
    while (k < to) {
      await step((k * 1000) / fps, true);
      k++;
      if (real.Date.now() - started >= budgetMs) break;
    }
    return k;
  }

  const api = {
    __isFramerunRuntime: true,
    version: 1,
    config: cfg,
    fps,
    width: cfg.width,
    height: cfg.height,
    duration: cfg.duration,
    seed,
    errors,
    time: () => clock,
    getVariables: () => JSON.parse(JSON.stringify(cfg.variables || {})),
    seek,
    preroll,
    __step: step,
    ready,
    delay,
    registerAdapter,
    // For adapters only: the real clock primitives and the error log.
    __internal: { real, record, hop },
  };
  window.__framerun = window.__hyperframes = api;
})();
