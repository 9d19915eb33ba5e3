/*
 * framerun adapter: Lottie (lottie-web, pinned in package.json).
 *
 * lottie-web plays on requestAnimationFrame, which is virtual here, but it
 * only ever advances (and its first frame lands a tick late), so each seek
 * puts every animation on its own frame with goToAndStop(frame, true), which
 * also pauses it and so stops lottie's loop from moving it between seeks.
 *
 * Animations are found through lottie.getRegisteredAnimations() (the global
 * `lottie` or `bodymovin` of the UMD build) and HyperFrames' registry,
 * window.__hfLottie = [animation]. An animation's time is composition time
 * minus the data-start (seconds) of its container or nearest ancestor that
 * has one. Past its last frame it loops when `loop` is true, plays loop + 1
 * times when `loop` is a number (as lottie-web does) and otherwise holds its
 * last frame. ready() and seek() wait (up to 10 s of real time each) for
 * animations whose JSON, images or fonts are still loading.
 */
(function () {
  "use strict";
  const fr = window.__framerun;
  if (!fr || !fr.registerAdapter) return;
  const { real, record } = fr.__internal;
  const LOAD_TIMEOUT_MS = 10000;
  const POLL_MS = 10;

  function animations() {
    const out = new Set();
    for (const lib of [window.lottie, window.bodymovin]) {
      if (!lib || typeof lib.getRegisteredAnimations !== "function") continue;
      try { lib.getRegisteredAnimations().forEach((a) => out.add(a)); } catch (e) { record("adapter lottie", e); }
    }
    const reg = window.__hfLottie;
    if (Array.isArray(reg)) reg.forEach((a) => out.add(a));
    return Array.from(out).filter((a) => a && typeof a.goToAndStop === "function");
  }

  // isLoaded turns true synchronously once data, images and fonts are in; the
  // DOMLoaded event itself is sent from a (virtual, so frozen) setTimeout.
  const failed = new WeakSet();
  const watched = new WeakSet();
  const nameOf = (a) => a.name || a.path || "?";
  function watch(anim) {
    if (watched.has(anim) || typeof anim.addEventListener !== "function") return;
    watched.add(anim);
    anim.addEventListener("data_failed", () => {
      failed.add(anim);
      record("adapter lottie", `animation "${nameOf(anim)}" failed to load its JSON`);
    });
  }
  function whenLoaded(list) {
    list.forEach(watch);
    const waiting = list.filter((a) => !a.isLoaded && !failed.has(a));
    if (!waiting.length) return null;
    const deadline = real.Date.now() + LOAD_TIMEOUT_MS;
    return new Promise((resolve) => {
      (function poll() {
        const left = waiting.filter((a) => !a.isLoaded && !failed.has(a));
        if (!left.length) return resolve();
        if (real.Date.now() >= deadline) {
          left.forEach((a) => {
            failed.add(a);
            record("adapter lottie", `animation "${nameOf(a)}" did not load in ${LOAD_TIMEOUT_MS} ms`);
          });
          return resolve();
        }
        real.setTimeout(poll, POLL_MS);
      })();
    });
  }

  function startSeconds(anim) {
    const el = anim.wrapper && anim.wrapper.closest ? anim.wrapper.closest("[data-start]") : null;
    const start = el ? Number.parseFloat(el.getAttribute("data-start")) : 0;
    return Number.isFinite(start) ? start : 0;
  }

  // Elapsed frames -> the frame lottie-web would show after playing that long.
  function frameAt(anim, elapsed) {
    const total = anim.totalFrames;
    const loop = anim.loop;
    const plays = loop === true ? Infinity : Number(loop) > 0 ? Number(loop) + 1 : 1;
    if (elapsed >= total * plays - 1) return total - 1; // finished: holds the last frame
    const frame = elapsed % total;
    return total - frame < 1e-6 ? 0 : frame;
  }

  function show(anim, ms) {
    if (!anim.isLoaded || !(anim.totalFrames > 0)) return;
    const seconds = Math.max(0, ms / 1000 - startSeconds(anim));
    // Rounded so frame 7 of a 30 fps animation is 7, not 6.9999999 (which
    // lottie truncates to 6 when sub-frame rendering is off).
    const elapsed = Math.round(seconds * anim.frameRate * 1e6) / 1e6;
    anim.goToAndStop(frameAt(anim, elapsed), true);
  }

  async function seek(ms) {
    const list = animations();
    await whenLoaded(list);
    for (const anim of list) {
      try { show(anim, ms); } catch (e) { record("adapter lottie", e); }
    }
  }

  fr.registerAdapter({ name: "lottie", ready: () => whenLoaded(animations()), seek });
})();
