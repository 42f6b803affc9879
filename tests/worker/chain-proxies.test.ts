/**
 * worker/chain-proxies.ts with a chain of the test's own (tests/e2e/worker-join.spec.ts runs
 * the real one): what a worker serving proxies by contract address does with each answer.
 */
import { Address } from '@ton/core';
import type { ChainProxy } from '../../worker-reference/client/chain-check';
import { ChainProxies } from '../../worker-reference/worker/chain-proxies';

class Refusal extends Error {}
const A = new Address(0, Buffer.alloc(32, 1));
const KEY = Buffer.alloc(32, 2);

/** A worker following Proxy A: by address (--join-proxy), or with `trustKey` as --trust-proxy A=<trustKey> gives it. */
function setup(o: { trustKey?: Buffer; join?: boolean } = {}) {
    let answer: ChainProxy | Error = { address: A, seqno: 0n, endpoint: 'https://a.example:8443', key: KEY };
    const key = o.trustKey?.toString('hex');
    const trusted = new Map<string, Address>(key === undefined ? [] : [[key, A]]);
    const proxies = new ChainProxies({
        chain: {
            proxyAt: async () => {
                if (answer instanceof Error) throw answer;
                return answer;
            },
        },
        proxies: [{ address: A, join: o.join ?? key === undefined, key }],
        trusted,
        isRefusal: (e) => e instanceof Refusal,
    });
    return { proxies, trusted, set: (a: ChainProxy | Error) => (answer = a) };
}

describe('worker/chain-proxies.ts: --join-proxy follows the chain', () => {
    it('trusts and joins an active Proxy at start; refuses to start on a refusal or a failed read', async () => {
        const ok = setup();
        await ok.proxies.start();
        expect(ok.trusted.get(KEY.toString('hex'))?.equals(A)).toBe(true);
        expect(ok.proxies.endpoints).toEqual(['https://a.example:8443']);
        const refused = setup();
        refused.set(new Refusal('the Proxy #0 with key … is not active'));
        await expect(refused.proxies.start()).rejects.toThrow(/^--join-proxy .*: the Proxy #0 with key … is not active$/);
        const down = setup();
        down.set(new Error('socket hang up'));
        await expect(down.proxies.start()).rejects.toThrow(/the chain could not be read: socket hang up/);
    });

    it('stops trusting and joining a Proxy the chain refuses, takes it back when active again, follows a moved endpoint', async () => {
        const { proxies, trusted, set } = setup();
        await proxies.start();
        set(new Refusal('not active'));
        expect(await proxies.sync()).toBe(true);
        expect(trusted.size).toBe(0);
        expect(proxies.endpoints).toEqual([]);
        expect(await proxies.sync()).toBe(false);
        set({ address: A, seqno: 0n, endpoint: 'https://b.example:8443', key: KEY });
        expect(await proxies.sync()).toBe(true);
        expect(trusted.size).toBe(1);
        expect(proxies.endpoints).toEqual(['https://b.example:8443']);
        expect(await proxies.sync()).toBe(false);
    });

    it('changes nothing when the chain cannot be read', async () => {
        const { proxies, trusted, set } = setup();
        await proxies.start();
        set(new Error('timeout'));
        expect(await proxies.sync()).toBe(false);
        expect(trusted.size).toBe(1);
        expect(proxies.endpoints).toEqual(['https://a.example:8443']);
    });
});

describe('worker/chain-proxies.ts: --trust-proxy ADDR=KEY with --ton-v4 and --root is checked and followed on chain', () => {
    it('serves an active Proxy holding KEY without joining it; refuses to start when the chain holds another key or says no', async () => {
        const ok = setup({ trustKey: KEY });
        await ok.proxies.start();
        expect(ok.trusted.get(KEY.toString('hex'))?.equals(A)).toBe(true);
        expect(ok.proxies.endpoints).toEqual([]); // served, not joined
        const other = setup({ trustKey: Buffer.alloc(32, 3) });
        await expect(other.proxies.start()).rejects.toThrow(`--trust-proxy ${A.toString()}: the chain says Proxy ${A.toString()} holds key ${KEY.toString('hex')}, not ${'03'.repeat(32)}`);
        const refused = setup({ trustKey: KEY });
        refused.set(new Refusal('not active'));
        await expect(refused.proxies.start()).rejects.toThrow(/^--trust-proxy .*: not active$/);
    });

    it('stops serving a trusted Proxy the chain refuses and serves it again once active; a --join-proxy given too joins it', async () => {
        const { proxies, trusted, set } = setup({ trustKey: KEY });
        await proxies.start();
        set(new Refusal('deactivated'));
        expect(await proxies.sync()).toBe(true);
        expect(trusted.size).toBe(0);
        set(new Error('timeout'));
        expect(await proxies.sync()).toBe(false); // a failed read changes nothing
        expect(trusted.size).toBe(0);
        set({ address: A, seqno: 0n, endpoint: 'https://a.example:8443', key: KEY });
        expect(await proxies.sync()).toBe(true);
        expect(trusted.size).toBe(1);
        const both = setup({ trustKey: KEY, join: true });
        await both.proxies.start();
        expect(both.proxies.endpoints).toEqual(['https://a.example:8443']);
    });
});
