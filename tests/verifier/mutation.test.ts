/**
 * Mutation test: flip single bytes of valid quotes (header, body, signature data, QE report,
 * PCK chain) and assert that no mutant is accepted.
 */
import { TestCa } from '../../verifier/testca';
import { parseQuote } from '../../verifier/quote';
import { verifyQuote } from '../../verifier/verify';
import { fixture, HAVE_FIXTURES, prng, TDX_NOW } from './helpers';

function regions(q: Buffer): [string, number, number][] {
    const p = parseQuote(q);
    const sigStart = p.signedLength + 4;
    return [
        ['header', 0, 48],
        ['body', 48, p.signedLength],
        ['signature length', p.signedLength, sigStart],
        ['quote signature + attestation key', sigStart, sigStart + 128],
        ['QE report + signature + auth data', sigStart + 128, sigStart + 128 + 6 + 384 + 64 + 2 + 32],
        ['PCK chain', sigStart + 128 + 6 + 384 + 64 + 2 + 32, p.end],
        ['padding', p.end, q.length],
    ];
}

function mutate(q: Buffer, count: number, seed: number, accept: (m: Buffer) => boolean): { tried: number; perRegion: Record<string, number>; accepted: string[] } {
    const rnd = prng(seed);
    const regs = regions(q).filter(([, a, b]) => b > a);
    const perRegion: Record<string, number> = {};
    const accepted: string[] = [];
    for (let i = 0; i < count; i++) {
        // Spread flips evenly over the regions, then uniformly inside one.
        const [name, a, b] = regs[i % regs.length];
        const pos = a + Math.floor(rnd() * (b - a));
        const m = Buffer.from(q);
        m[pos] ^= 1 + Math.floor(rnd() * 255);
        perRegion[name] = (perRegion[name] ?? 0) + 1;
        if (accept(m)) accepted.push(`${name} @${pos}`);
    }
    return { tried: count, perRegion, accepted };
}

describe('mutation: single byte flips are never accepted', () => {
    it('600 flips of a minted v4 quote', () => {
        const ca = new TestCa();
        const col = ca.collateral();
        const q = ca.mintQuote({ padding: 16 });
        expect(verifyQuote(q, col, { now: ca.now, rootCa: ca.rootDer }).ok).toBe(true);
        const r = mutate(q, 600, 0xc0c0, (m) => verifyQuote(m, col, { now: ca.now, rootCa: ca.rootDer }).ok);
        expect(r.accepted).toEqual([]);
        expect(Object.keys(r.perRegion).length).toBe(7);
    });

    it('200 flips of a minted v5 quote', () => {
        const ca = new TestCa();
        const col = ca.collateral();
        const q = ca.mintQuote({ version: 5 });
        expect(verifyQuote(q, col, { now: ca.now, rootCa: ca.rootDer }).ok).toBe(true);
        const r = mutate(q, 200, 0x5eed, (m) => verifyQuote(m, col, { now: ca.now, rootCa: ca.rootDer }).ok);
        expect(r.accepted).toEqual([]);
    });

    (HAVE_FIXTURES ? it : it.skip)('200 flips of the real TDX quote (skipped without ../shared)', () => {
        const { quote, collateral } = fixture('tdx');
        const r = mutate(quote, 200, 0xbeef, (m) => verifyQuote(m, collateral, { now: TDX_NOW }).ok);
        expect(r.accepted).toEqual([]);
    });
});
