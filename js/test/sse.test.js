import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SSEParser } from '../dist/sse.js';

test('SSE: messages, comments, CRLF and CR, lines split across chunks', () => {
  const text = 'retry: 2000\r\n\r\nevent: caught-up\r\nid: c1\r\ndata: c1\r\n\r\n: heartbeat\n\nid: c2\ndata: {"a":\ndata: 1}\n\nid: c3\rdata: x\r\r';
  for (const size of [1, 2, 3, 7, text.length]) {
    const p = new SSEParser();
    const got = [];
    for (let i = 0; i < text.length; i += size) got.push(...p.push(text.slice(i, i + size)));
    assert.deepEqual(got, [
      { event: 'caught-up', data: 'c1', id: 'c1' },
      { event: '', data: '{"a":\n1}', id: 'c2' },
      { event: '', data: 'x', id: 'c3' },
    ], `chunks of ${size}`);
  }
});

test('SSE: a message cut off by the end is not delivered', () => {
  const p = new SSEParser();
  assert.deepEqual(p.push('id: 1\ndata: x\n'), []);
});
