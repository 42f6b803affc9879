/**
 * The proxy's limits on escrows it has not seen (proxy/server.ts with `escrowLimits`,
 * cocoon-proxy --escrow-rate / --escrow-reads): an API key naming a made-up escrow address
 * costs a chain read, so such requests are limited per source address and in how many are
 * read at once; clients whose escrow the proxy has read are never held. In process, with an
 * escrow reader of the test's own (a slow one stands for the chain).
 */
import * as path from 'node:path';
import { Address } from '@ton/core';
import { randomBytes } from 'node:crypto';
import { escrowSecretHash, formatEscrowApiKey, generateEscrowSecret, proxyAuthHeaders, secretHashBytes } from '../../worker-reference/client/api-key';
import { Ed25519Signer } from '../../worker-reference/crypto/ed25519';
import { identityFromSeed } from '../../worker-reference/crypto/keys';
import { ChainReadLimitOptions } from '../../worker-reference/proxy/chain-read-limits';
import { parseProxyConfig } from '../../worker-reference/proxy/config';
import { EscrowReader, EscrowState } from '../../worker-reference/proxy/escrow';
import { Ledger } from '../../worker-reference/proxy/ledger';
import { ProxyServer } from '../../worker-reference/proxy/server';
import { zeroTokens } from '../../worker-reference/proxy/tokens';
import { postJson, tmpDir } from './helpers';

const dir = tmpDir('cocoon-escrow-limits-');
const client = { escrow: new Address(0, Buffer.alloc(32, 7)), secret: generateEscrowSecret() };
const clientState: EscrowState = { open: true, balance: 10n ** 15n, charged: zeroTokens(), secretHash: BigInt('0x' + secretHashBytes(escrowSecretHash(client.secret)).toString('hex')) };

/** The chain as the test has it: one real escrow; `hold` keeps reads waiting until released. */
class TestChain implements EscrowReader {
    reads = 0;
    held: Array<() => void> = [];
    hold = false;
    async getEscrow(escrow: Address): Promise<EscrowState | null> {
        this.reads += 1;
        if (this.hold) await new Promise<void>((r) => this.held.push(r));
        return escrow.equals(client.escrow) ? clientState : null;
    }
}

async function start(limits: ChainReadLimitOptions | undefined, name: string, refreshMinMs = 1000): Promise<{ url: string; chain: TestChain; server: ProxyServer }> {
    const chain = new TestChain();
    const config = parseProxyConfig({ proxyAddress: new Address(0, Buffer.alloc(32, 1)).toString(), dataDir: path.join(dir, name), workers: [], escrowCacheMs: 60_000, escrowRefreshMinMs: refreshMinMs }, dir);
    const server = new ProxyServer({ config, signer: new Ed25519Signer(identityFromSeed(Buffer.alloc(32, 3)).ed25519), escrows: chain, ledger: Ledger.open(config.dataDir), escrowLimits: limits });
    return { url: `http://127.0.0.1:${await server.start(0)}`, chain, server };
}

const ask = (url: string, apiKey: string) => postJson(`${url}/v1/chat/completions`, { model: 'm', messages: [{ role: 'user', content: 'hi' }], max_tokens: 1 }, proxyAuthHeaders(apiKey));
const madeUp = () => formatEscrowApiKey(new Address(0, randomBytes(32)), generateEscrowSecret());
const clientKey = formatEscrowApiKey(client.escrow, client.secret);

describe('proxy: requests naming escrows it has not seen (--escrow-rate, --escrow-reads)', () => {
    it('reads at most --escrow-rate made-up escrows a minute for one source, then 429 escrow_rate_limited with Retry-After and no read; a known client is not counted', async () => {
        const { url, chain, server } = await start({ perSourcePerMinute: 3, atOnce: 16 }, 'rate');
        try {
            expect((await ask(url, clientKey)).status).not.toBe(429); // read once: known from now on (no worker: 503 later)
            for (let i = 0; i < 2; i++) expect((await ask(url, madeUp())).status).toBe(402);
            const readsBefore = chain.reads;
            const limited = await ask(url, madeUp());
            expect(limited.status).toBe(429);
            expect(limited.json.error).toMatchObject({ type: 'rate_limit_exceeded', code: 'escrow_rate_limited' });
            expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
            expect(chain.reads).toBe(readsBefore);
            // The client whose escrow was read goes on as before.
            for (let i = 0; i < 5; i++) expect((await ask(url, clientKey)).status).not.toBe(429);
        } finally {
            await server.close();
        }
    });

    it('reads at most --escrow-reads unseen escrows at once (429 escrow_reads_busy beyond); a known client passes while they wait', async () => {
        const { url, chain, server } = await start({ perSourcePerMinute: 0, atOnce: 2 }, 'busy');
        try {
            expect((await ask(url, clientKey)).status).not.toBe(429);
            chain.hold = true;
            const waiting = [ask(url, madeUp()), ask(url, madeUp())];
            while (chain.held.length < 2) await new Promise((r) => setTimeout(r, 5));
            const busy = await ask(url, madeUp());
            expect(busy.status).toBe(429);
            expect(busy.json.error).toMatchObject({ code: 'escrow_reads_busy' });
            expect(busy.headers.get('retry-after')).toBe('1');
            expect((await ask(url, clientKey)).status).not.toBe(429); // cached: no read, no place needed
            chain.hold = false;
            for (const release of chain.held) release();
            expect((await Promise.all(waiting)).map((r) => r.status)).toEqual([402, 402]);
            expect((await ask(url, madeUp())).status).toBe(402); // the places are free again
        } finally {
            await server.close();
        }
    });

    it('counts the fresh read a wrong key for a known escrow makes (escrow addresses are public): a flood of wrong keys is limited, the right key is not', async () => {
        const { url, chain, server } = await start({ perSourcePerMinute: 3, atOnce: 16 }, 'wrong-keys', 0);
        try {
            expect((await ask(url, clientKey)).status).not.toBe(429);
            const wrongKey = () => formatEscrowApiKey(client.escrow, generateEscrowSecret());
            for (let i = 0; i < 2; i++) expect((await ask(url, wrongKey())).status).toBe(401);
            const reads = chain.reads;
            const limited = await ask(url, wrongKey());
            expect(limited.status).toBe(429);
            expect(limited.json.error).toMatchObject({ code: 'escrow_rate_limited', message: expect.stringMatching(/API keys it would refuse/) });
            expect(chain.reads).toBe(reads);
            for (let i = 0; i < 5; i++) expect((await ask(url, clientKey)).status).not.toBe(429); // cached state accepts it: no read
        } finally {
            await server.close();
        }
    });

    it('without escrowLimits (escrows from the config) any number of unseen escrows is read', async () => {
        const { url, server } = await start(undefined, 'none');
        try {
            for (let i = 0; i < 10; i++) expect((await ask(url, madeUp())).status).toBe(402);
        } finally {
            await server.close();
        }
    });
});
