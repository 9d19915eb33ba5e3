/*
 * framerun adapter: Three.js and other WebGL/canvas scenes.
 *
 * Scenes that animate from requestAnimationFrame timestamps, performance.now()
 * or THREE.Clock / THREE.Timer (which read performance.now()) already run on
 * the runtime's virtual clock and need nothing from here.
 *
 * This adds HyperFrames' explicit convention, for scenes that render only when
 * told the time. On every seek, with t in seconds:
 *   window.__hfThreeTime = t;                          // for scenes that poll it
 *   window.__hfThreeRender.forEach((fn) => fn(t));     // registered render callbacks
 *   window.dispatchEvent(new CustomEvent("hf-seek", {detail: {time: t, waitUntil}}));
 * A listener whose render is asynchronous (textures, fonts) passes its promise
 * to event.detail.waitUntil(promise) and the frame waits for it.
 *
 * WebGL draws land in the canvas's drawing buffer, which the screenshot taken
 * after the seek composites; preserveDrawingBuffer is not needed.
 */
(function () {
  "use strict";
  const fr = window.__framerun;
  if (!fr || !fr.registerAdapter) return;
  const { record } = fr.__internal;

  window.__hfThreeTime = 0; // scenes render `window.__hfThreeTime || 0` once at load

  async function seek(ms) {
    const time = ms / 1000;
    window.__hfThreeTime = time;
    const callbacks = window.__hfThreeRender;
    if (Array.isArray(callbacks)) {
      for (const fn of callbacks) {
        if (typeof fn !== "function") continue;
        try { fn(time); } catch (e) { record("adapter three: __hfThreeRender", e); }
      }
    }
    const waits = [];
    const detail = { time, waitUntil: (p) => { waits.push(Promise.resolve(p)); } };
    // dispatchEvent reports listener exceptions to window.onerror, not to us.
    window.dispatchEvent(new CustomEvent("hf-seek", { detail }));
    if (waits.length) {
      await Promise.all(waits.map((p) => p.catch((e) => record("adapter three: hf-seek", e))));
    }
  }

  fr.registerAdapter({ name: "three", seek });
})();
