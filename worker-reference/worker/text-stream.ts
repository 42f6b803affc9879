/**
 * Turns generated text pieces into what may be sent: holds back any tail that could be the
 * start of a stop string and cuts the answer at the first stop string found.
 */
export class StopScanner {
    private text = '';
    private emitted = 0;
    private readonly maxStop: number;
    stopped = false;

    constructor(private readonly stops: string[]) {
        this.maxStop = stops.reduce((m, s) => Math.max(m, s.length), 0);
    }

    /** Adds a piece; returns the text that is now safe to send (may be empty). */
    push(piece: string): string {
        if (this.stopped) return '';
        this.text += piece;
        if (this.stops.length === 0) return this.flushTo(this.text.length);
        const from = Math.max(0, this.emitted - this.maxStop);
        let cut = -1;
        for (const s of this.stops) {
            const i = this.text.indexOf(s, from);
            if (i >= 0 && (cut < 0 || i < cut)) cut = i;
        }
        if (cut >= 0) {
            this.stopped = true;
            this.text = this.text.slice(0, cut);
            return this.flushTo(Math.max(cut, this.emitted));
        }
        let hold = 0;
        for (const s of this.stops) {
            for (let k = Math.min(s.length - 1, this.text.length); k > hold; k--) {
                if (this.text.endsWith(s.slice(0, k))) {
                    hold = k;
                    break;
                }
            }
        }
        return this.flushTo(this.text.length - hold);
    }

    /** At the end of generation: whatever was held back is part of the answer. */
    finish(): string {
        return this.flushTo(this.text.length);
    }

    /** The answer as sent so far (after a stop: everything before the stop string). */
    get answer(): string {
        return this.text.slice(0, this.emitted);
    }

    private flushTo(end: number): string {
        if (end <= this.emitted) return '';
        const out = this.text.slice(this.emitted, end);
        this.emitted = end;
        return out;
    }
}

/**
 * Decodes tokens to text one at a time. A token that ends inside a multi-byte UTF-8
 * character (byte-fallback tokens) is kept until the character completes.
 */
export class TokenTextDecoder<T = number> {
    private pending: T[] = [];
    private history: T[] = [];
    /** `detokenize(tokens, previous)`: previous tokens let the tokenizer place word-start spaces. */
    constructor(private readonly detokenize: (tokens: T[], previous: T[]) => string) {}

    push(token: T): string {
        this.pending.push(token);
        const text = this.detokenize(this.pending, this.history);
        if (text.endsWith('\uFFFD') && this.pending.length < 4) return '';
        return this.take(text);
    }

    flush(): string {
        if (this.pending.length === 0) return '';
        return this.take(this.detokenize(this.pending, this.history));
    }

    private take(text: string): string {
        this.history = this.history.concat(this.pending).slice(-8);
        this.pending = [];
        return text;
    }
}
