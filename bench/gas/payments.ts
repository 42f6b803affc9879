/**
 * Gas of the payments ops (Proxy stake/close/commission, JobEscrow incl. the API secret
 * rotation, WorkerAccount), summed
 * over the project's contracts' transactions of each op's trace (bench/gas/measure.ts).
 * `charge` and `worker_payout` settle 10,000 simulated requests each: their cost does not
 * depend on how many requests a cumulative charge or payout covers.
 */
import { Address, toNano } from '@ton/core';
import { Blockchain, SandboxContract, SendMessageResult, TreasuryContract } from '@ton/sandbox';
import { randomBytes } from 'crypto';
import { ed25519FromSeed, Role } from '../../wrappers/payloads';
import { AllowList, attestorMap, defaultParams, rootForOwner } from '../../wrappers/Root';
import { Proxy, PROXY_OP_GAS } from '../../wrappers/Proxy';
import {
    ESCROW_CHARGE_VALUE,
    ESCROW_FINISH_VALUE,
    ESCROW_OP_GAS,
    ESCROW_OPEN_VALUE,
    ESCROW_SET_SECRET_VALUE,
    escrowFor,
    escrowOpen,
    escrowSetSecret,
    signedCharge,
} from '../../wrappers/JobEscrow';
import { signedPayout, WORKER_ACCOUNT_STORAGE, WORKER_PAYOUT_VALUE, workerAccountFor } from '../../wrappers/WorkerAccount';
import { addTokens, billableTokens, zeroTokens } from '../../wrappers/chargeAmount';
import { makeCertificate, Network, randomNodeKeys, sha256 } from '../../tests/helpers/network';
import { GasRow, gasRow } from './measure';

function mustSucceed(op: string, r: SendMessageResult): SendMessageResult {
    for (const tx of r.transactions) {
        const d = tx.description;
        if (d.type !== 'generic') continue;
        const ok = !d.aborted && (d.computePhase.type === 'skipped' || d.computePhase.success) && (!d.actionPhase || d.actionPhase.success);
        if (!ok) throw new Error(`${op}: a transaction failed`);
    }
    return r;
}

export async function measure(): Promise<GasRow[]> {
    const chain = await Blockchain.create();
    chain.now = 1_800_000_000;
    const owner = await chain.treasury('governance');
    const params = defaultParams();
    const root = chain.openContract(await rootForOwner(owner.address, params));
    mustSucceed('deploy root', await root.send(owner.getSender(), { value: toNano('1') }, null));
    const attestor = ed25519FromSeed(randomBytes(32));
    mustSucceed('attestors', await root.send(owner.getSender(), { value: toNano('0.05') }, { $$type: 'SetAttestors', queryId: 0n, attestors: attestorMap([attestor.publicKey]), threshold: 1n }));
    const proxyImage = sha256('proxy image');
    mustSucceed('allow', await root.send(owner.getSender(), { value: toNano('0.05') }, { $$type: 'AllowListEdit', queryId: 0n, list: BigInt(AllowList.proxyImage), hash: BigInt('0x' + proxyImage.toString('hex')), allowed: true, expiresAt: 0n }));
    const net = { chain, owner, root, attestors: [attestor], proxyImage, workerImage: sha256('worker image'), model: sha256('model file') } as Network;

    const operator = await chain.treasury('operator');
    const keys = randomNodeKeys();
    const bundle = makeCertificate(net, Role.Proxy, keys);
    mustSucceed('register', await root.send(operator.getSender(), { value: toNano('10.5') }, { $$type: 'RegisterProxy', queryId: 0n, cert: bundle.cert, signatures: bundle.signatures, stake: toNano('10'), endpoint: 'https://proxy.example' }));
    const proxy = chain.openContract(Proxy.fromAddress(await root.getProxyAddress(0n)));

    const client = await chain.treasury('client');
    const payee = await chain.treasury('provider-owner');
    const providerContract = await chain.treasury('provider-contract');
    const escrow = chain.openContract(await escrowFor(proxy.address, client.address));
    const account = chain.openContract(await workerAccountFor(proxy.address, providerContract.address, payee.address));
    const ours: Address[] = [root.address, proxy.address, escrow.address, account.address];
    const rows: GasRow[] = [];
    const row = (op: string, r: SendMessageResult | SendMessageResult[]): void => {
        const list = Array.isArray(r) ? r : [r];
        list.forEach((x) => mustSucceed(op, x));
        rows.push(gasRow(op, list.flatMap((x) => x.transactions), ours));
    };
    const ownerSend = (from: SandboxContract<TreasuryContract>, msg: Parameters<SandboxContract<Proxy>['send']>[2], value = PROXY_OP_GAS) =>
        proxy.send(from.getSender(), { value }, msg);

    row('proxy_add_stake', await ownerSend(operator, { $$type: 'ProxyAddStake', queryId: 0n, amount: toNano('1') }, toNano('1') + PROXY_OP_GAS));
    row('open_escrow', await escrow.send(client.getSender(), { value: toNano('50') + ESCROW_OPEN_VALUE }, escrowOpen({ deposit: toNano('50'), stake: toNano('1'), secret: Buffer.alloc(32, 1) })));
    row('set_escrow_secret', await escrow.send(client.getSender(), { value: ESCROW_SET_SECRET_VALUE }, escrowSetSecret(Buffer.alloc(32, 2))));
    row('top_up', await escrow.send(client.getSender(), { value: toNano('5') + ESCROW_OP_GAS }, { $$type: 'EscrowTopUp', queryId: 0n, amount: toNano('5') }));

    // 10,000 requests accumulated off chain, settled by one charge and one payout.
    let served = zeroTokens();
    for (let i = 0; i < 10_000; i++) {
        served = addTokens(served, { prompt: BigInt(200 + (i % 700)), cached: BigInt(i % 300), completion: BigInt(80 + (i % 400)), reasoning: BigInt(i % 5 === 0 ? 150 : 0) });
    }
    const validUntil = chain.now + 3600;
    row('charge', await escrow.send(operator.getSender(), { value: ESCROW_CHARGE_VALUE }, signedCharge({ escrow: escrow.address, tokens: served, validUntil }, keys.ed25519)));
    row(
        'worker_payout',
        await account.send(operator.getSender(), { value: WORKER_PAYOUT_VALUE + WORKER_ACCOUNT_STORAGE }, signedPayout({ workerAccount: account.address, tokens: billableTokens(served, params.prices), validUntil }, keys.ed25519)),
    );
    const commission = await proxy.getCommission();
    row('proxy_withdraw_commission', await ownerSend(operator, { $$type: 'ProxyWithdrawCommission', queryId: 0n, amount: commission }));

    row('request_refund', await escrow.send(client.getSender(), { value: ESCROW_OP_GAS }, { $$type: 'EscrowRequestClose', queryId: 0n }));
    chain.now += Number(params.stakes.clientCloseDelay);
    row('withdraw_refund', await escrow.send(client.getSender(), { value: ESCROW_FINISH_VALUE }, { $$type: 'EscrowFinishClose', queryId: 0n }));

    const begin = await ownerSend(operator, { $$type: 'ProxyBeginClose', queryId: 0n });
    chain.now += Number(params.stakes.proxyCloseDelay);
    const finish = await ownerSend(operator, { $$type: 'ProxyFinishClose', queryId: 0n });
    row('proxy_close', [begin, finish]);
    return rows;
}
