// Server-Sent Events read by hand from a fetch body, as the Go client does
// (client/sse.go): lines ended by "\r\n", "\n" or "\r"; a blank line ends
// a message; ':' starts a comment (the heartbeat); fields event, data, id.
// A reader of our own, rather than EventSource, can send the Authorization
// header and chooses the Last-Event-ID it resumes from.

/** One message of a stream: its event type ('' for the default), data lines joined by "\n", and id. */
export interface SSEMessage {
  event: string;
  data: string;
  id: string;
}

/** Splits text chunks into SSE messages. */
export class SSEParser {
  private buf = '';
  private event = '';
  private data: string[] = [];
  private id = '';
  private hasData = false;
  private pendingCR = false;

  /** Feeds a chunk of text; returns the messages it completes. */
  push(chunk: string): SSEMessage[] {
    const out: SSEMessage[] = [];
    let s = this.buf + chunk;
    if (this.pendingCR && s.startsWith('\n')) s = s.slice(1); // the "\n" of a "\r\n" split across chunks
    this.pendingCR = false;
    let start = 0;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c !== 10 && c !== 13) continue;
      this.line(s.slice(start, i), out);
      if (c === 13) {
        if (i + 1 < s.length) {
          if (s.charCodeAt(i + 1) === 10) i++;
        } else {
          this.pendingCR = true;
        }
      }
      start = i + 1;
    }
    this.buf = s.slice(start);
    return out;
  }

  private line(line: string, out: SSEMessage[]): void {
    if (line === '') {
      if (this.hasData) {
        out.push({ event: this.event, data: this.data.join('\n'), id: this.id });
      }
      this.event = '';
      this.data = [];
      this.id = '';
      this.hasData = false;
      return;
    }
    if (line.startsWith(':')) return; // a comment: the heartbeat
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    switch (field) {
      case 'event':
        this.event = value;
        break;
      case 'data':
        this.data.push(value);
        this.hasData = true;
        break;
      case 'id':
        if (!value.includes('\0')) this.id = value;
        break;
      // retry: the client keeps its own backoff; other fields are ignored
    }
  }
}
