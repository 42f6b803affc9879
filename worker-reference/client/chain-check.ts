/**
 * What a client checks on chain before it trusts what a proxy tells it: the proxy's enclave
 * key is an active Proxy registered at Root, and a worker's keys are those an eligible
 * Provider registered at Root holds (its attestation certificate bound them: allow-listed
 * image, TCB status, attestors), serving an allow-listed model. A proxy that lists a worker
 * X25519 key of its own to read sealed prompts, or answers through an unregistered worker,
 * is caught here. Read through any ContractReader (`tonV4Reader` on testnet / mainnet, a
 * Blueprint provider or the sandbox in tests).
 */
import { Address } from '@ton/core';
import { ContractReader } from '../../ops/escrow-reader';
import { EscrowState, JobEscrow } from '../../wrappers/JobEscrow';
import { bigIntToKey as keyBytes, keyToBigInt as asInt } from '../../wrappers/payloads';
import { Provider } from '../../wrappers/Provider';
import { Proxy, proxyEndpointProblem } from '../../wrappers/Proxy';
import { AllowList, Root } from '../../wrappers/Root';

const hex = (key: Buffer) => key.toString('hex');

/** The chain says no (not registered, not eligible, another key, …); a read that fails throws something else. */
export class ChainRefusal extends Error {}

/** The proxy a client's escrow is with, as the chain has it. */
export interface ChainProxy {
    /** The Proxy contract (the one the escrow names). */
    address: Address;
    seqno: bigint;
    /** The base URL registered at Root (checked: http(s)://host[:port]). */
    endpoint: string;
    /** Its enclave Ed25519 key: signs the escrow's charges and, with https, the TLS certificate. */
    key: Buffer;
}

export class ChainCheck {
    private readonly root;

    constructor(
        private readonly reader: ContractReader,
        readonly rootAddress: Address,
    ) {
        this.root = reader.open(Root.fromAddress(rootAddress));
    }

    /** Throws unless `key` is the enclave key of an active Proxy registered at Root; returns that Proxy's address. */
    async proxy(key: Buffer): Promise<Address> {
        await this.requireRoot();
        const seqno = await this.root.getProxySeqnoByKey(asInt(key));
        if (seqno === null) throw new ChainRefusal(`the proxy key ${hex(key)} is not a Proxy registered at Root ${this.rootAddress.toString()}`);
        if (!(await this.root.getIsProxyActive(seqno))) throw new ChainRefusal(`the Proxy #${seqno} with key ${hex(key)} is not active (closing, closed or deactivated)`);
        return this.root.getProxyAddress(seqno);
    }

    /**
     * The proxy the escrow `escrow` (the address in a client's API key) is with: an active
     * Proxy registered at this Root whose key is the one the escrow accepts charges from, and
     * the endpoint it registered. What a client needs to know to connect, from the chain alone.
     */
    async proxyForEscrow(escrow: Address): Promise<ChainProxy> {
        await this.requireRoot();
        const e = escrow.toString();
        if (!(await this.reader.isContractDeployed(escrow))) throw new ChainRefusal(`the escrow ${e} of this API key is not deployed on this chain: open it first (scripts/openEscrow)`);
        const job = this.reader.open(JobEscrow.fromAddress(escrow));
        let state: bigint, address: Address, escrowKey: Buffer;
        try {
            [state, address, escrowKey] = [await job.getState(), await job.getProxy(), keyBytes(await job.getProxyKey())];
        } catch (err) {
            throw new ChainRefusal(`${e} is not a JobEscrow (its get-methods do not answer as an escrow's: ${(err as Error).message})`);
        }
        if (state === EscrowState.new || state === EscrowState.opening) throw new ChainRefusal(`the escrow ${e} is not open yet (no Proxy has accepted it)`);
        const found = await this.proxyAt(address);
        if (!found.key.equals(escrowKey)) throw new ChainRefusal(`Proxy ${address.toString()} holds key ${hex(found.key)}, but the escrow ${e} accepts charges signed by ${hex(escrowKey)}`);
        return found;
    }

    /**
     * The Proxy contract at `address`, as the chain has it: deployed, of this Root, registered
     * there under its key and active; its key and the endpoint it registered (a base http(s)
     * URL). What a client or a worker needs to connect to it, from the chain alone.
     */
    async proxyAt(address: Address): Promise<ChainProxy> {
        await this.requireRoot();
        const a = address.toString();
        if (!(await this.reader.isContractDeployed(address))) throw new ChainRefusal(`Proxy ${a} is not deployed on this chain`);
        const p = this.reader.open(Proxy.fromAddress(address));
        let root: Address, key: Buffer, seqno: bigint, endpoint: string;
        try {
            [root, key, seqno, endpoint] = [await p.getRoot(), keyBytes(await p.getEd25519Key()), await p.getSeqno(), await p.getEndpoint()];
        } catch (err) {
            throw new ChainRefusal(`${a} is not a Proxy contract (its get-methods do not answer as a Proxy's: ${(err as Error).message})`);
        }
        if (!root.equals(this.rootAddress)) throw new ChainRefusal(`Proxy ${a} belongs to another Root than ${this.rootAddress.toString()}`);
        const registered = await this.proxy(key);
        if (!registered.equals(address)) throw new ChainRefusal(`the key of Proxy ${a} is registered at Root for another Proxy, ${registered.toString()}`);
        const bad = proxyEndpointProblem(endpoint);
        if (bad) throw new ChainRefusal(`Proxy #${seqno} (${a}) registered an endpoint no one can connect to: ${bad}`);
        return { address, seqno, endpoint: endpoint.replace(/\/$/, ''), key };
    }

    private async requireRoot(): Promise<void> {
        if (!(await this.reader.isContractDeployed(this.rootAddress))) throw new ChainRefusal(`Root ${this.rootAddress.toString()} is not deployed on this chain`);
    }

    /** The Ed25519 keys of every Provider registered at Root (its `providers` map, one get-method call). */
    async providerKeys(): Promise<Buffer[]> {
        return (await this.root.getProviders()).values().map((r) => keyBytes(r.ed25519Key));
    }

    /**
     * Throws unless `ed25519` (and `x25519`, when given) are the keys of an eligible Provider
     * registered at Root, which serves `modelHash` (when given) and Root allows that model.
     * Returns the Provider's address.
     */
    async worker(o: { ed25519: Buffer; x25519?: Buffer; modelHash?: Buffer }): Promise<Address> {
        return (await this.provider(o)).address;
    }

    /** As `worker`, with the Provider's seqno at Root and its owner (who its WorkerAccounts pay). */
    async provider(o: { ed25519: Buffer; x25519?: Buffer; modelHash?: Buffer }): Promise<{ address: Address; seqno: bigint; owner: Address | null }> {
        const seqno = await this.root.getProviderSeqnoByKey(asInt(o.ed25519));
        if (seqno === null) throw new ChainRefusal(`the worker key ${hex(o.ed25519)} is not a Provider registered at Root ${this.rootAddress.toString()}`);
        const address = await this.root.getProviderAddress(seqno);
        const p = this.reader.open(Provider.fromAddress(address));
        if ((await p.getEd25519Key()) !== asInt(o.ed25519)) throw new ChainRefusal(`Provider #${seqno} holds another Ed25519 key than ${hex(o.ed25519)}`);
        if (o.x25519 && (await p.getX25519Key()) !== asInt(o.x25519))
            throw new ChainRefusal(`the X25519 key ${hex(o.x25519)} listed for worker ${hex(o.ed25519)} is not the one its Provider #${seqno} holds: a prompt sealed to it could be read by whoever listed it`);
        if (!(await p.getIsEligible())) throw new ChainRefusal(`Provider #${seqno} (worker key ${hex(o.ed25519)}) is not eligible for work (unbonding, jailed, exited or its certificate expired)`);
        if (o.modelHash) {
            if (!(await p.getServesModel(asInt(o.modelHash)))) throw new ChainRefusal(`Provider #${seqno} does not list model ${hex(o.modelHash)}`);
            if (!(await this.root.getIsAllowed(BigInt(AllowList.model), asInt(o.modelHash)))) throw new ChainRefusal(`model ${hex(o.modelHash)} is not on Root's allow-list`);
        }
        return { address, seqno, owner: await p.getOwner() };
    }
}
