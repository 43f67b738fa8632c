// Test helpers: the real server (bin/eventstore) on 127.0.0.1, client
// tokens minted by its `token` command, and small proxies that put faults
// in between. Every wait is bounded and every process is killed at exit.

import { spawn, execFile } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';

export const jsDir = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const root = resolve(jsDir, '..');
export const bin = process.env.EVENTSTORE_BIN || join(root, 'bin/eventstore');
if (!existsSync(bin)) throw new Error(`${bin} is missing: run 'make build' (or set EVENTSTORE_BIN)`);

/** A secret of 32+ bytes for client tokens. */
export const clientKey = 'hmac:' + 'k'.repeat(40);

const running = new Set();
process.on('exit', () => {
  for (const p of running) p.kill('SIGKILL');
});

/**
 * Starts `eventstore serve` on 127.0.0.1 (port 0: a free one) with its data
 * in a fresh directory unless one is given; resolves once it listens.
 */
export async function startServer({ args = [], data, port = 0, env = {} } = {}) {
  const own = !data;
  data ??= mkdtempSync(join(tmpdir(), 'es-js-'));
  const proc = spawn(bin, ['serve', '--data', data, '--listen', `127.0.0.1:${port}`, '--log-format', 'json', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  running.add(proc);
  const exited = new Promise((res) => proc.once('exit', (code, signal) => { running.delete(proc); res({ code, signal }); }));
  const log = [];
  const url = await new Promise((res, rej) => {
    const timer = setTimeout(() => rej(new Error('the server did not listen within 60 s:\n' + log.join('\n'))), 60_000);
    for (const s of [proc.stdout, proc.stderr]) {
      createInterface({ input: s }).on('line', (line) => {
        if (log.length < 200) log.push(line);
        try {
          const m = JSON.parse(line);
          if (m.msg === 'listening') {
            clearTimeout(timer);
            res(m.url);
          }
        } catch { /* not JSON */ }
      });
    }
    exited.then(({ code }) => { clearTimeout(timer); rej(new Error(`the server exited (${code}):\n${log.join('\n')}`)); });
  });
  const server = {
    url,
    port: Number(new URL(url).port),
    data,
    log,
    /** Stops the server (SIGTERM, then SIGKILL after 10 s). */
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGTERM');
        const t = setTimeout(() => proc.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(t);
      }
    },
    /** Stops it and starts it again on the same port and data. */
    async restart() {
      await server.stop();
      return startServer({ args, data, port: server.port, env });
    },
    /** Stops it and removes its data (if made here). */
    async close() {
      await server.stop();
      if (own) rmSync(data, { recursive: true, force: true });
    },
  };
  return server;
}

const run = promisify(execFile);

/** A client token minted by `eventstore token`. */
export async function mintToken({ sub = 'alice', read = [], write = [], ttl = '15m' } = {}) {
  const args = ['token', '--client-token-key', clientKey, '--sub', sub, '--ttl', ttl];
  for (const r of read) args.push('--read', r);
  for (const w of write) args.push('--write', w);
  const { stdout } = await run(bin, args, { timeout: 10_000 });
  return stdout.trim();
}

/** `eventstore hash` of one event: {dHash, _id}. */
export async function hashWithBinary(event) {
  return new Promise((res, rej) => {
    const p = execFile(bin, ['hash'], { timeout: 10_000 }, (err, stdout, stderr) => {
      if (err) rej(new Error(`eventstore hash: ${err.message} ${stderr}`));
      else res(JSON.parse(stdout));
    });
    p.stdin.end(JSON.stringify(event));
  });
}

/** Runs f over items, n at a time. */
export async function pool(items, n, f) {
  const out = new Array(items.length);
  let next = 0;
  await Promise.all(Array.from({ length: n }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await f(items[i], i);
    }
  }));
  return out;
}

/** Waits until cond() is true, polling, at most ms; throws on timeout. */
export async function until(cond, ms = 10_000, what = 'a condition') {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Resolves with the first n items of an async iterable, or rejects after ms. */
export async function take(iterable, n, ms = 15_000, keep = () => true) {
  const out = [];
  const it = iterable[Symbol.asyncIterator]();
  const timer = new Promise((_, rej) => { const t = setTimeout(() => rej(new Error(`timed out after ${ms} ms with ${out.length} of ${n} items`)), ms); t.unref?.(); });
  while (out.length < n) {
    const r = await Promise.race([it.next(), timer]);
    if (r.done) break;
    if (keep(r.value)) out.push(r.value);
  }
  return { items: out, it };
}
