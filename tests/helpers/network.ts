/**
 * Test fixture: a sandbox chain with a deployed Root, attestors and allow-lists, plus the
 * helpers to make certificates. Shared by every contract test (and reused by the demo).
 */
import { Blockchain, SandboxContract, TreasuryContract } from '@ton/sandbox';
import { Address, toNano } from '@ton/core';
import { createHash, randomBytes } from 'crypto';
import {
    buildAttestationCert,
    buildSignatureList,
    ed25519FromSeed,
    Ed25519KeyPair,
    Role,
    SignedCertificate,
    signAttestationCert,
    TcbStatusCode,
} from '../../wrappers/payloads';
import { AllowList, attestorMap, defaultParams, Params, Root, rootForOwner } from '../../wrappers/Root';

export interface Network {
    chain: Blockchain;
    owner: SandboxContract<TreasuryContract>;
    root: SandboxContract<Root>;
    attestors: Ed25519KeyPair[];
    proxyImage: Buffer;
    workerImage: Buffer;
    model: Buffer;
}

export function sha256(data: Buffer | string): Buffer {
    return createHash('sha256').update(data).digest();
}

export function randomKeyPair(): Ed25519KeyPair {
    return ed25519FromSeed(randomBytes(32));
}

/** Deploys Root with `attestorCount` attestors (threshold `threshold`) and one entry per list. */
export async function deployNetwork(opts: { attestorCount?: number; threshold?: number; params?: Params } = {}): Promise<Network> {
    const chain = await Blockchain.create();
    chain.now = 1_800_000_000;
    const owner = await chain.treasury('governance');
    const root = chain.openContract(await rootForOwner(owner.address, opts.params ?? defaultParams()));
    const deployed = await root.send(owner.getSender(), { value: toNano('1') }, null);
    expect(deployed.transactions).toHaveTransaction({ to: root.address, deploy: true, success: true });

    const attestors = Array.from({ length: opts.attestorCount ?? 1 }, () => randomKeyPair());
    const set = await root.send(
        owner.getSender(),
        { value: toNano('0.05') },
        {
            $$type: 'SetAttestors',
            queryId: 0n,
            attestors: attestorMap(attestors.map((a) => a.publicKey)),
            threshold: BigInt(opts.threshold ?? 1),
        },
    );
    expect(set.transactions).toHaveTransaction({ to: root.address, success: true });

    const proxyImage = sha256('proxy image');
    const workerImage = sha256('worker image');
    const model = sha256('model file');
    for (const [list, hash] of [
        [AllowList.proxyImage, proxyImage],
        [AllowList.workerImage, workerImage],
        [AllowList.model, model],
    ] as const) {
        const r = await root.send(
            owner.getSender(),
            { value: toNano('0.05') },
            { $$type: 'AllowListEdit', queryId: 0n, list: BigInt(list), hash: BigInt('0x' + hash.toString('hex')), allowed: true, expiresAt: 0n },
        );
        expect(r.transactions).toHaveTransaction({ to: root.address, success: true });
    }
    return { chain, owner, root, attestors, proxyImage, workerImage, model };
}

export interface NodeKeys {
    ed25519: Ed25519KeyPair;
    x25519: Buffer;
}

export function randomNodeKeys(): NodeKeys {
    return { ed25519: randomKeyPair(), x25519: randomBytes(32) };
}

/** A certificate for `keys`, signed by `signers` (default: every attestor of the network). */
export function makeCertificate(
    net: Network,
    role: Role,
    keys: NodeKeys,
    opts: { imageHash?: Buffer; validUntil?: number; tcbStatus?: number; root?: Address; signers?: Ed25519KeyPair[] } = {},
): SignedCertificate {
    const cert = buildAttestationCert({
        root: opts.root ?? net.root.address,
        role,
        imageHash: opts.imageHash ?? (role === Role.Proxy ? net.proxyImage : net.workerImage),
        ed25519Key: keys.ed25519.publicKey,
        x25519Key: keys.x25519,
        quoteHash: sha256('quote of ' + keys.ed25519.publicKey.toString('hex')),
        tcbStatus: opts.tcbStatus ?? TcbStatusCode.UpToDate,
        validUntil: opts.validUntil ?? net.chain.now! + 30 * 86400,
    });
    const signers = opts.signers ?? net.attestors;
    return { cert, signatures: buildSignatureList(signers.map((s) => signAttestationCert(cert, s))) };
}
