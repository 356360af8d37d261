// The clinic app's service worker (DESIGN.md §12): the app shell opens with no network. The
// server fills in the files it serves and a digest of them, so every build is a new worker:
// it caches that build's files and drops the old ones. Network first, so staff always run the
// newest app when the server answers; the cache only when it does not. Only this origin's
// files: nothing of a chart ever passes through here (the relay, Blossom and the gateway are
// other origins, and the chart is decrypted in the page), and the cache holds no patient data.
const CACHE = "clinic-{{version}}";
const FILES = {{files}};

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(FILES)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(caches.keys()
    .then((names) => Promise.all(names.filter((name) => name !== CACHE).map((name) => caches.delete(name))))
    .then(() => self.clients.claim()));
});

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== self.location.origin || !FILES.includes(url.pathname)) return;
  event.respondWith(fetch(event.request)
    .then((response) => {
      if (response.ok) {
        const copy = response.clone();
        event.waitUntil(caches.open(CACHE).then((cache) => cache.put(url.pathname, copy)));
      }
      return response;
    })
    .catch(() => caches.match(url.pathname).then((cached) => cached ?? Response.error())));
});
