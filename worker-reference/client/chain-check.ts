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
import { keyToBigInt as asInt } from '../../wrappers/payloads';
import { Provider } from '../../wrappers/Provider';
import { AllowList, Root } from '../../wrappers/Root';

const hex = (key: Buffer) => key.toString('hex');

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
        if (!(await this.reader.isContractDeployed(this.rootAddress))) throw new Error(`Root ${this.rootAddress.toString()} is not deployed on this chain`);
        const seqno = await this.root.getProxySeqnoByKey(asInt(key));
        if (seqno === null) throw new Error(`the proxy key ${hex(key)} is not a Proxy registered at Root ${this.rootAddress.toString()}`);
        if (!(await this.root.getIsProxyActive(seqno))) throw new Error(`the Proxy #${seqno} with key ${hex(key)} is not active (closing, closed or deactivated)`);
        return this.root.getProxyAddress(seqno);
    }

    /**
     * Throws unless `ed25519` (and `x25519`, when given) are the keys of an eligible Provider
     * registered at Root, which serves `modelHash` (when given) and Root allows that model.
     * Returns the Provider's address.
     */
    async worker(o: { ed25519: Buffer; x25519?: Buffer; modelHash?: Buffer }): Promise<Address> {
        const seqno = await this.root.getProviderSeqnoByKey(asInt(o.ed25519));
        if (seqno === null) throw new Error(`the worker key ${hex(o.ed25519)} is not a Provider registered at Root ${this.rootAddress.toString()}`);
        const address = await this.root.getProviderAddress(seqno);
        const p = this.reader.open(Provider.fromAddress(address));
        if ((await p.getEd25519Key()) !== asInt(o.ed25519)) throw new Error(`Provider #${seqno} holds another Ed25519 key than ${hex(o.ed25519)}`);
        if (o.x25519 && (await p.getX25519Key()) !== asInt(o.x25519))
            throw new Error(`the X25519 key ${hex(o.x25519)} listed for worker ${hex(o.ed25519)} is not the one its Provider #${seqno} holds: a prompt sealed to it could be read by whoever listed it`);
        if (!(await p.getIsEligible())) throw new Error(`Provider #${seqno} (worker key ${hex(o.ed25519)}) is not eligible for work (unbonding, jailed, exited or its certificate expired)`);
        if (o.modelHash) {
            if (!(await p.getServesModel(asInt(o.modelHash)))) throw new Error(`Provider #${seqno} does not list model ${hex(o.modelHash)}`);
            if (!(await this.root.getIsAllowed(BigInt(AllowList.model), asInt(o.modelHash)))) throw new Error(`model ${hex(o.modelHash)} is not on Root's allow-list`);
        }
        return address;
    }
}
