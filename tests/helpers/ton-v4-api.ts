/**
 * TON's HTTP API v4 (the one @ton/ton's TonClient4 reads: mainnet-v4.tonhubapi.com and the
 * like) served from a @ton/sandbox chain, for the parts reading contracts needs: the latest
 * block, an account's lite state, and running a get-method. Shapes follow TonClient4's
 * response codecs; stacks travel as BOCs of serialized tuples, as the real API sends them.
 */
import * as http from 'node:http';
import { AddressInfo } from 'node:net';
import { Address, Cell, parseTuple, serializeTuple, TupleItem } from '@ton/core';
import { Blockchain } from '@ton/sandbox';

export interface TonV4Api {
    url: string;
    /** Requests served, by kind (latest / account / run). */
    served: Record<'latest' | 'account' | 'run', number>;
    /** While set, every request (or, with `failOnly`, every request of that kind) gets this HTTP status (an API outage). */
    failWith?: number;
    failOnly?: 'latest' | 'account' | 'run';
    close(): Promise<void>;
}

const BLOCK = { workchain: -1, seqno: 1, shard: '-9223372036854775808', rootHash: 'AA==', fileHash: 'AA==' };

export function startTonV4Api(chain: Blockchain): Promise<TonV4Api> {
    const api: TonV4Api = { url: '', served: { latest: 0, account: 0, run: 0 }, close: async () => undefined };
    const server = http.createServer((req, res) => {
        const reply = (status: number, body: unknown) => {
            res.writeHead(status, { 'content-type': 'application/json' });
            res.end(JSON.stringify(body));
        };
        const handle = async () => {
            const url = (req.url ?? '').split('?')[0];
            const kind = url === '/block/latest' ? 'latest' : url.includes('/run/') ? 'run' : 'account';
            if (api.failWith && (api.failOnly === undefined || api.failOnly === kind)) return reply(api.failWith, { error: 'unavailable' });
            if (url === '/block/latest') {
                api.served.latest++;
                return reply(200, { last: BLOCK, init: { fileHash: 'AA==', rootHash: 'AA==' }, stateRootHash: 'AA==', now: chain.now ?? Math.floor(Date.now() / 1000) });
            }
            const run = /^\/block\/\d+\/([^/]+)\/run\/([^/]+)(?:\/([^/]+))?$/.exec(url);
            if (run) {
                api.served.run++;
                const args: TupleItem[] = run[3] ? parseTuple(Cell.fromBoc(Buffer.from(run[3], 'base64url'))[0]) : [];
                const r = await chain.runGetMethod(Address.parse(run[1]), decodeURIComponent(run[2]), args).catch((e: { exitCode?: number }) => ({ exitCode: e.exitCode ?? 11, stack: [] as TupleItem[] }));
                return reply(200, {
                    exitCode: r.exitCode,
                    resultRaw: r.exitCode === 0 || r.exitCode === 1 ? serializeTuple(r.stack).toBoc({ idx: false, crc32: false }).toString('base64') : null,
                    block: BLOCK,
                    shardBlock: { ...BLOCK, workchain: 0 },
                });
            }
            const lite = /^\/block\/\d+\/([^/]+)\/lite$/.exec(url);
            if (lite) {
                api.served.account++;
                const c = await chain.getContract(Address.parse(lite[1]));
                const s = c.accountState;
                const state =
                    s?.type === 'active'
                        ? { type: 'active', codeHash: (s.state.code ?? new Cell()).hash().toString('base64'), dataHash: (s.state.data ?? new Cell()).hash().toString('base64') }
                        : s?.type === 'frozen'
                          ? { type: 'frozen', stateHash: Buffer.from(s.stateHash.toString(16).padStart(64, '0'), 'hex').toString('base64') }
                          : { type: 'uninit' };
                const last = c.lastTransactionLt > 0n ? { lt: c.lastTransactionLt.toString(), hash: Buffer.from(c.lastTransactionHash.toString(16).padStart(64, '0'), 'hex').toString('base64') } : null;
                return reply(200, { account: { state, balance: { coins: c.balance.toString(), currencies: {} }, last, storageStat: null } });
            }
            reply(404, { error: `no route ${url}` });
        };
        handle().catch((e: unknown) => reply(500, { error: String(e) }));
    });
    return new Promise((resolve) =>
        server.listen(0, '127.0.0.1', () => {
            api.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
            api.close = () => new Promise<void>((r) => server.close(() => r()));
            resolve(api);
        }),
    );
}
