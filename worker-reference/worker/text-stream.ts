/**
 * Turns generated text pieces into what may be sent: holds back any tail that could be the
 * start of a stop string and cuts the answer at the first stop string found.
 */
export class StopScanner {
    private text = '';
    private emitted = 0;
    private readonly maxStop: number;
    /** Per stop string, its proper prefixes, longest first. */
    private readonly prefixes: string[][];
    stopped = false;

    constructor(private readonly stops: string[]) {
        this.maxStop = stops.reduce((m, s) => Math.max(m, s.length), 0);
        this.prefixes = stops.map((s) => Array.from({ length: s.length - 1 }, (_, i) => s.slice(0, s.length - 1 - i)));
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
        // Hold back the longest tail that begins a stop string (it may complete next).
        let hold = 0;
        const end = this.text.length;
        for (const prefixes of this.prefixes) {
            for (const prefix of prefixes) {
                const k = prefix.length;
                if (k <= hold) break;
                if (k <= end && this.text.charCodeAt(end - k) === prefix.charCodeAt(0) && this.text.endsWith(prefix)) {
                    hold = k;
                    break;
                }
            }
        }
        return this.flushTo(end - hold);
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
 * Decodes tokens to text one at a time, with one tokenizer call of two tokens per token. A
 * token's text depends on what precedes it (a word-start space is dropped at the start of a
 * text), so each step renders the previous token and the new one and keeps what follows the
 * previous token's own text (cached per token id). node-llama-cpp's `detokenize(tokens,
 * false, lastTokens)` does the same with two calls over three previous tokens; rendering
 * costs per token, so this is about twice as fast (~12 µs → ~3 µs a token here).
 * A token that ends inside a multi-byte UTF-8 character (byte-fallback tokens) is kept until
 * the character completes.
 */
export class TokenTextDecoder<T = number> {
    private static readonly CACHE_LIMIT = 1 << 16;
    private pending: T[] = [];
    private previous: T | undefined;
    /**
     * `detokenize(tokens)`: the text of a token sequence, as from its start. `alone`: each
     * token's own text, a pure function of the model's vocabulary: share one map per model
     * across requests (the engine does), so each token is rendered alone once.
     */
    constructor(
        private readonly detokenize: (tokens: T[]) => string,
        private readonly alone: Map<T, string> = new Map(),
    ) {}

    push(token: T): string {
        this.pending.push(token);
        const piece = this.render();
        if (piece.endsWith('\uFFFD') && this.pending.length < 4) return '';
        this.advance();
        return piece;
    }

    flush(): string {
        if (this.pending.length === 0) return '';
        const piece = this.render();
        this.advance();
        return piece;
    }

    /** The text `token` would add if it came next (for a candidate that was not chosen). */
    textNext(token: T): string {
        return this.textAfterPrevious([token]);
    }

    /** The pending tokens' text after the previous token. */
    private render(): string {
        return this.textAfterPrevious(this.pending);
    }

    private textAfterPrevious(tokens: T[]): string {
        if (this.previous === undefined) return this.detokenize(tokens);
        const text = this.detokenize([this.previous, ...tokens]);
        const before = this.textAlone(this.previous);
        if (text.startsWith(before)) return text.slice(before.length);
        // The previous token renders differently before these: take their text alone.
        return this.detokenize(tokens);
    }

    private textAlone(token: T): string {
        let text = this.alone.get(token);
        if (text === undefined) {
            if (this.alone.size >= TokenTextDecoder.CACHE_LIMIT) this.alone.clear();
            text = this.detokenize([token]);
            this.alone.set(token, text);
        }
        return text;
    }

    private advance(): void {
        this.previous = this.pending[this.pending.length - 1];
        this.pending = [];
    }
}

/** One generated token with its log-probability and the likeliest alternatives (OpenAI's logprobs). */
export interface TokenLogprob {
    /** The text this token adds to the answer (empty for a token ending inside a UTF-8 character). */
    text: string;
    logprob: number;
    /** The likeliest tokens at this position (the one chosen among them where it is), most likely first. */
    top: Array<{ text: string; logprob: number }>;
}

/** The floor of a reported log-probability: OpenAI's value for "practically never" (JSON has no -Infinity). */
export const MIN_LOGPROB = -9999;

export function logprobOf(probability: number): number {
    return probability > 0 ? Math.max(MIN_LOGPROB, Math.log(probability)) : MIN_LOGPROB;
}

/**
 * Keeps generated tokens' log-probabilities in step with the text that is sent: a token's entry
 * goes out with the text that completes it, and when a stop string cuts the answer, entries
 * past the cut are dropped and the one across it keeps only its text before the cut (so the
 * entries' texts always add up to the answer sent).
 */
export class LogprobTrack {
    private readonly entries: Array<TokenLogprob & { end: number }> = [];
    private generated = 0;
    private taken = 0;
    /** Every entry handed out so far, in order (the answer's logprobs once generation ends). */
    readonly released: TokenLogprob[] = [];

    /** A token whose decoded piece is `piece` (appended to the generated text). */
    add(piece: string, entry: Omit<TokenLogprob, 'text'>): void {
        this.generated += piece.length;
        this.entries.push({ ...entry, text: piece, end: this.generated });
    }

    /** Text that completes the last token's (the decoder's flush at the end of generation). */
    extend(piece: string): void {
        const last = this.entries[this.entries.length - 1];
        if (!last || piece.length === 0) return;
        last.text += piece;
        last.end += piece.length;
        this.generated += piece.length;
    }

    /** The entries whose text lies within the first `sent` characters of the answer, not taken before. */
    take(sent: number): TokenLogprob[] {
        let i = this.taken;
        while (i < this.entries.length && this.entries[i].end <= sent) i++;
        return this.release(i);
    }

    /** At the end: every entry left that begins within the answer of `length` characters, the last one cut to it. */
    finish(length: number): TokenLogprob[] {
        let i = this.taken;
        while (i < this.entries.length && this.entries[i].end - this.entries[i].text.length < length) {
            const e = this.entries[i];
            if (e.end > length) e.text = e.text.slice(0, e.text.length - (e.end - length));
            i++;
        }
        // An entry beginning at the cut with no text of its own (a character not yet complete) is past it.
        return this.release(i);
    }

    private release(upTo: number): TokenLogprob[] {
        const out = this.entries.slice(this.taken, upTo).map(({ text, logprob, top }) => ({ text, logprob, top }));
        this.taken = upTo;
        this.released.push(...out);
        return out;
    }
}
