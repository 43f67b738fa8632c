// A tiny HTTP proxy for tests: it forwards to a server and can fail
// requests (answering 503, or dropping the connection), rewrite the events
// of JSON answers and of event streams (an event altered on its way), and
// cut every connection it holds. WebSocket upgrades are passed through.

import http from 'node:http';
import net from 'node:net';

/**
 * Starts a proxy on 127.0.0.1 in front of target (http://host:port).
 * hooks.fail(req) → 'status' | 'drop' | undefined; hooks.alter(event) →
 * changes an event in place (JSON answers and stream data lines).
 */
export async function startProxy(target, hooks = {}) {
  const t = new URL(target);
  const sockets = new Set();
  const log = [];
  const server = http.createServer((req, res) => {
    log.push(`${req.method} ${req.url}`);
    const fault = hooks.fail?.(req);
    if (fault === 'drop') return req.socket.destroy();
    if (fault === 'status') {
      res.writeHead(503, { 'Content-Type': 'application/problem+json', 'Retry-After': '0' });
      return res.end(JSON.stringify({ type: 'about:blank', title: 'Service Unavailable', status: 503, code: 'unavailable', detail: 'the proxy says no' }));
    }
    const up = http.request({ host: t.hostname, port: t.port, method: req.method, path: req.url, headers: req.headers }, (ur) => {
      const type = ur.headers['content-type'] ?? '';
      if (hooks.alter && type.startsWith('text/event-stream')) {
        res.writeHead(ur.statusCode, ur.headers);
        let buf = '';
        ur.setEncoding('utf8');
        ur.on('data', (chunk) => {
          buf += chunk;
          const lines = buf.split('\n');
          buf = lines.pop();
          res.write(lines.map((l) => (l.startsWith('data: {') ? 'data: ' + alterJSON(l.slice(6), hooks.alter) : l)).join('\n') + '\n');
        });
        ur.on('end', () => res.end(buf));
        return;
      }
      if (hooks.alter && type.startsWith('application/json')) {
        const chunks = [];
        ur.on('data', (c) => chunks.push(c));
        ur.on('end', () => {
          const body = Buffer.from(alterJSON(Buffer.concat(chunks).toString('utf8'), hooks.alter));
          const headers = { ...ur.headers, 'content-length': String(body.length) };
          res.writeHead(ur.statusCode, headers);
          res.end(body);
        });
        return;
      }
      res.writeHead(ur.statusCode, ur.headers);
      ur.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  server.on('connection', (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
  const upgraded = new Map(); // client socket → server socket
  server.on('upgrade', async (req, socket, head) => {
    socket.on('error', () => {});
    await hooks.upgrade?.(req); // a test may hold a reconnection here
    const up = net.connect(Number(t.port), t.hostname, () => {
      up.write(`${req.method} ${req.url} HTTP/1.1\r\n` + Object.entries(req.headers).map(([k, v]) => `${k}: ${v}`).join('\r\n') + '\r\n\r\n');
      up.write(head);
      socket.pipe(up);
      up.pipe(socket);
    });
    sockets.add(up);
    sockets.add(socket);
    upgraded.set(socket, up);
    up.on('close', () => { sockets.delete(up); upgraded.delete(socket); socket.destroy(); });
    socket.on('close', () => { sockets.delete(socket); up.destroy(); });
    up.on('error', () => socket.destroy());
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    log,
    /**
     * Ends every WebSocket connection as the server would: the packet
     * (JSON) as a text frame, then a close frame (1008), where nothing of
     * the server's is in flight (call it when the connection is idle).
     */
    wsEnd(packet) {
      for (const [socket, up] of upgraded) {
        up.unpipe(socket);
        socket.write(frame(0x81, Buffer.from(JSON.stringify(packet))));
        socket.write(frame(0x88, Buffer.from([0x03, 0xf0])));
        setTimeout(() => { socket.destroy(); up.destroy(); }, 50);
      }
    },
    /** Cuts every connection open now. */
    cut() {
      for (const s of sockets) s.destroy();
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}

/** JSON text with every event in it (an object with _id and dHash) passed to alter. */
function alterJSON(text, alter) {
  let v;
  try {
    v = JSON.parse(text);
  } catch {
    return text;
  }
  const walk = (x) => {
    if (Array.isArray(x)) x.forEach(walk);
    else if (x && typeof x === 'object') {
      if (typeof x._id === 'string' && typeof x.dHash === 'string') alter(x);
      else Object.values(x).forEach(walk);
    }
  };
  walk(v);
  return JSON.stringify(v);
}

/** An unmasked WebSocket frame, as a server sends it. */
function frame(first, payload) {
  const n = payload.length;
  const head = n < 126 ? Buffer.from([first, n]) : n < 65536 ? Buffer.from([first, 126, n >> 8, n & 255]) : null;
  if (!head) throw new Error('frame too large for a test');
  return Buffer.concat([head, payload]);
}
