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
import { AllowList, modelSet } from '../wrappers/Root';
import { openRoot } from './root';
import { chainNow } from './chain-time';
import { confirm, requireDeployed } from './confirm';

/** What Root takes on top of the stake for gas (contracts/constants.tact REGISTRATION_GAS, plus margin). */
export const REGISTRATION_VALUE = toNano('0.3');

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

async function refuseBadCertificate(provider: NetworkProvider, root: Address, bundle: SignedCertificate, role: Role): Promise<void> {
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
    await refuseBadCertificate(provider, o.root, o.bundle, Role.Proxy);
    const root = openRoot(provider, o.root);
    const min = (await root.getParams()).stakes.minProxyStake;
    if (o.stake < min) throw new Error(`stake ${o.stake} nanoTON is below Root's minimum proxy stake ${min}`);
    const key = keyToBigInt(parseAttestationCert(o.bundle.cert).ed25519Key);
    if ((await root.getProxySeqnoByKey(key)) !== null) throw new Error('a proxy with this enclave key is already registered');
    await root.send(provider.sender(), { value: o.stake + REGISTRATION_VALUE }, {
        $$type: 'RegisterProxy',
        queryId: BigInt(Date.now()),
        cert: o.bundle.cert,
        signatures: o.bundle.signatures,
        stake: o.stake,
        endpoint: o.endpoint,
    });
    let seqno: bigint | null = null;
    await confirm(provider, 'proxy registered', async () => (seqno = await root.getProxySeqnoByKey(key)) !== null);
    const address = await root.getProxyAddress(seqno!);
    provider.ui().write(`proxy #${seqno} at ${address.toString()}`);
    return { seqno: seqno!, address };
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
    const min = (await root.getParams()).stakes.minProviderStake;
    if (o.stake < min) throw new Error(`stake ${o.stake} nanoTON is below Root's minimum provider stake ${min}`);
    if (o.models.length === 0) throw new Error('a provider must serve at least one model');
    for (const m of o.models) {
        if (!(await root.getIsAllowed(BigInt(AllowList.model), keyToBigInt(m)))) throw new Error(`model ${m.toString('hex')} is not on Root's model list`);
    }
    if (o.expectedUptimeBps < 0 || o.expectedUptimeBps > 10000) throw new Error('expected uptime is in basis points (0..10000)');
    const key = keyToBigInt(parseAttestationCert(o.bundle.cert).ed25519Key);
    if ((await root.getProviderSeqnoByKey(key)) !== null) throw new Error('a provider with this worker key is already registered');
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
    let seqno: bigint | null = null;
    await confirm(provider, 'provider registered', async () => (seqno = await root.getProviderSeqnoByKey(key)) !== null);
    const address = await root.getProviderAddress(seqno!);
    provider.ui().write(`provider #${seqno} at ${address.toString()}`);
    return { seqno: seqno!, address };
}
