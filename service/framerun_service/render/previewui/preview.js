/*
 * framerun preview page: shows the composition in a same-origin iframe at its native
 * size and moves its time only through the seek runtime, as a render does.
 *
 * A render's page that is to show frame N first lives through frames 0…N−1
 * (runtime.js preroll) and then seeks N. Here a fresh page does the same, and a
 * forward move from frame a to b lives through a+1…b−1 before seeking b, so the
 * frame shown is the frame a render captures. Moving back only seeks (the runtime's
 * documented limit: timeline content is exact both ways; state kept by timers is not).
 * A variable change loads a fresh page with the new values and shows the same frame.
 *
 * window.framerunPreview is the page's API for scripts and tests:
 *   loaded         Promise, settled when the first frame is shown (rejects on failure)
 *   show(n)        Promise: frame n is on screen
 *   frame, frames  the frame shown, the frame count
 *   loads          how many times a page has loaded and shown its frame
 *   setVariables(values) Promise: validated by the server, then a fresh page
 */
(function () {
  "use strict";
  const PREFIX = "/__framerun";
  const $ = (id) => document.getElementById(id);
  const state = {
    comp: null, rt: null, iframe: null,
    shown: -1, wanted: 0, busy: false, waiters: [],
    playing: false, generation: 0,
  };

  const api = { frame: 0, frames: 0, loads: 0, show, setVariables, loaded: null };
  window.framerunPreview = api;

  function setState(s) { document.body.dataset.state = s; }

  async function main() {
    const reply = await fetch(PREFIX + "/api/composition");
    state.comp = await reply.json();
    if (!reply.ok) throw new Error(`${state.comp.message} [${state.comp.code}]`);
    const c = state.comp;
    api.frames = c.frames;
    $("about").textContent = `${c.entry} · ${c.width}×${c.height} · ${c.fpsText} fps · ` +
      `${c.frames} frames (${c.duration.toFixed(3)} s)`;
    $("scrubber").max = String(Math.max(0, c.frames - 1));
    buildForm(c.declarations, c.variables);
    showWarnings(c.warnings);
    wireControls();
    await controlServiceWorker();
    await loadPage();
    setInterval(pollRefusals, 1000);
  }

  // ---- the service worker: other origins go through the page guard -------------------

  async function controlServiceWorker() {
    if (!("serviceWorker" in navigator)) {
      throw new Error("this browser has no service workers, which the preview needs to " +
        "route the composition's requests through framerun's page guard");
    }
    const registration = await navigator.serviceWorker.register(PREFIX + "/sw.js", { scope: "/" });
    await navigator.serviceWorker.ready;
    if (navigator.serviceWorker.controller) return;
    const controlled = new Promise((resolve) =>
      navigator.serviceWorker.addEventListener("controllerchange", resolve, { once: true }));
    registration.active.postMessage("claim");
    await controlled;
  }

  // ---- the composition's page ----------------------------------------------------------

  function loadPage() {
    const c = state.comp;
    const generation = ++state.generation;
    setState("loading");
    const iframe = document.createElement("iframe");
    iframe.width = String(c.width);
    iframe.height = String(c.height);
    iframe.style.width = c.width + "px";
    iframe.style.height = c.height + "px";
    iframe.setAttribute("scrolling", "no");
    iframe.title = "composition";
    const loaded = new Promise((resolve, reject) => {
      iframe.addEventListener("load", async () => {
        try {
          const rt = iframe.contentWindow.__framerun;
          if (!rt) throw new Error("the seek runtime did not start in the page");
          await rt.ready();
          if (generation !== state.generation) return resolve();
          state.rt = rt;
          state.shown = -1;
          await show(state.wanted);
          api.loads += 1;
          resolve();
        } catch (e) {
          showProblem(`the page failed to load: ${e}`);
          setState("failed");
          reject(e);
        }
      }, { once: true });
    });
    iframe.src = "/" + c.entry.split("/").map(encodeURIComponent).join("/");
    const box = $("frame-box");
    if (state.iframe) state.iframe.remove();
    state.rt = null;
    state.iframe = iframe;
    box.appendChild(iframe);
    layout();
    return loaded;
  }

  // Whole pixels only: a box at a half-pixel offset would blur the composition.
  function layout() {
    const c = state.comp;
    if (!c || !state.iframe) return;
    const stage = $("stage");
    const availW = stage.clientWidth - 32, availH = stage.clientHeight - 32;
    const scale = $("fit").checked ? Math.min(1, availW / c.width, availH / c.height) : 1;
    const box = $("frame-box");
    const w = Math.round(c.width * scale), h = Math.round(c.height * scale);
    box.style.width = w + "px";
    box.style.height = h + "px";
    box.style.marginLeft = Math.max(0, Math.floor((availW - w) / 2)) + "px";
    box.style.marginTop = Math.max(0, Math.floor((availH - h) / 2)) + "px";
    state.iframe.style.transform = scale === 1 ? "" : `scale(${scale})`;
  }

  // ---- seeking ---------------------------------------------------------------------------

  function show(n) {
    const last = Math.max(0, api.frames - 1);
    state.wanted = Math.max(0, Math.min(last, Math.round(n)));
    const done = new Promise((resolve, reject) => state.waiters.push({ resolve, reject }));
    if (!state.busy && state.rt) pump();
    return done;
  }

  // Seeks to the latest wanted frame until it is on screen: a fast scrub skips frames
  // (a forward move still lives through them).
  async function pump() {
    if (state.busy) return;
    state.busy = true;
    setState("busy");
    try {
      while (state.rt && state.shown !== state.wanted) {
        const rt = state.rt, n = state.wanted, fps = state.comp.fps;
        const from = state.shown < 0 ? 0 : state.shown + 1;
        if (n >= from) await rt.preroll(from, n);
        await rt.seek((n * 1000) / fps);
        if (rt !== state.rt) continue; // a fresh page replaced this one meanwhile
        state.shown = n;
        if (rt.errors.length) showProblem(`the composition threw: ${rt.errors[0]}`);
        updateReadout();
      }
      const waiters = state.waiters.splice(0);
      if (state.rt) waiters.forEach((w) => w.resolve(state.shown));
      else state.waiters.push(...waiters);
    } catch (e) {
      state.waiters.splice(0).forEach((w) => w.reject(e));
      showProblem(`seeking failed: ${e}`);
    } finally {
      state.busy = false;
      if (state.rt) setState(state.playing ? "playing" : "idle");
    }
  }

  function updateReadout() {
    const c = state.comp, n = state.shown;
    api.frame = n;
    document.body.dataset.frame = String(n);
    $("scrubber").value = String(n);
    const t = (s) => s.toFixed(3) + " s";
    $("readout").textContent =
      `frame ${n} / ${c.frames - 1} · ${t(n / c.fps)} / ${t(c.duration)}`;
  }

  // ---- play, step, scrub -----------------------------------------------------------------

  function play() {
    const c = state.comp;
    if (state.playing) return;
    const last = c.frames - 1;
    const start = state.shown >= last ? 0 : Math.max(0, state.shown);
    const t0 = performance.now();
    state.playing = true;
    $("play").textContent = "⏸";
    const tick = () => {
      if (!state.playing) return;
      const n = start + Math.floor(((performance.now() - t0) * c.fps) / 1000);
      show(Math.min(n, last));
      if (n >= last) return pause();
      requestAnimationFrame(tick);
    };
    tick();
  }

  function pause() {
    state.playing = false;
    $("play").textContent = "▶";
  }

  function step(by) {
    pause();
    show(Math.max(0, state.wanted) + by);
  }

  function wireControls() {
    $("play").addEventListener("click", () => (state.playing ? pause() : play()));
    $("prev").addEventListener("click", () => step(-1));
    $("next").addEventListener("click", () => step(1));
    $("first").addEventListener("click", () => { pause(); show(0); });
    $("last").addEventListener("click", () => { pause(); show(api.frames - 1); });
    $("scrubber").addEventListener("input", (e) => { pause(); show(Number(e.target.value)); });
    $("fit").addEventListener("change", layout);
    window.addEventListener("resize", layout);
    document.addEventListener("keydown", (e) => {
      if (e.target.closest && e.target.closest("form")) return; // typing a value
      const by = e.shiftKey ? 10 : 1;
      if (e.key === "ArrowRight") step(by);
      else if (e.key === "ArrowLeft") step(-by);
      else if (e.key === " ") state.playing ? pause() : play();
      else if (e.key === "Home") { pause(); show(0); }
      else if (e.key === "End") { pause(); show(api.frames - 1); }
      else return;
      e.preventDefault();
    });
  }

  // ---- variables -----------------------------------------------------------------------

  function buildForm(declarations, values) {
    const form = $("variables");
    form.textContent = "";
    if (!declarations.length) {
      $("variables-note").textContent = "The composition declares no variables " +
        "(data-composition-variables on <html>).";
      return;
    }
    for (const d of declarations) {
      const label = document.createElement("label");
      const caption = document.createElement("span");
      caption.textContent = `${d.label || d.id} (${d.type})`;
      label.appendChild(caption);
      label.appendChild(field(d, values[d.id]));
      form.appendChild(label);
    }
    form.addEventListener("submit", (e) => { e.preventDefault(); submitForm(); });
    form.addEventListener("change", submitForm);
    $("variables-note").textContent = "A change loads a fresh page with the new values " +
      "and shows the same frame.";
  }

  function field(d, value) {
    let input;
    if (d.type === "enum") {
      input = document.createElement("select");
      for (const option of d.options) input.add(new Option(option, option));
      input.value = value;
    } else {
      input = document.createElement("input");
      if (d.type === "boolean") {
        input.type = "checkbox";
        input.checked = Boolean(value);
      } else if (d.type === "number") {
        input.type = "number";
        input.step = "any";
        input.value = String(value);
      } else if (d.type === "color" && /^#[0-9a-f]{6}$/i.test(String(value))) {
        input.type = "color";
        input.value = value;
      } else {
        input.type = "text";
        input.value = typeof value === "object" ? JSON.stringify(value) : String(value ?? "");
        if (typeof value === "object") input.dataset.json = "1";
      }
    }
    input.name = d.id;
    input.dataset.type = d.type;
    return input;
  }

  function formValues() {
    const values = {};
    for (const input of $("variables").elements) {
      if (!input.name) continue;
      const type = input.dataset.type;
      if (type === "boolean") values[input.name] = input.checked;
      else if (type === "number") values[input.name] = input.value === "" ? null : Number(input.value);
      else if (input.dataset.json) {
        try { values[input.name] = JSON.parse(input.value); } catch (e) { values[input.name] = input.value; }
      } else values[input.name] = input.value;
    }
    return values;
  }

  function submitForm() {
    return setVariables(formValues()).catch((e) => showProblem(String(e)));
  }

  async function setVariables(values) {
    const reply = await fetch(PREFIX + "/api/variables", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(values),
    });
    const body = await reply.json();
    if (!reply.ok) throw new Error(`${body.message} [${body.code}]`);
    showWarnings(body.warnings);
    state.wanted = Math.max(0, state.shown);
    await loadPage();
    return body.variables;
  }

  // ---- problems: what would fail a render ------------------------------------------------

  const problems = new Set();
  function showProblem(text) {
    if (problems.has(text)) return;
    problems.add(text);
    renderProblems();
  }
  let refusals = [];
  function renderProblems() {
    const box = $("problems");
    const items = [...problems, ...refusals.map((r) => `refused: ${r.url} (${r.reason})`)];
    box.hidden = items.length === 0;
    box.textContent = "A render of this page would fail:";
    const list = document.createElement("ul");
    for (const item of items) {
      const li = document.createElement("li");
      li.textContent = item;
      list.appendChild(li);
    }
    box.appendChild(list);
  }
  async function pollRefusals() {
    try {
      const body = await (await fetch(PREFIX + "/api/refusals")).json();
      if (JSON.stringify(body.refusals) !== JSON.stringify(refusals)) {
        refusals = body.refusals;
        renderProblems();
      }
    } catch (e) { /* the server stopped */ }
  }
  function showWarnings(warnings) {
    const note = $("variables-note");
    if (warnings && warnings.length) note.textContent = warnings.map((w) => "⚠ " + w).join("\n");
  }

  api.loaded = main();
  api.loaded.catch((e) => { showProblem(String(e)); setState("failed"); });
})();
