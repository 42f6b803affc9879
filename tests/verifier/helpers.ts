import { existsSync, readFileSync } from 'fs';
import path from 'path';

export const REPO_ROOT = path.resolve(__dirname, '..', '..');
/** `../shared/fixtures/dcap` relative to the repository root (present in the workspace, not in every clone). */
export const FIXTURE_DIR = path.resolve(REPO_ROOT, '..', 'shared', 'fixtures', 'dcap');
export const HAVE_FIXTURES = existsSync(path.join(FIXTURE_DIR, 'tdx_quote.bin'));

export const TDX_NOW = 1752919234; // README: last second of the TDX collateral window
export const TDX_MID = 1751624191;
export const SGX_NOW = 1752919277;

export interface Fixture {
    quote: Buffer;
    collateral: unknown;
}

export function fixture(kind: 'tdx' | 'sgx'): Fixture {
    return {
        quote: readFileSync(path.join(FIXTURE_DIR, `${kind}_quote.bin`)),
        collateral: JSON.parse(readFileSync(path.join(FIXTURE_DIR, `${kind}_quote_collateral.json`), 'utf8')),
    };
}

/** `describe` that skips, saying why, when ../shared is not there. */
export function describeWithFixtures(name: string, fn: () => void): void {
    if (HAVE_FIXTURES) {
        describe(name, fn);
    } else {
        describe(name, () => {
            it.skip(`skipped: DCAP fixtures not found at ${FIXTURE_DIR} (../shared is absent in this clone)`, () => undefined);
        });
    }
}

/** Deterministic PRNG (mulberry32) so that failures reproduce. */
export function prng(seed: number): () => number {
    let a = seed >>> 0;
    return () => {
        a = (a + 0x6d2b79f5) >>> 0;
        let t = a;
        t = Math.imul(t ^ (t >>> 15), t | 1);
        t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
        return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
}
