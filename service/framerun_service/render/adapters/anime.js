/*
 * framerun adapter: Anime.js (v4, pinned in package.json; v3 best effort).
 *
 * Anime.js plays on its own requestAnimationFrame loop and reads Date.now(),
 * both virtual here, so an autoplaying animation already advances with the
 * seeks. Left alone it would still be wrong: it starts 12 ms ahead, smooths
 * over big jumps and cannot go backwards. So the engine's loop is switched off
 * and every animation it plays is positioned by seek() at (t - birth), birth
 * being the virtual time it started playing, the way the runtime treats CSS
 * and WAAPI animations.
 *
 *   v4  The engine announces itself in window.AnimeJS when the library loads
 *       (UMD bundle or ES module). We catch it there, before any page script
 *       uses it: engine.useDefaultMainLoop = false, and engine.wake(), called
 *       by every play(), tells us about new animations.
 *   v3  window.anime is watched for the library; anime.running.push (called
 *       by every play()) tells us about new animations, which we pause (that
 *       stops v3's own loop) and seek.
 *
 * Animations the page pauses, cancels or reverts are left where the page put
 * them, until it plays them again. Animations the page registers the
 * HyperFrames way (window.__hfAnime = [instance] or {id: {instance}}) are
 * seeked to composition time instead, clamped to their duration.
 *
 * Limitations: an animation seeked to before its birth shows its "from"
 * values; playback-rate changes after an animation started are not replayed.
 */
(function () {
  "use strict";
  const fr = window.__framerun;
  if (!fr || !fr.registerAdapter) return;
  const { record } = fr.__internal;

  // Instance -> birth (virtual ms at which its internal time was 0). Kept
  // after completion, or a backward seek would find nothing to rewind.
  const driven = new Map();
  let seeking = false; // our own seek()/pause() calls must not count as the page's

  // ------------------------------------------------------------------- v4
  const engines = new Set();
  const patchedProtos = new WeakSet();

  function rate(t, engine) {
    return (Number(t._speed) || 1) * (Number(engine._speed) || 1);
  }
  function adoptPlaying(engine) {
    if (seeking) return;
    for (let t = engine._head; t; t = t._next) {
      if (t.paused || driven.has(t)) continue;
      // _currentTime + _delay is the internal time engine ticks are measured in.
      const internal = (Number(t._currentTime) || 0) + (Number(t._delay) || 0);
      driven.set(t, { v: 4, engine, birth: fr.time() - internal / rate(t, engine) });
      patchPause(t);
    }
  }
  // Timer.prototype.pause (shared by animations and timelines): cancel(),
  // revert() and complete() go through it too.
  function patchPause(t) {
    let proto = Object.getPrototypeOf(t);
    while (proto && !Object.prototype.hasOwnProperty.call(proto, "pause")) proto = Object.getPrototypeOf(proto);
    if (!proto || patchedProtos.has(proto)) return;
    patchedProtos.add(proto);
    const pause = proto.pause;
    proto.pause = function () {
      if (!seeking) release(this);
      return pause.apply(this, arguments);
    };
  }
  function hookEngine(engine) {
    if (!engine || engines.has(engine)) return;
    engines.add(engine);
    engine.useDefaultMainLoop = false; // no rAF loop: only seek() moves animations
    engine.pauseOnDocumentHidden = false;
    const wake = engine.wake;
    engine.wake = function () {
      adoptPlaying(this);
      return wake.apply(this, arguments);
    };
    adoptPlaying(engine);
  }
  function watchVersion(entry) {
    if (!entry || typeof entry !== "object") return;
    if (entry.engine) { hookEngine(entry.engine); return; }
    // The bundle pushes {version, engine: null} first and sets .engine right after.
    let engine = null;
    try {
      Object.defineProperty(entry, "engine", {
        configurable: true,
        enumerable: true,
        get: () => engine,
        set: (e) => { engine = e; hookEngine(e); },
      });
    } catch (e) { record("adapter anime", e); }
  }
  if (!window.AnimeJS) {
    const list = [];
    Object.defineProperty(list, "push", {
      value: function (...entries) {
        entries.forEach(watchVersion);
        return Array.prototype.push.apply(this, entries);
      },
    });
    window.AnimeJS = list;
  }

  // ------------------------------------------------------------------- v3
  let v3Hooked = null;
  function hookV3(anime) {
    if (!anime || anime === v3Hooked || !Array.isArray(anime.running)) return;
    v3Hooked = anime;
    anime.suspendWhenDocumentHidden = false;
    const running = anime.running;
    const push = running.push;
    running.push = function (...instances) {
      if (!seeking) instances.forEach(adoptV3);
      return push.apply(this, instances);
    };
    running.forEach(adoptV3);
  }
  function adoptV3(inst) {
    if (!inst || typeof inst.seek !== "function" || driven.has(inst)) return;
    driven.set(inst, { v: 3, birth: fr.time() - (Number(inst.currentTime) || 0) });
    const pause = inst.pause;
    inst.pause = function () {
      if (!seeking) release(inst);
      return pause.apply(this, arguments);
    };
  }
  // v3's UMD bundle assigns window.anime; catch it before the page's first anime() call.
  try {
    let value = window.anime;
    Object.defineProperty(window, "anime", {
      configurable: true,
      enumerable: true,
      get: () => value,
      set: (v) => {
        value = v;
        try { hookV3(v); } catch (e) { record("adapter anime", e); }
      },
    });
  } catch (e) { record("adapter anime", e); }

  // ---------------------------------------------------- HyperFrames registry
  function registered() {
    const reg = window.__hfAnime;
    const out = new Set();
    if (!reg || typeof reg !== "object") return out;
    for (const value of Object.values(reg)) {
      const inst = value && value.instance ? value.instance : value;
      if (inst && typeof inst.seek === "function") out.add(inst);
    }
    return out;
  }

  // Anime.js renders a tween's "from" values only once its playhead has been
  // past it, so frame N would differ between a fresh page and one that came
  // back from a later frame. Play each animation through once (callbacks
  // muted) before its first seek so every page starts from the same state.
  const primed = new WeakSet();
  function prime(inst) {
    if (primed.has(inst)) return;
    primed.add(inst);
    const length = Number(inst.iterationDuration);
    if (!(length > 0) || !Number.isFinite(length)) return;
    inst.seek(length, 1);
    inst.seek(0, 1);
  }

  function position(inst, info, ms) {
    if (info.v === 4) {
      prime(inst);
      const internal = (ms - info.birth) * rate(inst, info.engine);
      inst.seek(internal - (Number(inst._delay) || 0));
    } else {
      const speed = Number(v3Hooked && v3Hooked.speed) || 1;
      inst.pause(); // stops v3's own loop from moving it between seeks
      inst.seek((ms - info.birth) * speed);
    }
  }
  // The page paused it: show where it is now, then leave it there.
  function release(inst) {
    const info = driven.get(inst);
    if (!info) return;
    driven.delete(inst);
    if (inst._cancelled) return; // v4 cancel()/revert()/complete(): they render it themselves
    seeking = true;
    try { position(inst, info, fr.time()); } catch (e) { record("adapter anime", e); }
    finally { seeking = false; }
  }

  // ------------------------------------------------------------------ seek
  function seek(ms) {
    for (const entry of window.AnimeJS || []) if (entry && entry.engine) hookEngine(entry.engine);
    hookV3(window.anime);
    engines.forEach(adoptPlaying);
    const explicit = registered();
    seeking = true;
    try {
      for (const [inst, info] of driven) {
        if (explicit.has(inst)) continue;
        if (inst._cancelled) { driven.delete(inst); continue; } // v4 cancel()/revert()
        try { position(inst, info, ms); } catch (e) { record("adapter anime", e); }
      }
      for (const inst of explicit) {
        try {
          if ("_delay" in inst) prime(inst); // v4
          const duration = Number(inst.duration);
          inst.seek(Number.isFinite(duration) && duration > 0 ? Math.min(ms, duration) : ms);
        } catch (e) { record("adapter anime", e); }
      }
    } finally {
      seeking = false;
    }
  }

  // Anime.js keeps state across seeks (tween composition, callbacks): pre-roll runs it too.
  fr.registerAdapter({ name: "anime", seek, preroll: seek });
})();
