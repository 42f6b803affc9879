/** Splits a server-sent-events byte stream into the `data:` payloads of its events. */
export class SseParser {
    private buf = '';
    push(chunk: string): string[] {
        this.buf += chunk;
        const out: string[] = [];
        for (;;) {
            const m = /\r?\n\r?\n/.exec(this.buf);
            if (!m) break;
            const event = this.buf.slice(0, m.index);
            this.buf = this.buf.slice(m.index + m[0].length);
            const data = event
                .split(/\r?\n/)
                .filter((l) => l.startsWith('data:'))
                .map((l) => l.slice(5).replace(/^ /, ''))
                .join('\n');
            if (data.length > 0) out.push(data);
        }
        return out;
    }
}
