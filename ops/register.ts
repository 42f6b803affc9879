/**
 * Registering a proxy or a provider: check the certificate against Root's live state (so
 * a bad one is refused before any TON is sent), then send the registration and confirm.
 */
import type { NetworkProvider } from '@ton/blueprint';
import { Address, Dictionary, toNano } from '@ton/core';
import {
    keyToBigInt,
    parseAttestationCert,
    parseSignatureList,
    Role,
    SignedCertificate,
    tcbStatusName,
    verifyCellSignature,
} from '../wrappers/payloads';
import { proxyEndpointProblem } from '../wrappers/Proxy';
import { AllowList, modelSet, NOTIFY_OP_GAS, REGISTRATION_GAS } from '../wrappers/Root';
import { openRoot } from './root';
import { chainNow, when } from './chain-time';
import { confirm, requireDeployed } from './confirm';

/** What a registration carries on top of the stake: Root's REGISTRATION_GAS plus a margin; the rest returns. */
export const REGISTRATION_VALUE = REGISTRATION_GAS + toNano('0.1');

/** Refuses a stake below Root's minimum for the role and a key that is already registered; returns the key. */
async function checkStakeAndKey(min: bigint, stake: bigint, role: string, bundle: SignedCertificate, seqnoByKey: (key: bigint) => Promise<bigint | null>): Promise<bigint> {
    if (stake < min) throw new Error(`stake ${stake} nanoTON is below Root's minimum ${role} stake ${min}`);
    const key = keyToBigInt(parseAttestationCert(bundle.cert).ed25519Key);
    if ((await seqnoByKey(key)) !== null) throw new Error(`a ${role} with this key is already registered`);
    return key;
}

/** Waits until Root lists the key, then returns the child's seqno and address. */
async function confirmRegistered(
    provider: NetworkProvider,
    role: string,
    key: bigint,
    seqnoByKey: (key: bigint) => Promise<bigint | null>,
    addressOf: (seqno: bigint) => Promise<Address>,
): Promise<{ seqno: bigint; address: Address }> {
    let seqno: bigint | null = null;
    await confirm(provider, `${role} registered`, async () => (seqno = await seqnoByKey(key)) !== null);
    const address = await addressOf(seqno!);
    provider.ui().write(`${role} #${seqno} at ${address.toString()}`);
    return { seqno: seqno!, address };
}

/** Every reason Root would refuse `bundle` for `role`, empty when it would accept it. */
export async function certificateProblems(provider: NetworkProvider, rootAddress: Address, bundle: SignedCertificate, role: Role): Promise<string[]> {
    const root = openRoot(provider, rootAddress);
    const problems: string[] = [];
    const cert = parseAttestationCert(bundle.cert);
    if (!cert.root.equals(rootAddress)) problems.push(`certificate is for Root ${cert.root.toString()}, not ${rootAddress.toString()}`);
    if (cert.role !== role) problems.push(`certificate grants role ${Role[cert.role] ?? cert.role}, not ${Role[role]}`);
    if (cert.validUntil <= chainNow(provider)) problems.push(`certificate expired at ${new Date(cert.validUntil * 1000).toISOString()}`);
    const params = await root.getParams();
    if (((params.tcbStatusMask >> BigInt(cert.tcbStatus)) & 1n) !== 1n) problems.push(`TCB status ${tcbStatusName(cert.tcbStatus)} is not accepted by Root`);
    const list = role === Role.Proxy ? AllowList.proxyImage : AllowList.workerImage;
    if (!(await root.getIsAllowed(BigInt(list), keyToBigInt(cert.imageHash)))) problems.push(`image ${cert.imageHash.toString('hex')} is not on Root's ${Role[role].toLowerCase()} image list`);
    const seen = new Set<string>();
    let valid = 0;
    for (const s of parseSignatureList(bundle.signatures)) {
        const k = s.attestorKey.toString('hex');
        if (seen.has(k)) problems.push(`attestor ${k} signed twice`);
        else if (!(await root.getIsAttestor(keyToBigInt(s.attestorKey)))) problems.push(`${k} is not an attestor of this Root`);
        else if (!verifyCellSignature(bundle.cert, s.signature, s.attestorKey)) problems.push(`attestor ${k}'s signature does not verify`);
        else valid += 1;
        seen.add(k);
    }
    const threshold = Number(await root.getThreshold());
    if (valid < threshold) problems.push(`${valid} valid attestor signature(s), Root needs ${threshold}`);
    return problems;
}

export async function refuseBadCertificate(provider: NetworkProvider, root: Address, bundle: SignedCertificate, role: Role): Promise<void> {
    await requireDeployed(provider, root, 'Root');
    const problems = await certificateProblems(provider, root, bundle, role);
    if (problems.length > 0) throw new Error(`Root would refuse this certificate:\n- ${problems.join('\n- ')}`);
}

export interface RegisterProxyOptions {
    root: Address;
    bundle: SignedCertificate;
    stake: bigint;
    endpoint: string;
}

/** Registers a proxy; the sending wallet becomes its operator. Returns the Proxy's seqno and address. */
export async function registerProxy(provider: NetworkProvider, o: RegisterProxyOptions): Promise<{ seqno: bigint; address: Address }> {
    const badEndpoint = proxyEndpointProblem(o.endpoint);
    if (badEndpoint) throw new Error(`Root would store an endpoint no client can use: ${badEndpoint}`);
    await refuseBadCertificate(provider, o.root, o.bundle, Role.Proxy);
    const root = openRoot(provider, o.root);
    const bySeqno = (k: bigint) => root.getProxySeqnoByKey(k);
    const key = await checkStakeAndKey((await root.getParams()).stakes.minProxyStake, o.stake, 'proxy', o.bundle, bySeqno);
    await root.send(provider.sender(), { value: o.stake + REGISTRATION_VALUE }, {
        $$type: 'RegisterProxy',
        queryId: BigInt(Date.now()),
        cert: o.bundle.cert,
        signatures: o.bundle.signatures,
        stake: o.stake,
        endpoint: o.endpoint,
    });
    return confirmRegistered(provider, 'proxy', key, bySeqno, (n) => root.getProxyAddress(n));
}

export interface RegisterProviderOptions {
    root: Address;
    bundle: SignedCertificate;
    stake: bigint;
    gpuModel: string;
    vramGiB: number;
    gpuCount: number;
    models: Buffer[];
    expectedUptimeBps: number;
}

/** Registers a provider (GPU worker); the sending wallet becomes its owner. */
export async function registerProvider(provider: NetworkProvider, o: RegisterProviderOptions): Promise<{ seqno: bigint; address: Address }> {
    await refuseBadCertificate(provider, o.root, o.bundle, Role.Worker);
    const root = openRoot(provider, o.root);
    const bySeqno = (k: bigint) => root.getProviderSeqnoByKey(k);
    const key = await checkStakeAndKey((await root.getParams()).stakes.minProviderStake, o.stake, 'provider', o.bundle, bySeqno);
    if (o.models.length === 0) throw new Error('a provider must serve at least one model');
    for (const m of o.models) {
        if (!(await root.getIsAllowed(BigInt(AllowList.model), keyToBigInt(m)))) throw new Error(`model ${m.toString('hex')} is not on Root's model list`);
    }
    if (o.expectedUptimeBps < 0 || o.expectedUptimeBps > 10000) throw new Error('expected uptime is in basis points (0..10000)');
    const models: Dictionary<bigint, boolean> = modelSet(o.models);
    await root.send(provider.sender(), { value: o.stake + REGISTRATION_VALUE }, {
        $$type: 'RegisterProvider',
        queryId: BigInt(Date.now()),
        cert: o.bundle.cert,
        signatures: o.bundle.signatures,
        stake: o.stake,
        hardware: { $$type: 'Hardware', gpuModel: o.gpuModel, vramGiB: BigInt(o.vramGiB), gpuCount: BigInt(o.gpuCount) },
        models,
        expectedUptimeBps: BigInt(o.expectedUptimeBps),
    });
    return confirmRegistered(provider, 'provider', key, bySeqno, (n) => root.getProviderAddress(n));
}

/**
 * Renews a registered proxy's certificate: a fresh quote of the same enclave (same keys, same
 * image) with a later valid-until. Anyone may submit it; what Root does not spend returns.
 * Refused before sending when Root would refuse it (bad certificate, unknown key, another
 * enclave or image, not later, a deactivated proxy).
 */
export async function renewProxy(provider: NetworkProvider, o: { root: Address; bundle: SignedCertificate }): Promise<{ seqno: bigint; validUntil: number }> {
    await refuseBadCertificate(provider, o.root, o.bundle, Role.Proxy);
    const root = openRoot(provider, o.root);
    const cert = parseAttestationCert(o.bundle.cert);
    const seqno = await root.getProxySeqnoByKey(keyToBigInt(cert.ed25519Key));
    if (seqno === null) throw new Error("no proxy with this certificate's key is registered at this Root: register it (registerProxy)");
    const r = await root.getProxy(seqno);
    if (!r) throw new Error(`Root has no record of proxy #${seqno}`);
    if (!r.active) throw new Error(`proxy #${seqno} was deactivated by governance: it cannot be renewed`);
    if (r.x25519Key !== keyToBigInt(cert.x25519Key)) throw new Error(`the certificate binds another X25519 key than proxy #${seqno}'s: a new enclave registers as a new proxy`);
    if (r.imageHash !== keyToBigInt(cert.imageHash)) throw new Error(`the certificate is for another image than proxy #${seqno}'s: a new image registers as a new proxy`);
    if (BigInt(cert.validUntil) <= r.validUntil) throw new Error(`the certificate is valid until ${when(cert.validUntil)}, not later than proxy #${seqno}'s current ${when(r.validUntil)}`);
    await root.send(provider.sender(), { value: RENEWAL_VALUE }, { $$type: 'RenewProxy', queryId: BigInt(Date.now()), seqno, cert: o.bundle.cert, signatures: o.bundle.signatures });
    await confirm(provider, `proxy #${seqno} valid until ${when(cert.validUntil)}`, async () => (await root.getProxy(seqno))?.validUntil === BigInt(cert.validUntil));
    return { seqno, validUntil: cert.validUntil };
}

/** What a renewal carries: Root's minimum plus a margin for its certificate check; the rest returns. */
export const RENEWAL_VALUE = NOTIFY_OP_GAS + toNano('0.05');
