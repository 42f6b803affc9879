import { randomAddress } from '@ton/test-utils';
import { toNano } from '@ton/core';
import { ChainEscrowReader } from '../../ops/escrow-reader';
import { SandboxNetworkProvider } from '../../ops/sandbox-provider';
import { RecordingUI } from '../../ops/ui';
import { openEscrow, requestRefund, setEscrowSecret } from '../../ops/payments';
import { escrowSecretHash } from '../../wrappers/escrowSecret';
import { chargeAmount } from '../../wrappers/chargeAmount';
import { deployPayments, submitCharge, tokens } from '../helpers/payments';

describe("ChainEscrowReader (the proxy router's view of escrows, read from the chain)", () => {
    it('reports an open escrow with its balance, charged tokens and API secret hash, then closing as not open', async () => {
        const p = await deployPayments();
        const clientWallet = await p.chain.treasury('client');
        const client = new SandboxNetworkProvider(p.chain, clientWallet, new RecordingUI());
        const reader = new ChainEscrowReader(client, p.proxy.address);
        const { address, secret } = await openEscrow(client, { proxy: p.proxy.address, deposit: toNano('3'), stake: toNano('1') });
        const secretHash = escrowSecretHash(secret);
        expect(await reader.getEscrow(address)).toEqual({ open: true, balance: toNano('3'), charged: tokens(0, 0, 0, 0), secretHash });

        const used = tokens(100, 20, 300, 0);
        const escrow = p.chain.openContract((await import('../../wrappers/JobEscrow')).JobEscrow.fromAddress(address));
        await submitCharge(p, p.operator, escrow, { tokens: used });
        const s = await reader.getEscrow(address);
        expect(s).toEqual({ open: true, balance: toNano('3') - chargeAmount(used, p.prices), charged: used, secretHash });

        // A rotation shows in the next read.
        const rotated = await setEscrowSecret(client, { escrow: address });
        expect((await reader.getEscrow(address))?.secretHash).toBe(escrowSecretHash(rotated!.secret));

        await requestRefund(client, { escrow: address });
        expect((await reader.getEscrow(address))?.open).toBe(false);
    });

    it('treats a missing account, a contract that is no escrow, and another proxy\u2019s escrow as no escrow', async () => {
        const p = await deployPayments();
        const clientWallet = await p.chain.treasury('client');
        const client = new SandboxNetworkProvider(p.chain, clientWallet, new RecordingUI());
        const reader = new ChainEscrowReader(client, p.proxy.address);
        expect(await reader.getEscrow(randomAddress())).toBeNull();
        expect(await reader.getEscrow(clientWallet.address)).toBeNull();
        expect(await reader.getEscrow(p.root.address)).toBeNull();
        expect(await reader.getEscrow(p.proxy.address)).toBeNull();
        const { address } = await openEscrow(client, { proxy: p.proxy.address, deposit: toNano('2') });
        // The same escrow seen by a router of another proxy is not its client's escrow.
        const other = new ChainEscrowReader(client, p.root.address);
        expect(await other.getEscrow(address)).toBeNull();
        expect(await reader.getEscrow(address)).not.toBeNull();
    });
});
