/**
 * The proxies a worker serves, kept in step with the chain (cocoon-worker --join-proxy, and
 * --trust-proxy when --ton-v4 and --root are given): while a Proxy is active and registered
 * its key is trusted (and, for --join-proxy, its registered endpoint joined); one that stops
 * being active (deactivated by governance, certificate lapsed) is no longer served or joined
 * until it is again; a moved endpoint (SetProxyEndpoint) is joined at its new address. A
 * --trust-proxy entry names the key too: the chain must hold that key for that Proxy. A chain
 * that cannot be read changes nothing.
 */
import { Address } from '@ton/core';
import type { ChainCheck, ChainProxy } from '../client/chain-check';
import { log } from '../common/http';

/** A Proxy the worker follows on chain. */
export interface FollowedProxy {
    address: Address;
    /** Its registered endpoint is joined (--join-proxy); otherwise it is only served. */
    join: boolean;
    /** The key --trust-proxy gives for it (hex), which the chain must hold; none for --join-proxy alone. */
    key?: string;
}

/** The option a followed proxy came from, for messages. */
const optionOf = (p: FollowedProxy) => (p.key === undefined ? '--join-proxy' : '--trust-proxy');

export class ChainProxies {
    /** What the last good read said per Proxy (raw address): the proxy, or null while it is not served. */
    private readonly state = new Map<string, ChainProxy | null>();

    constructor(
        private readonly o: {
            chain: Pick<ChainCheck, 'proxyAt'>;
            proxies: FollowedProxy[];
            /** The worker's trusted proxies (key hex → address), shared with its server. */
            trusted: Map<string, Address>;
            /** Is this error the chain saying no (rather than a failed read)? */
            isRefusal: (e: unknown) => boolean;
        },
    ) {}

    /** The Proxy at `p.address` as the chain has it; a --trust-proxy key the chain does not hold is a refusal too. */
    private async read(p: FollowedProxy): Promise<ChainProxy> {
        const found = await this.o.chain.proxyAt(p.address);
        const key = found.key.toString('hex');
        if (p.key !== undefined && p.key !== key) throw new KeyMismatch(`the chain says Proxy ${p.address.toString()} holds key ${key}, not ${p.key}`);
        return found;
    }

    private refused(e: unknown): boolean {
        return e instanceof KeyMismatch || this.o.isRefusal(e);
    }

    /** Reads every Proxy once; at start any refusal or failed read throws (the worker does not start on a guess). */
    async start(): Promise<void> {
        for (const p of this.o.proxies) {
            let found: ChainProxy;
            try {
                found = await this.read(p);
            } catch (e) {
                throw new Error(`${optionOf(p)} ${p.address.toString()}: ${this.refused(e) ? '' : 'the chain could not be read: '}${e instanceof Error ? e.message : String(e)}`);
            }
            const key = found.key.toString('hex');
            const other = this.o.trusted.get(key);
            if (other && !other.equals(p.address)) throw new Error(`--join-proxy ${p.address.toString()}: its key is given for another proxy in --trust-proxy`);
            this.o.trusted.set(key, p.address);
            this.state.set(p.address.toRawString(), found);
            log('worker', p.join ? 'proxy found on chain' : 'trusted proxy checked on chain', { proxy: p.address.toString(), seqno: found.seqno.toString(), endpoint: found.endpoint, key });
        }
    }

    /** The registered endpoints of the active --join-proxy proxies, to join. */
    get endpoints(): string[] {
        return this.o.proxies
            .filter((p) => p.join)
            .map((p) => this.state.get(p.address.toRawString()))
            .filter((p): p is ChainProxy => p !== null && p !== undefined)
            .map((p) => p.endpoint);
    }

    /** Reads every Proxy again and applies what changed; returns whether anything did. */
    async sync(): Promise<boolean> {
        let changed = false;
        for (const p of this.o.proxies) {
            const raw = p.address.toRawString();
            const was = this.state.get(raw) ?? null;
            let now: ChainProxy | null;
            try {
                now = await this.read(p);
            } catch (e) {
                if (!this.refused(e)) {
                    log('worker', 'proxy not checked on chain (read failed); nothing changed', { proxy: p.address.toString(), error: e instanceof Error ? e.message : String(e) });
                    continue;
                }
                if (was) {
                    this.o.trusted.delete(was.key.toString('hex'));
                    log('worker', `proxy no longer active on chain: not served${p.join ? ' or joined' : ''}`, { proxy: p.address.toString(), reason: e instanceof Error ? e.message : String(e) });
                    changed = true;
                }
                this.state.set(raw, null);
                continue;
            }
            if (!was) log('worker', `proxy active on chain again: served${p.join ? ' and joined' : ''}`, { proxy: p.address.toString(), endpoint: now.endpoint });
            else if (p.join && was.endpoint !== now.endpoint) log('worker', 'proxy endpoint moved on chain', { proxy: p.address.toString(), from: was.endpoint, to: now.endpoint });
            changed ||= !was || was.endpoint !== now.endpoint;
            this.o.trusted.set(now.key.toString('hex'), p.address);
            this.state.set(raw, now);
        }
        return changed;
    }
}

/** The chain holds another key for a --trust-proxy entry than the one given. */
class KeyMismatch extends Error {}
