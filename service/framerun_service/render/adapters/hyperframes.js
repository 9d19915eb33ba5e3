/*
 * HyperFrames compatibility: what HyperFrames' runtime does at seek time, so its
 * compositions render in framerun unchanged. Mirrors @hyperframes/core's runtime
 * (packages/core/src/runtime/{init,startResolver,compositionLoader,
 * applyVariableBindings,getVariables}.ts, v0.8.170):
 *
 *   - Clips: every element with data-start (other than the root, and media, which
 *     video.js shows) is visible only while composition time is in
 *     [start, start + duration); a clip that runs to the composition's end stays
 *     visible at its last instant. data-start is
 *     seconds from the start of the enclosing composition, or a reference to
 *     another clip's end: "intro", "intro + 2", "intro - 0.5". A clip inside a
 *     hidden clip is hidden too.
 *   - Timelines: window.__timelines[id] of a nested composition runs from its
 *     host's absolute start. Like HyperFrames (which nests it into the root
 *     timeline at that start) we re-parent it onto GSAP's global timeline at that
 *     start, unpaused, so the runtime's root seek drives it - forward and backward
 *     - and skips it when seeking standalone timelines.
 *   - Sub-compositions: hosts with data-composition-src (or an empty host with a
 *     <template id="<id>-template">) get the file's <template> mounted into them,
 *     its CSS scoped to the host, its scripts run with document/gsap/window scoped
 *     to the host and getVariables() returning the host's data-variable-values
 *     over the file's declared defaults.
 *   - Variables: data-var-text / data-var-src bindings, --<id> custom properties
 *     on composition roots, and window.__hfVariables.
 *   - Layout: the root is sized from data-width/height, html/body lose their
 *     margins, and timed children of the root are stacked absolutely.
 *
 * window.__framerunHyperframes exposes durationSeconds() (what HyperFrames would
 * take as the length when the root has no data-duration), clipWindow(el) and
 * mediaWindow(el) (video.js shows a <video> in it).
 */
(function () {
  "use strict";
  const fr = window.__framerun;
  if (!fr || !fr.registerAdapter || window.__framerunHyperframes) return;
  const record = (fr.__internal && fr.__internal.record) || function () {};

  // Templates write window.__timelines["main"] = tl without creating the registry.
  if (!window.__timelines || typeof window.__timelines !== "object") window.__timelines = {};
  window.__hfVariables = fr.getVariables();

  const SKIP_TAGS = new Set(["SCRIPT", "STYLE", "LINK", "META", "TEMPLATE", "NOSCRIPT"]);
  const MEDIA_TAGS = new Set(["VIDEO", "AUDIO"]);
  const HIDDEN_ATTR = "data-hf-clip-hidden";
  const HOST_ATTR = "data-hf-variable-host";
  const EPS = 1e-6;
  const attrSel = (name, value) => `[${name}="${String(value).replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"]`;

  // ------------------------------------------------------------------ root & registry
  function findRoot() {
    const explicit = document.querySelector('[data-composition-id][data-root="true"]');
    if (explicit) return explicit;
    const nodes = Array.from(document.querySelectorAll("[data-composition-id]"));
    return nodes.find((n) => !(n.parentElement && n.parentElement.closest("[data-composition-id]"))) || nodes[0] || null;
  }
  // Agents write window.__timelines = [tl]; HyperFrames keys a lone one by the root id.
  function registry() {
    let reg = window.__timelines;
    if (Array.isArray(reg)) {
      const root = findRoot();
      const keyed = {};
      if (reg.length === 1) keyed[(root && root.getAttribute("data-composition-id")) || "root"] = reg[0];
      else reg.forEach((tl, i) => { keyed["tl-" + i] = tl; });
      window.__timelines = reg = keyed;
    }
    return reg && typeof reg === "object" ? reg : {};
  }
  const timelineDuration = (tl) => {
    try { const d = Number(tl && tl.duration && tl.duration()); return Number.isFinite(d) && d > 0 ? d : null; } catch (e) { return null; }
  };

  // ------------------------------------------------------------------ clip timing
  // The JavaScript twin of service/framerun_service/render/timing.py (HyperFrames 0.8.170's runtime
  // createRuntimeStartTimeResolver): the audio mix and the plan use that one, the page
  // this one, and test_timing.py holds the two to the same answers. Plus what only the
  // page knows: media and timeline lengths.
  // A fresh resolver per pass: its caches must not outlive DOM or timeline changes.
  const ID = /^[A-Za-z0-9_.:-]+$/;
  function jsNumber(v) {
    if (v == null || String(v).trim() === "") return null;
    const n = Number(v);
    return Number.isFinite(n) ? n : null;
  }
  function parseStart(raw) {
    const text = (raw || "").trim();
    if (!text) return null;
    const n = jsNumber(text);
    if (n != null) return { abs: n };
    if (ID.test(text)) return { ref: text, offset: 0 };
    const m = /(?:[0-9]+\.)?[0-9]+$/.exec(text);
    if (!m) return null;
    const head = text.slice(0, m.index).trimEnd();
    const sign = head.slice(-1), ref = head.slice(0, -1).trim();
    if ((sign !== "+" && sign !== "-") || !ID.test(ref)) return null;
    return { ref, offset: (sign === "-" ? -1 : 1) * Number(m[0]) };
  }
  const isComposition = (el) => !!el && el.hasAttribute("data-composition-id");
  const enclosing = (el) => (el ? el.closest("[data-composition-id]") : null);
  function mediaTrim(el) {
    for (const name of ["data-playback-start", "data-media-start"]) {
      const v = jsNumber(el.getAttribute(name));
      if (v != null && v >= 0) return v;
    }
    return 0;
  }
  // The host a composition root without data-start takes its start from.
  function inheritsFrom(el) {
    const parent = el.parentElement;
    if (!parent || !isComposition(el) || parseStart(el.getAttribute("data-start"))) return null;
    const marks = ["data-composition-src", "data-composition-id", "data-composition-file"];
    return marks.some((a) => parent.hasAttribute(a)) ? parent : null;
  }
  function resolver() {
    const starts = new Map(), durations = new Map(), visiting = new Set();
    const reg = registry();
    const byId = (id) => document.getElementById(id) || document.querySelector(attrSel("data-composition-id", id));
    function duration(el) {
      if (durations.has(el)) return durations.get(el);
      let d = jsNumber(el.getAttribute("data-duration"));
      if (!(d > 0)) {
        d = null;
        const end = jsNumber(el.getAttribute("data-end"));
        if (end != null) { const s = start(el); if (end > s) d = end - s; }
      }
      // A media element lasts as long as its source (a looping one: as long as its hosts).
      if (d == null && (el.tagName === "VIDEO" || el.tagName === "AUDIO") && !el.loop && Number.isFinite(el.duration)) {
        const left = el.duration - mediaTrim(el);
        if (left > 0) d = left;
      }
      if (d == null && isComposition(el)) d = timelineDuration(reg[el.getAttribute("data-composition-id")]);
      durations.set(el, d);
      return d;
    }
    const compositionTime = (host) => start(host) - mediaTrim(inheritsFrom(host) || host);
    function hostOffset(el) {
      const scope = enclosing(isComposition(el) ? el.parentElement : el);
      return scope ? compositionTime(scope) : 0;
    }
    function start(el, fallback = 0) {
      if (starts.has(el)) return starts.get(el);
      if (visiting.has(el)) return fallback; // a reference cycle resolves to the fallback, as in HyperFrames
      visiting.add(el);
      let s = fallback;
      try {
        const expr = parseStart(el.getAttribute("data-start"));
        if (!expr) {
          const parent = inheritsFrom(el);
          if (parent) s = start(parent, fallback);
        } else if (expr.ref === undefined) {
          s = hostOffset(el) + Math.max(0, expr.abs);
        } else {
          const target = byId(expr.ref);
          if (target) s = Math.max(Math.min(0, hostOffset(el)), start(target, 0) + (duration(target) || 0) + expr.offset);
        }
      } finally {
        visiting.delete(el);
      }
      starts.set(el, s);
      return s;
    }
    function mediaStart(el) {
      const scope = enclosing(el);
      const host = scope ? compositionTime(scope) : 0;
      const authored = jsNumber(el.getAttribute("data-start"));
      if (authored != null && host !== 0 && !el.hasAttribute("data-hf-auto-start")) {
        const global = (el.getAttribute("data-hf-media-start-basis") || "").trim().toLowerCase() === "global";
        return Math.max(0, global ? authored : host + authored);
      }
      return start(el, host);
    }
    // When the nested composition hosts around el end (the root is no window).
    function hostsEnd(el) {
      const root = findRoot();
      let end = Infinity;
      for (let h = el.parentElement && el.parentElement.closest("[data-composition-id]"); h && h !== root; h = h.parentElement && h.parentElement.closest("[data-composition-id]")) {
        const d = duration(h);
        if (d != null) end = Math.min(end, start(h) + d);
      }
      return end;
    }
    return { start, duration, mediaStart, hostsEnd };
  }

  function compositionDuration(root) {
    const d = jsNumber(root && root.getAttribute("data-duration"));
    return d > 0 ? d : Number(fr.duration) || 0;
  }
  const snap = (t) => { const f = t * fr.fps, n = Math.round(f); return Math.abs(f - n) <= EPS ? n / fr.fps : t; };
  function visibleAt(t, start, end, compDur) {
    const s = snap(start), e = Number.isFinite(end) ? snap(end) : end;
    if (t < s - 1e-9) return false;
    return t < e - 1e-9 || (compDur > 0 && e >= compDur - EPS);
  }

  let hiddenStyle = null;
  const displayBackup = new WeakMap();
  function syncVisibility(t) {
    const root = findRoot();
    const res = resolver();
    const compDur = compositionDuration(root);
    const own = new Map();
    const ownVisible = (el) => {
      if (!own.has(el)) {
        const s = res.start(el), d = res.duration(el);
        own.set(el, visibleAt(t, s, d ? s + d : Infinity, compDur));
      }
      return own.get(el);
    };
    if (!hiddenStyle && document.head) {
      // Descendants must not show through a hidden clip (a child's visibility:visible would).
      hiddenStyle = document.createElement("style");
      hiddenStyle.textContent = `[${HIDDEN_ATTR}] * { visibility: hidden !important; }`;
      document.head.appendChild(hiddenStyle);
    }
    for (const el of document.querySelectorAll("[data-start]")) {
      // <video>/<audio> are video.js's (it shows a clip's frames in the same window).
      if (el === root || SKIP_TAGS.has(el.tagName) || MEDIA_TAGS.has(el.tagName) || !el.style) continue;
      if (el.hasAttribute("data-hidden")) { el.style.display = "none"; continue; }
      let visible = ownVisible(el);
      for (let a = el.parentElement; visible && a && a !== root; a = a.parentElement) {
        if (a.hasAttribute("data-start") && !SKIP_TAGS.has(a.tagName)) visible = ownVisible(a);
      }
      el.style.visibility = visible ? "visible" : "hidden";
      el.toggleAttribute(HIDDEN_ATTR, !visible);
      // visibility:hidden keeps an in-flow clip's box; HyperFrames takes hidden leaf clips out of the flow.
      const pos = getComputedStyle(el).position;
      const inFlow = pos === "static" || pos === "relative" || pos === "sticky" || displayBackup.has(el);
      if (!inFlow || el.querySelector("[data-start]")) continue;
      if (!visible && !displayBackup.has(el)) { displayBackup.set(el, el.style.display); el.style.display = "none"; }
      if (visible && displayBackup.has(el)) { el.style.display = displayBackup.get(el); displayBackup.delete(el); }
    }
  }

  // --------------------------------------------------------------- nested timelines
  const placed = new WeakMap(); // timeline -> start it was placed at
  function placeTimelines(t) {
    const g = window.gsap;
    if (!g || !g.globalTimeline) return;
    const groot = g.globalTimeline;
    const root = findRoot();
    const res = resolver();
    let moved = false;
    for (const [id, tl] of Object.entries(registry())) {
      if (!tl || typeof tl.totalTime !== "function" || typeof tl.paused !== "function") continue;
      const host = document.querySelector(attrSel("data-composition-id", id));
      if (!host || host === root) continue; // the root's timeline runs on composition time already
      const start = res.start(host);
      if (tl.parent === groot && placed.get(tl) === start) continue;
      if (tl.parent && tl.parent !== groot) {
        // Nested by the author into another timeline (its parent drives it), or made by a second
        // copy of GSAP that the runtime does not drive: then seek it here, on its own.
        if (tl.parent.parent) continue;
        try { tl.pause(); tl.totalTime(Math.max(0, t - start), false); } catch (e) { record("hyperframes timeline", e); }
        continue;
      }
      try {
        tl.paused(false);        // unpause first: unpausing re-aligns the start
        groot.add(tl, start);
        placed.set(tl, start);
        moved = true;
      } catch (e) { record("hyperframes timeline", e); }
    }
    if (moved) {
      // The runtime seeked these standalone at composition time this frame; redraw from the root.
      try { groot.totalTime(t >= 0.001 ? t - 0.001 : t + 0.001, true); groot.totalTime(t, false); } catch (e) { record("hyperframes timeline", e); }
    }
  }

  function durationSeconds() {
    const root = findRoot();
    const res = resolver();
    const reg = registry();
    let end = root ? timelineDuration(reg[root.getAttribute("data-composition-id")]) || 0 : 0;
    for (const [id, tl] of Object.entries(reg)) {
      const host = document.querySelector(attrSel("data-composition-id", id));
      if (host && host !== root) end = Math.max(end, res.start(host) + (timelineDuration(tl) || 0));
    }
    for (const el of document.querySelectorAll("[data-composition-id][data-start], video[data-start], audio[data-start]")) {
      if (el === root) continue;
      const d = res.duration(el);
      if (d) end = Math.max(end, res.start(el) + d);
    }
    return end;
  }

  // ---------------------------------------------------------------------- variables
  const isScalar = (v) => typeof v === "string" || typeof v === "number" || typeof v === "boolean";
  const cssValue = (v) => String(v).replace(/[;{}<>\r\n]/g, ""); // no escaping the declaration
  const slug = (id) => "--" + (id.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "") || "node");
  function scopeValues(el) {
    const host = el.closest && el.closest("[" + HOST_ATTR + "]");
    const byComp = window.__hfVariablesByComp || {};
    const id = host && host.getAttribute("data-composition-id");
    return id && byComp[id] ? byComp[id] : fr.getVariables();
  }
  function declaredDefaults(el) {
    try {
      const list = JSON.parse((el && el.getAttribute("data-composition-variables")) || "[]");
      const out = {};
      if (Array.isArray(list)) list.forEach((d) => { if (d && typeof d.id === "string" && "default" in d) out[d.id] = d.default; });
      return out;
    } catch (e) { return {}; }
  }
  function setOwnText(el, text) {
    if (!el.childElementCount) { el.textContent = text; return; }
    let written = false;
    for (const node of Array.from(el.childNodes)) {
      if (node.nodeType !== Node.TEXT_NODE) continue;
      node.nodeValue = written ? "" : text;
      written = true;
    }
    if (!written) el.insertBefore(document.createTextNode(text), el.firstChild);
  }
  function safeUrl(url) {
    const scheme = /^\s*([a-z][a-z0-9+.-]*):/i.exec(url);
    if (!scheme) return true; // relative
    const s = scheme[1].toLowerCase();
    return s === "http" || s === "https" || s === "blob" || (s === "data" && /^\s*data:image\//i.test(url));
  }
  function applyBindings(within) {
    const all = (sel) => (within ? [within, ...within.querySelectorAll(sel)].filter((e) => e.matches(sel)) : Array.from(document.querySelectorAll(sel)));
    const roots = all("[data-composition-id]");
    if (!within && document.body) roots.unshift(document.querySelector("[data-hf-root]") || document.getElementById("stage") || document.body.firstElementChild || document.body);
    for (const root of new Set(roots)) {
      if (!root || !root.style) continue;
      for (const [id, v] of Object.entries(scopeValues(root))) {
        // A font value applies its family name.
        const css = isScalar(v) ? v : v && typeof v.name === "string" && v.name ? v.name : null;
        if (css !== null) root.style.setProperty("--" + id, cssValue(css));
      }
    }
    for (const el of all("[data-var-src]")) {
      if (!/^(IMG|VIDEO|AUDIO|SOURCE)$/.test(el.tagName)) continue; // a bound src on <script>/<iframe> would run code
      const v = scopeValues(el)[el.getAttribute("data-var-src").trim()];
      const url = typeof v === "string" ? v : v && typeof v.url === "string" ? v.url : "";
      if (url && safeUrl(url) && el.getAttribute("src") !== url) el.setAttribute("src", url);
    }
    for (const el of all("[data-var-text]")) {
      const v = scopeValues(el)[el.getAttribute("data-var-text").trim()];
      if (isScalar(v)) setOwnText(el, String(v));
    }
    if (within) return;
    // Declarers get --slug(id): declared defaults only where the page did not define it, overrides always.
    const values = fr.getVariables();
    const declarers = new Set([document.documentElement, ...document.querySelectorAll("[data-composition-variables]")]);
    for (const el of declarers) {
      if (!el.hasAttribute("data-composition-variables")) continue;
      for (const [id, def] of Object.entries(declaredDefaults(el))) {
        const v = id in values ? values[id] : def, name = slug(id);
        const overridden = JSON.stringify(v) !== JSON.stringify(def);
        if (!(typeof v === "number" || (typeof v === "string" && v !== ""))) continue;
        if (overridden || !getComputedStyle(el).getPropertyValue(name).trim()) el.style.setProperty(name, cssValue(v));
      }
    }
  }

  // ------------------------------------------------------------------------- layout
  const px = (v) => { const n = parseFloat(v); return Number.isFinite(n) && n > 0 ? n + "px" : null; };
  function applyLayout() {
    const root = findRoot();
    if (!root || root === document.body || root === document.documentElement) return; // framerun-style root: leave the page alone
    for (const el of [document.documentElement, document.body]) {
      if (!el) continue;
      el.style.margin = "0"; el.style.padding = "0"; el.style.overflow = "hidden";
    }
    const w = px(root.getAttribute("data-width")), h = px(root.getAttribute("data-height"));
    for (const el of [root, document.documentElement, document.body]) {
      if (w) el.style.width = w;
      if (h) el.style.height = h;
    }
    if (w) root.style.setProperty("--comp-width", w);
    if (h) root.style.setProperty("--comp-height", h);
    if (!root.style.position) root.style.position = "relative";
    root.style.overflow = "hidden";
    // Timed children of the root stack in one layer instead of flowing below each other.
    for (const el of Array.from(root.children)) {
      if (SKIP_TAGS.has(el.tagName) || !el.hasAttribute("data-start") || el.hasAttribute("data-hf-autostamped")) continue;
      const cs = getComputedStyle(el);
      if (cs.position !== "absolute" && cs.position !== "fixed") el.style.position = "absolute";
      if (!el.style.top && !el.style.bottom && cs.top === "auto" && cs.bottom === "auto") el.style.top = "0";
      if (!el.style.left && !el.style.right && cs.left === "auto" && cs.right === "auto") el.style.left = "0";
      if (el.tagName === "AUDIO") continue;
      const fw = px(el.getAttribute("data-width")), fh = px(el.getAttribute("data-height"));
      const c2 = getComputedStyle(el);
      if (!el.style.width && (c2.width === "0px" || c2.width === "auto")) el.style.width = fw || "100%";
      if (!el.style.height && (c2.height === "0px" || c2.height === "auto")) el.style.height = fh || "100%";
    }
  }

  // --------------------------------------------------------------- sub-compositions
  const scopes = (window.__framerunHfScopes = {});
  function scopedApi(id) {
    const sel = attrSel("data-composition-id", id);
    const rootOf = () => document.querySelector(sel);
    const authored = () => { const r = rootOf(); const inner = r && r.querySelector("[data-hf-authored-id]"); return inner && inner.getAttribute("data-hf-authored-id"); };
    const norm = (s) => { const a = authored(); return a ? s.replace(new RegExp("#" + a.replace(/[-.]/g, "\\$&") + "(?![\\w-])", "g"), attrSel("data-hf-authored-id", a)) : s; };
    const inside = (n) => { const r = rootOf(); return !r || n === r || r.contains(n); };
    const qsa = (s) => (typeof s === "string" ? Array.from(document.querySelectorAll(norm(s))).filter(inside) : document.querySelectorAll(s));
    const byId = (i) => { const f = document.getElementById(i); if (f && inside(f)) return f; const r = rootOf(); return r ? r.querySelector(`[id="${i}"], ${attrSel("data-hf-authored-id", i)}`) : f; };
    const bindAll = (target, overrides) => new Proxy(target, {
      get(t, p) {
        if (p in overrides) return overrides[p];
        const v = Reflect.get(t, p, t);
        return typeof v === "function" && v.prototype === undefined ? v.bind(t) : v;
      },
      set: (t, p, v) => Reflect.set(t, p, v, t),
    });
    const doc = bindAll(document, { querySelector: (s) => qsa(s)[0] || null, querySelectorAll: qsa, getElementById: byId });
    const target = (x) => (typeof x === "string" ? qsa(x) : Array.isArray(x) ? x.flatMap((i) => (typeof i === "string" ? qsa(i) : [i])) : x);
    const wrapTweens = (obj) => {
      for (const m of ["to", "from", "fromTo", "set"]) {
        const orig = obj[m];
        if (typeof orig === "function") obj[m] = function (first, ...rest) { return orig.call(obj, target(first), ...rest); };
      }
      return obj;
    };
    const g = window.gsap;
    const gsapScoped = g && bindAll(g, {
      timeline: (...a) => wrapTweens(g.timeline(...a)),
      to: (f, ...r) => g.to(target(f), ...r), from: (f, ...r) => g.from(target(f), ...r),
      fromTo: (f, ...r) => g.fromTo(target(f), ...r), set: (f, ...r) => g.set(target(f), ...r),
    });
    const hf = Object.assign({}, fr, { getVariables: () => Object.assign({}, (window.__hfVariablesByComp || {})[id] || {}) });
    const win = bindAll(window, { __hyperframes: hf });
    return { document: doc, gsap: gsapScoped, window: win, hyperframes: hf };
  }

  // CSS of a mounted composition, scoped the way HyperFrames' compiler scopes it
  // (@hyperframes/core compositionScoping scopeSelector): each selector is prefixed with
  // the host; `[data-composition-id="<id>"]` (the host's id) becomes the host, alone the
  // composition's box; html/body/:root alone are the box too; `*` alone stays global;
  // `#<authored root id>` is the preserved inner root. Keyframes and @font-face stay global.
  const esc = (v) => String(v).replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  function scopeSelectorFor(id, authoredId) {
    const scope = attrSel("data-composition-id", id);
    const box = `${scope}:not(:has([data-hf-inner-root])), ${scope} > [data-hf-inner-root]`;
    const idAttr = String.raw`\[\s*data-composition-id\s*[\^*$]?=\s*(["'])` + esc(id) + String.raw`\1\s*\]`;
    const exactAttr = String.raw`\[\s*data-composition-id\s*=\s*(?:"` + esc(id) + `"|'` + esc(id) + String.raw`')\s*\]`;
    const timing = String.raw`\s*\[\s*data-(?:start|duration)\s*=\s*(?:"[^"]*"|'[^']*')\s*\]`;
    return (selector) => {
      let sel = selector;
      if (authoredId) sel = sel.replace(new RegExp("#" + esc(authoredId) + "(?![\\w-])", "g"), attrSel("data-hf-authored-id", authoredId));
      sel = sel.replace(new RegExp(`${exactAttr}(?:${timing})+`, "g"), scope).replace(new RegExp(`(?:${timing})+${exactAttr}`, "g"), scope);
      const trimmed = sel.trim();
      if (!trimmed || trimmed === "*") return selector;
      if (/^(html|body|:root)$/i.test(trimmed)) return box;
      const pattern = new RegExp(idAttr, "g");
      if (pattern.test(trimmed)) {
        return trimmed.replace(new RegExp(idAttr, "g"), "").trim() === "" ? box : sel.replace(new RegExp(idAttr, "g"), scope);
      }
      return `${scope} ${trimmed}`;
    };
  }
  function scopeSheet(style, id, authoredId) {
    const scopeOne = scopeSelectorFor(id, authoredId);
    const split = (text) => { const out = []; let depth = 0, cur = ""; for (const ch of text) { if ("([".includes(ch)) depth++; if (")]".includes(ch)) depth--; if (ch === "," && !depth) { out.push(cur); cur = ""; } else cur += ch; } out.push(cur); return out.map((s) => s.trim()).filter(Boolean); };
    const walk = (rules) => {
      for (const rule of Array.from(rules || [])) {
        // Nested style rules are relative to their parent, which is scoped already.
        if (rule.type === CSSRule.STYLE_RULE) rule.selectorText = split(rule.selectorText).map(scopeOne).join(", ");
        else if (rule.cssRules && rule.type !== CSSRule.KEYFRAMES_RULE) walk(rule.cssRules);
      }
    };
    try { walk(style.sheet && style.sheet.cssRules); } catch (e) { record("hyperframes css", e); }
  }

  function loadScript(src) {
    return new Promise((resolve) => {
      const s = document.createElement("script");
      s.async = false;
      s.addEventListener("load", resolve, { once: true });
      s.addEventListener("error", () => { record("hyperframes", "sub-composition script failed to load: " + src); resolve(); }, { once: true });
      s.src = src;
      document.body.appendChild(s);
    });
  }
  function alreadyLoaded(src) {
    const here = Array.from(document.scripts).some((s) => s.src === src);
    // A second copy of GSAP would start a second global timeline the runtime does not drive.
    return here || (/(^|\/)gsap(\.min)?\.js(\?|$)/.test(src) && !!window.gsap);
  }

  // What HyperFrames takes off a sub-composition's root when it moves it into its host.
  const FLATTENED_DROPS = ["data-composition-id", "data-composition-file", "data-composition-src", "data-start",
    "data-duration", "data-end", "data-track-index", "data-track", "data-hf-authored-duration", "data-hf-authored-end", "id"];
  async function mount(host, ancestry) {
    const hostId = host.getAttribute("data-composition-id");
    const src = host.getAttribute("data-composition-src");
    let content, head = null, compUrl = null, declarer = null;
    const local = hostId && document.getElementById(hostId + "-template");
    if (local && local.tagName === "TEMPLATE") {
      content = local.content;
    } else {
      compUrl = new URL(src, document.baseURI);
      if (ancestry.includes(compUrl.href)) throw new Error(`'${src}' includes itself; remove the cycle`);
      // The header asks framerun for the file as HyperFrames inlines it: its paths
      // rewritten to point from the entry document (subcomp.py), its font rules applied.
      const response = await fetch(compUrl.href, { headers: { "x-framerun-composition": "1" } });
      if (!response.ok) throw new Error(`HTTP ${response.status} for ${compUrl.href}`);
      const doc = new DOMParser().parseFromString(await response.text(), "text/html");
      const tpl = (hostId && doc.getElementById(hostId + "-template")) || doc.querySelector("template");
      content = tpl ? tpl.content : doc.body;
      head = tpl ? null : doc.head;
      declarer = doc.documentElement;
    }
    // The composition's root is the element whose id is the host's (the file's first root
    // when the host has no id); when the host names another id than the file's root,
    // HyperFrames keeps the file's content unflattened (its root keeps data-composition-id,
    // so CSS keyed on the authored id still applies). CSS and scripts are scoped to the
    // host's id, or to the file's own for a host without one.
    const inner = hostId ? content.querySelector(attrSel("data-composition-id", hostId)) : content.querySelector("[data-composition-id]");
    const declared = inner || content.querySelector("[data-composition-id]");
    const id = hostId || (declared && declared.getAttribute("data-composition-id")) || null;
    const scripts = [...(head ? head.querySelectorAll("script") : []), ...content.querySelectorAll("script")];
    const styles = [...(head ? head.querySelectorAll("style, link[rel=stylesheet]") : []), ...content.querySelectorAll("style, link[rel=stylesheet]")];
    const authoredId = inner && inner.id;
    for (const st of styles) {
      const node = document.importNode(st, true);
      if (node.tagName === "LINK" && Array.from(document.querySelectorAll("link")).some((l) => l.href === node.href)) continue;
      document.head.appendChild(node);
      if (node.tagName === "STYLE" && id) scopeSheet(node, id, authoredId);
    }
    let body;
    if (inner) body = document.importNode(inner, true);
    else {
      body = document.createDocumentFragment();
      for (const n of Array.from(content.childNodes)) body.appendChild(document.importNode(n, true));
    }
    for (const el of (body.querySelectorAll ? body.querySelectorAll("script, style, link[rel=stylesheet]") : [])) el.remove();
    if (inner) {
      // Flatten (HyperFrames' prepareFlattenedInnerRoot): the host carries the composition's
      // identity and timing; the inner root keeps its box, filling the host.
      for (const a of ["width", "height"]) {
        const v = inner.getAttribute("data-" + a);
        if (v && !host.getAttribute("data-" + a)) host.setAttribute("data-" + a, v);
        body.style[a] = px(v) || "100%";
      }
      declarer = declarer && declarer.hasAttribute("data-composition-variables") ? declarer : inner;
      for (const a of FLATTENED_DROPS) body.removeAttribute(a);
      if (authoredId) body.setAttribute("data-hf-authored-id", authoredId);
      body.setAttribute("data-hf-inner-root", "true");
      if (!hostId && id) body.setAttribute("data-composition-id", id); // an anonymous host's root keeps its id
    }
    // A host with a size is that size, unless its own style says otherwise.
    const hw = px(host.getAttribute("data-width")), hh = px(host.getAttribute("data-height"));
    if (hw && hh) {
      const own = host.getAttribute("style") || "";
      if (!own.includes("width")) host.style.width = hw;
      if (!own.includes("height")) host.style.height = hh;
    }
    host.textContent = "";
    host.appendChild(body);
    host.setAttribute(HOST_ATTR, "");
    if (id) {
      let overrides = {};
      try { overrides = JSON.parse(host.getAttribute("data-variable-values") || "{}") || {}; } catch (e) { record("hyperframes", "bad data-variable-values on " + id); }
      (window.__hfVariablesByComp = window.__hfVariablesByComp || {})[id] = Object.assign({}, declaredDefaults(declarer), overrides);
    }
    applyBindings(host);
    if (scripts.length && document.fonts) await document.fonts.ready;
    for (const sc of scripts) {
      const type = (sc.getAttribute("type") || "").trim();
      if (type && !/^(text|application)\/javascript$|^module$/i.test(type)) continue;
      const rawSrc = sc.getAttribute("src");
      if (rawSrc) {
        const url = new URL(rawSrc, document.baseURI).href;
        if (!alreadyLoaded(url)) await loadScript(url);
        continue;
      }
      if (id) scopes[id] = scopedApi(id); // per script: an earlier one may have loaded GSAP
      const el = document.createElement("script");
      const key = JSON.stringify(id || "");
      el.textContent = id && type !== "module"
        ? `(function(S){try{(function(document,gsap,window,__hyperframes){\n${sc.textContent}\n}).call(S.window,S.document,S.gsap,S.window,S.hyperframes);}` +
          `catch(e){window.__framerun.__internal.record("hyperframes composition " + ${key}, e);}})(window.__framerunHfScopes[${key}]);`
        : sc.textContent;
      if (type === "module") el.type = "module";
      document.body.appendChild(el);
    }
  }

  async function loadSubCompositions() {
    const ancestry = new Map(); // host -> URLs of the compositions it sits in
    for (let round = 0; round < 64; round++) {
      const pending = Array.from(document.querySelectorAll("[data-composition-src], [data-composition-id]")).filter((h) => {
        if (ancestry.has(h) || h === findRoot()) return false;
        if (h.hasAttribute("data-composition-src")) return true;
        const id = h.getAttribute("data-composition-id");
        return !h.children.length && !!document.getElementById(id + "-template");
      });
      if (!pending.length) return;
      for (const host of pending) {
        const parent = host.parentElement && host.parentElement.closest("[" + HOST_ATTR + "]");
        const chain = [...((parent && ancestry.get(parent)) || [])];
        const src = host.getAttribute("data-composition-src");
        if (src) chain.push(new URL(src, document.baseURI).href);
        ancestry.set(host, chain);
        try { await mount(host, chain.slice(0, -1)); } catch (e) { record("hyperframes sub-composition " + (src || host.getAttribute("data-composition-id")), e); host.textContent = ""; }
      }
    }
  }

  // ----------------------------------------------------------------------- wiring
  let loading = null;
  function init() {
    if (loading) return loading;
    applyBindings(null);
    applyLayout();
    registry();
    loading = loadSubCompositions().then(() => { applyLayout(); }, (e) => record("hyperframes", e));
    return loading;
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init, { once: true });
  else init();

  fr.registerAdapter({
    name: "hyperframes",
    ready: async () => {
      await init();
      const pendingImages = Array.from(document.images).filter((i) => !i.complete);
      await Promise.all(pendingImages.map((i) => i.decode().catch(() => {})));
    },
    seek: (ms) => {
      const t = ms / 1000;
      placeTimelines(t);
      syncVisibility(t);
    },
    // Nested timelines must be in place while time moves; clip visibility only paints.
    preroll: (ms) => placeTimelines(ms / 1000),
  });
  window.__framerunHyperframes = {
    durationSeconds,
    clipWindow: (el) => { const r = resolver(); const s = r.start(el); const d = r.duration(el); return { start: s, end: d ? s + d : null }; },
    // An <audio>/<video>: its start, and its end (its length, cut at its hosts' end).
    mediaWindow: (el) => {
      const r = resolver();
      const s = r.mediaStart(el), d = r.duration(el);
      return { start: s, end: Math.min(d != null ? s + d : Infinity, r.hostsEnd(el)), trim: mediaTrim(el) };
    },
  };
})();
