/**
 * Gas of Root's operations (foundation issue): deploy_root, allow_image, set_attestors,
 * register_proxy, set_proxy_endpoint, renew_proxy. One attestor (threshold 1), as a network starts by default.
 * Rows sum the project's contracts' transactions only (Root, and the Proxy it deploys).
 */
import { Blockchain, SendMessageResult } from '@ton/sandbox';
import { toNano } from '@ton/core';
import { Role } from '../../wrappers/payloads';
import { AllowList, attestorMap, defaultParams, rootForOwner } from '../../wrappers/Root';
import { Network, makeCertificate, randomKeyPair, randomNodeKeys, sha256 } from '../../tests/helpers/network';
import { GasRow, gasRow } from './measure';

function ok(op: string, r: SendMessageResult): SendMessageResult {
    const failed = r.transactions.find((t) => t.description.type === 'generic' && (t.description.aborted || (t.description.computePhase.type === 'vm' && !t.description.computePhase.success)));
    if (failed) throw new Error(`${op}: a transaction of the trace failed`);
    return r;
}

export async function measure(): Promise<GasRow[]> {
    const chain = await Blockchain.create();
    chain.now = 1_800_000_000;
    const owner = await chain.treasury('governance');
    const operator = await chain.treasury('operator');
    const root = chain.openContract(await rootForOwner(owner.address, defaultParams()));
    const rows: GasRow[] = [];

    const deploy = ok('deploy_root', await root.send(owner.getSender(), { value: toNano('1') }, null));
    rows.push(gasRow('deploy_root', deploy.transactions, [root.address]));

    const proxyImage = sha256('proxy image');
    const allow = ok(
        'allow_image',
        await root.send(
            owner.getSender(),
            { value: toNano('0.05') },
            { $$type: 'AllowListEdit', queryId: 0n, list: BigInt(AllowList.proxyImage), hash: BigInt('0x' + proxyImage.toString('hex')), allowed: true, expiresAt: 0n },
        ),
    );
    rows.push(gasRow('allow_image', allow.transactions, [root.address]));

    const attestor = randomKeyPair();
    const set = ok(
        'set_attestors',
        await root.send(owner.getSender(), { value: toNano('0.05') }, { $$type: 'SetAttestors', queryId: 0n, attestors: attestorMap([attestor.publicKey]), threshold: 1n }),
    );
    rows.push(gasRow('set_attestors', set.transactions, [root.address]));

    const net: Network = { chain, owner, root, attestors: [attestor], proxyImage, workerImage: sha256('worker image'), model: sha256('model file') };
    const keys = randomNodeKeys();
    const bundle = makeCertificate(net, Role.Proxy, keys);
    const stake = defaultParams().stakes.minProxyStake;
    const proxyAddress = await root.getProxyAddress(0n);
    const reg = ok(
        'register_proxy',
        await root.send(
            operator.getSender(),
            { value: stake + toNano('0.5') },
            { $$type: 'RegisterProxy', queryId: 0n, cert: bundle.cert, signatures: bundle.signatures, stake, endpoint: 'https://proxy.example:8443' },
        ),
    );
    rows.push(gasRow('register_proxy', reg.transactions, [root.address, proxyAddress]));

    const moved = ok('set_proxy_endpoint', await root.send(operator.getSender(), { value: toNano('0.05') }, { $$type: 'SetProxyEndpoint', queryId: 0n, seqno: 0n, endpoint: 'https://moved.example:8443' }));
    rows.push(gasRow('set_proxy_endpoint', moved.transactions, [root.address, proxyAddress]));

    const fresh = makeCertificate(net, Role.Proxy, keys, { validUntil: chain.now! + 60 * 86400 });
    const renewed = ok('renew_proxy', await root.send(operator.getSender(), { value: toNano('0.1') }, { $$type: 'RenewProxy', queryId: 0n, seqno: 0n, cert: fresh.cert, signatures: fresh.signatures }));
    rows.push(gasRow('renew_proxy', renewed.transactions, [root.address, proxyAddress]));
    return rows;
}
