/**
 * The proxies a worker serves by contract address (cocoon-worker --join-proxy), kept in step
 * with the chain: while a Proxy is active and registered its key is trusted and its registered
 * endpoint joined; one that stops being active (deactivated by governance, certificate lapsed)
 * is no longer served or joined until it is again; a moved endpoint (SetProxyEndpoint) is
 * joined at its new address. A chain that cannot be read changes nothing.
 */
import { Address } from '@ton/core';
import type { ChainCheck, ChainProxy } from '../client/chain-check';
import { log } from '../common/http';

export class ChainProxies {
    /** What the last good read said per Proxy (raw address): the proxy, or null while it is not active. */
    private readonly state = new Map<string, ChainProxy | null>();

    constructor(
        private readonly o: {
            chain: Pick<ChainCheck, 'proxyAt'>;
            addresses: Address[];
            /** The worker's trusted proxies (key hex → address), shared with its server. */
            trusted: Map<string, Address>;
            /** Is this error the chain saying no (rather than a failed read)? */
            isRefusal: (e: unknown) => boolean;
        },
    ) {}

    /** Reads every Proxy once; at start any refusal or failed read throws (the worker does not start on a guess). */
    async start(): Promise<void> {
        for (const address of this.o.addresses) {
            let found: ChainProxy;
            try {
                found = await this.o.chain.proxyAt(address);
            } catch (e) {
                throw new Error(`--join-proxy ${address.toString()}: ${this.o.isRefusal(e) ? '' : 'the chain could not be read: '}${e instanceof Error ? e.message : String(e)}`);
            }
            const key = found.key.toString('hex');
            const other = this.o.trusted.get(key);
            if (other && !other.equals(address)) throw new Error(`--join-proxy ${address.toString()}: its key is given for another proxy in --trust-proxy`);
            this.o.trusted.set(key, address);
            this.state.set(address.toRawString(), found);
            log('worker', 'proxy found on chain', { proxy: address.toString(), seqno: found.seqno.toString(), endpoint: found.endpoint, key });
        }
    }

    /** The registered endpoints of the active proxies, to join. */
    get endpoints(): string[] {
        return [...this.state.values()].filter((p): p is ChainProxy => p !== null).map((p) => p.endpoint);
    }

    /** Reads every Proxy again and applies what changed; returns whether anything did. */
    async sync(): Promise<boolean> {
        let changed = false;
        for (const address of this.o.addresses) {
            const raw = address.toRawString();
            const was = this.state.get(raw) ?? null;
            let now: ChainProxy | null;
            try {
                now = await this.o.chain.proxyAt(address);
            } catch (e) {
                if (!this.o.isRefusal(e)) {
                    log('worker', 'proxy not checked on chain (read failed); nothing changed', { proxy: address.toString(), error: e instanceof Error ? e.message : String(e) });
                    continue;
                }
                if (was) {
                    this.o.trusted.delete(was.key.toString('hex'));
                    log('worker', 'proxy no longer active on chain: not served or joined', { proxy: address.toString(), reason: e instanceof Error ? e.message : String(e) });
                    changed = true;
                }
                this.state.set(raw, null);
                continue;
            }
            if (!was) log('worker', 'proxy active on chain again: served and joined', { proxy: address.toString(), endpoint: now.endpoint });
            else if (was.endpoint !== now.endpoint) log('worker', 'proxy endpoint moved on chain', { proxy: address.toString(), from: was.endpoint, to: now.endpoint });
            changed ||= !was || was.endpoint !== now.endpoint;
            this.o.trusted.set(now.key.toString('hex'), address);
            this.state.set(raw, now);
        }
        return changed;
    }
}
