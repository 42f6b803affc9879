/**
 * A small SentencePiece-style ("llama") vocabulary: control tokens, the 256 byte-fallback
 * tokens llama.cpp needs for any input, printable ASCII pieces and common English words
 * (with the "▁" word-start marker). Scores order merges: longer pieces win.
 */
export enum TokenType {
    Normal = 1,
    Unknown = 2,
    Control = 3,
    UserDefined = 4,
    Unused = 5,
    Byte = 6,
}

export interface Vocabulary {
    tokens: string[];
    scores: number[];
    types: TokenType[];
    unk: number;
    bos: number;
    eos: number;
    /** ChatML markers, control tokens the chat template uses. */
    imStart: number;
    imEnd: number;
    /** Index of the first normal (text) token; everything before is control or byte. */
    firstTextToken: number;
}

const WORDS =
    'the of and to in is that it for on with as was be at by this are from or an have not but you all they we can one were there their which more his her will when what about so if no out up time into than them only some could other then its also two new like our first these may any after most over use how work well where get much through back even because good just each those people very see those make way down should world own day life know year state part great while here take last long high every under never same another think thing need still give help small name set play go come answer model token price proxy worker client network private secret yes hello question'.split(
        ' ',
    );

export function buildVocabulary(extraWords = 0): Vocabulary {
    const tokens: string[] = [];
    const scores: number[] = [];
    const types: TokenType[] = [];
    const add = (t: string, score: number, type: TokenType): number => {
        tokens.push(t);
        scores.push(score);
        types.push(type);
        return tokens.length - 1;
    };
    const unk = add('<unk>', 0, TokenType.Unknown);
    const bos = add('<s>', 0, TokenType.Control);
    const eos = add('</s>', 0, TokenType.Control);
    const imStart = add('<|im_start|>', 0, TokenType.Control);
    const imEnd = add('<|im_end|>', 0, TokenType.Control);
    for (let b = 0; b < 256; b++) add(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`, 0, TokenType.Byte);
    const firstTextToken = tokens.length;
    const seen = new Set<string>();
    const piece = (p: string) => {
        if (seen.has(p)) return;
        seen.add(p);
        add(p, -1000 + p.length * 10 - tokens.length * 1e-3, TokenType.Normal);
    };
    piece('\u2581');
    for (let c = 0x21; c < 0x7f; c++) piece(String.fromCharCode(c));
    for (let c = 0x21; c < 0x7f; c++) piece('\u2581' + String.fromCharCode(c));
    const words = [...new Set(WORDS)];
    for (const w of words) {
        piece('\u2581' + w);
        piece(w);
    }
    // Larger sizes get synthetic pieces so the output layer is realistically wide.
    for (let i = 0; i < extraWords; i++) piece(`\u2581w${i.toString(36)}`);
    return { tokens, scores, types, unk, bos, eos, imStart, imEnd, firstTextToken };
}

/** The ChatML template (the common Jinja form), so clients' chat formatting is recognised. */
export const CHATML_TEMPLATE =
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
