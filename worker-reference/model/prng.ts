/** Small deterministic PRNG (splitmix32 seeding + xoshiro128**), so a seed always gives the same model. */
export class Prng {
    private s = new Uint32Array(4);
    constructor(seed: number) {
        let x = seed >>> 0;
        for (let i = 0; i < 4; i++) {
            x = (x + 0x9e3779b9) >>> 0;
            let z = x;
            z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
            z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
            this.s[i] = (z ^ (z >>> 16)) >>> 0;
        }
        if ((this.s[0] | this.s[1] | this.s[2] | this.s[3]) === 0) this.s[0] = 1;
    }
    /** Next uint32. */
    next(): number {
        const s = this.s;
        const result = Math.imul(rotl(Math.imul(s[1], 5) >>> 0, 7), 9) >>> 0;
        const t = (s[1] << 9) >>> 0;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = rotl(s[3], 11);
        return result;
    }
    /** Uniform in [-1, 1). */
    symmetric(): number {
        return this.next() / 0x80000000 - 1;
    }
}

function rotl(x: number, k: number): number {
    return ((x << k) | (x >>> (32 - k))) >>> 0;
}
