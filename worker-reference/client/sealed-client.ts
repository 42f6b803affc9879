/**
 * Client side of sealed prompts: builds a sealed chat request for a worker's X25519 key and
 * opens the sealed answer (whole or streamed). Only the client's private key opens it.
 */
import { generateX25519, X25519KeyPair } from '../crypto/keys';
import { Opener, SealedPiece, Sealer } from '../crypto/seal';
import { ChatMessage } from '../worker/chat-request';
import type { LogprobJson } from '../worker/server';

export interface SealedRequest {
    /** Fields to put in the chat-completions body instead of `messages`. */
    body: { sealed: SealedPiece; reply_key: string };
    /** The client's one-off reply key pair (keep the private key to open the answer). */
    replyKeys: X25519KeyPair;
}

/**
 * What goes inside a sealed request, in the chat-completions body's own field names: the
 * messages, and the fields that would say something about them in the clear.
 */
export interface SealedChatContent {
    messages: ChatMessage[];
    stop?: string[];
    presence_penalty?: number;
    frequency_penalty?: number;
    logit_bias?: Record<string, number>;
    response_format?: { type: 'text' | 'json_object' } | { type: 'json_schema'; json_schema: { name: string; schema: Record<string, unknown>; strict?: boolean } };
}

export function sealChatRequest(workerX25519: Buffer, content: SealedChatContent, replyKeys: X25519KeyPair = generateX25519()): SealedRequest {
    const piece = new Sealer(workerX25519, 'request').seal(JSON.stringify(content));
    return { body: { sealed: piece, reply_key: replyKeys.publicKey.toString('base64') }, replyKeys };
}

/** Opens the pieces of one sealed answer in order and returns the answer text. */
export class SealedAnswerReader {
    private readonly opener: Opener;
    private text = '';
    constructor(replyKeys: X25519KeyPair) {
        this.opener = new Opener(replyKeys.privateKey, replyKeys.publicKey, 'response');
    }
    push(piece: SealedPiece): string {
        const t = this.opener.open(piece).toString('utf8');
        this.text += t;
        return t;
    }
    get answer(): string {
        return this.text;
    }
}

/**
 * Opens the sealed log-probabilities of a sealed answer (`choices[].logprobs.sealed`, one
 * piece per streamed chunk or one for the whole answer), in order: OpenAI's
 * `logprobs.content` entries.
 */
export class SealedLogprobsReader {
    private readonly opener: Opener;
    private readonly all: LogprobJson[] = [];
    constructor(replyKeys: X25519KeyPair) {
        this.opener = new Opener(replyKeys.privateKey, replyKeys.publicKey, 'logprobs');
    }
    push(piece: SealedPiece): LogprobJson[] {
        const entries = JSON.parse(this.opener.open(piece).toString('utf8')) as LogprobJson[];
        this.all.push(...entries);
        return entries;
    }
    get entries(): LogprobJson[] {
        return this.all;
    }
}
