package client

import (
	"bufio"
	"bytes"
	"io"
)

// The streams are Server-Sent Events, read here by hand: the format is
// four kinds of line (a field, a comment, a blank line ending a message,
// and the field's name without a value), as the server's api/stream.go
// writes them by hand, and a library would add a dependency and hide the
// reconnection rules this package must control (Last-Event-ID from the
// last message yielded, not the last one read).

// maxSSELine bounds one line of a stream: an event's JSON on one line,
// with room for the largest data allowed.
const maxSSELine = 4 << 20

// sseMessage is one message of a stream: its event type ("" for the
// default), its data lines joined by "\n", and its id.
type sseMessage struct {
	event string
	data  []byte
	id    string
}

// sseReader reads the messages of a stream.
type sseReader struct {
	lines *bufio.Scanner
	touch func() // told of every line, heartbeats included
}

func newSSEReader(r io.Reader, touch func()) *sseReader {
	lines := bufio.NewScanner(r)
	lines.Buffer(make([]byte, 0, 64<<10), maxSSELine)
	lines.Split(scanSSELine)
	return &sseReader{lines: lines, touch: touch}
}

// next returns the next message that has data; io.EOF when the stream
// ends (a message cut off by the end is dropped, as the format says).
func (r *sseReader) next() (sseMessage, error) {
	var m sseMessage
	var data bytes.Buffer
	hasData := false
	for r.lines.Scan() {
		r.touch()
		line := r.lines.Bytes()
		switch {
		case len(line) == 0: // the end of a message
			if !hasData {
				m = sseMessage{}
				continue
			}
			m.data = bytes.TrimSuffix(data.Bytes(), []byte("\n"))
			return m, nil
		case line[0] == ':': // a comment: the heartbeat
			continue
		}
		field, value, _ := bytes.Cut(line, []byte(":"))
		value = bytes.TrimPrefix(value, []byte(" "))
		switch string(field) {
		case "event":
			m.event = string(value)
		case "data":
			data.Write(value)
			data.WriteByte('\n')
			hasData = true
		case "id":
			if bytes.IndexByte(value, 0) < 0 {
				m.id = string(value)
			}
		} // retry: the client keeps its own backoff; other fields are ignored
	}
	if err := r.lines.Err(); err != nil {
		return sseMessage{}, err
	}
	return sseMessage{}, io.EOF
}

// scanSSELine splits a stream into lines ended by "\r\n", "\n" or "\r".
func scanSSELine(data []byte, atEOF bool) (advance int, token []byte, err error) {
	i := bytes.IndexAny(data, "\r\n")
	switch {
	case i < 0 && atEOF && len(data) > 0:
		return len(data), data, nil
	case i < 0:
		return 0, nil, nil
	case data[i] == '\n':
		return i + 1, data[:i], nil
	case i+1 < len(data):
		if data[i+1] == '\n' {
			return i + 2, data[:i], nil
		}
		return i + 1, data[:i], nil
	case atEOF:
		return i + 1, data[:i], nil
	}
	return 0, nil, nil // a "\r" at the end: wait to see whether "\n" follows
}
