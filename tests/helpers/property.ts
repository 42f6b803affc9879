/**
 * The fast-check seed of the property tests: fixed, so `npm test` and CI run the same
 * sequences every time (a coverage check such as "some withdrawal succeeded" cannot fail by
 * chance). `FC_SEED=<n>` runs another seed, `FC_SEED=random` a fresh one each run; fast-check
 * prints the seed and path of any failure to replay it.
 */
export function propertySeed(): number | undefined {
    const s = process.env.FC_SEED;
    if (s === 'random') return undefined;
    if (s === undefined) return 20_261_123;
    if (!/^-?\d+$/.test(s)) throw new Error(`FC_SEED must be an integer or "random", got "${s}"`);
    return Number(s);
}
