/*
 * framerun preview: the composition's requests to other origins go through the page guard.
 *
 * A render answers every request through request interception (pageguard.py). An ordinary
 * browser fetches other origins itself, so this worker hands each such request to the
 * preview server's /__framerun/relay, which answers it with the same guard: bundled
 * fonts from their virtual origin, public https: fetched by framerun, everything else
 * refused. A refusal reaches the page as a network error, as route.abort() does.
 * Requests to the preview server's own origin go to it directly.
 */
"use strict";

const RELAY = "/__framerun/relay?url=";
const NULL_BODY = new Set([101, 204, 205, 304]);

self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));
// A page loaded with the cache bypassed (Shift+reload) starts uncontrolled: it asks.
self.addEventListener("message", (event) => {
  if (event.data === "claim") event.waitUntil(self.clients.claim());
});

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (url.origin === self.location.origin) return; // the server answers with the guard
  if (url.protocol === "data:" || url.protocol === "blob:") return; // inline, as in a render
  event.respondWith(relay(event.request));
});

async function relay(request) {
  const headers = new Headers();
  for (const [name, value] of request.headers) headers.set(name, value);
  headers.set("x-framerun-destination", request.destination || "");
  const hasBody = !["GET", "HEAD"].includes(request.method);
  const answer = await fetch(RELAY + encodeURIComponent(request.url), {
    method: request.method,
    headers,
    body: hasBody ? await request.arrayBuffer() : undefined,
    cache: "no-store",
    credentials: "omit",
  });
  if (!answer.headers.has("x-framerun-relay")) {
    // Another server listens here now: step aside for good.
    self.registration.unregister();
    return fetch(request);
  }
  if (answer.headers.has("x-framerun-refused")) return Response.error();
  // A response made here keeps the request's URL, so relative URLs in a stylesheet
  // fetched from elsewhere resolve as they would in a render.
  return new Response(NULL_BODY.has(answer.status) ? null : await answer.arrayBuffer(), {
    status: answer.status,
    statusText: answer.statusText,
    headers: answer.headers,
  });
}
