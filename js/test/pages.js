// The web app of the browser test, served by Node on 127.0.0.1: a page that
// loads the built client (dist/) as an ES module and exposes it as
// window.es, and the app's backend route /token, which mints a client token
// (as a chat service would) for the rooms the query names.

import http from 'node:http';
import { readFile } from 'node:fs/promises';
import { join, normalize } from 'node:path';
import { jsDir, mintToken } from './helpers.js';

const page = `<!doctype html>
<meta charset="utf-8">
<title>eventstore client</title>
<script type="module">
  import * as es from '/dist/index.js';
  window.es = es;
  window.loaded = true;
</script>`;

/** Starts the app on 127.0.0.1; minted counts the tokens it gave. */
export async function startApp() {
  const app = { minted: 0 };
  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url, 'http://x');
    try {
      if (url.pathname === '/') {
        res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
        return res.end(page);
      }
      if (url.pathname === '/token') {
        const token = await mintToken({ sub: url.searchParams.get('sub') ?? 'page', read: url.searchParams.getAll('read'), write: url.searchParams.getAll('write'), ttl: url.searchParams.get('ttl') ?? '15m' });
        app.minted++;
        res.writeHead(200, { 'Content-Type': 'text/plain', 'Cache-Control': 'no-store' });
        return res.end(token);
      }
      if (url.pathname.startsWith('/dist/')) {
        const file = normalize(join(jsDir, url.pathname));
        if (!file.startsWith(join(jsDir, 'dist'))) throw new Error('outside dist');
        const body = await readFile(file);
        res.writeHead(200, { 'Content-Type': file.endsWith('.js') ? 'text/javascript' : 'application/octet-stream' });
        return res.end(body);
      }
      res.writeHead(404).end();
    } catch (err) {
      res.writeHead(500, { 'Content-Type': 'text/plain' }).end(String(err));
    }
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  app.port = server.address().port;
  app.close = () => new Promise((r) => { server.closeAllConnections(); server.close(r); });
  return app;
}
