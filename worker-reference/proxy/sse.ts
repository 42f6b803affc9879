/** The largest server-sent event accepted by default (a streamed chunk with logprobs of 20 alternatives is up to ~1.4 KB a token). */
export const MAX_SSE_EVENT_CHARS = 4 * 1024 * 1024;

/** An event's end (sticky search position set before each use). */
const SEPARATOR = /\r?\n\r?\n/g;

/**
 * Splits a server-sent-events byte stream into the `data:` payloads of its events. Each piece
 * is scanned once (an event arriving in many pieces is not scanned again from its start), and
 * an event longer than `maxEventChars` throws: a peer that never ends its event cannot grow
 * the buffer without bound.
 */
export class SseParser {
    private buf = '';
    /** Where the search for the next event's end resumes (the buffer before it holds none). */
    private scanned = 0;

    constructor(private readonly maxEventChars = MAX_SSE_EVENT_CHARS) {}

    push(chunk: string): string[] {
        this.buf += chunk;
        const out: string[] = [];
        for (;;) {
            // A separator may straddle two pieces: look back three characters ("\r\n\r" + "\n").
            SEPARATOR.lastIndex = Math.max(0, this.scanned - 3);
            const m = SEPARATOR.exec(this.buf);
            if (!m) break;
            const event = this.buf.slice(0, m.index);
            this.buf = this.buf.slice(m.index + m[0].length);
            this.scanned = 0;
            const data = event
                .split(/\r?\n/)
                .filter((l) => l.startsWith('data:'))
                .map((l) => l.slice(5).replace(/^ /, ''))
                .join('\n');
            if (data.length > 0) out.push(data);
        }
        this.scanned = this.buf.length;
        if (this.buf.length > this.maxEventChars) throw new Error(`an event of more than ${this.maxEventChars} characters`);
        return out;
    }
}
