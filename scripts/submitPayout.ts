import type { NetworkProvider } from '@ton/blueprint';
import { Address, fromNano } from '@ton/core';
import { submitPayout } from '../ops/payments';
import { runScript } from '../ops/script';
import { readSignedPayout } from '../ops/settlement-file';
import { Provider } from '../wrappers/Provider';

/** Anyone (normally the worker's owner) submits the router's latest signed payout; deploys the WorkerAccount if needed. */
export async function run(provider: NetworkProvider, args: string[]): Promise<void> {
    await runScript(
        provider,
        args,
        {
            name: 'submitPayout',
            summary: 'submit a signed cumulative payout (the JSON of the router\'s GET /v1/settlement/payout/<account>) to its WorkerAccount',
            options: {
                payout: { kind: 'file', help: 'file holding the router\'s payout JSON (or the JSON itself)', required: true },
                proxy: { kind: 'address', help: 'Proxy contract that signed it', required: true },
                provider: { kind: 'address', help: 'Provider contract of the worker', required: true },
                payee: { kind: 'address', help: "who the fees go to (default: the Provider's owner)" },
            },
        },
        async (a) => {
            const p = readSignedPayout(a.one<string>('payout'));
            const providerAddress = a.one<Address>('provider');
            let payee = a.maybe<Address>('payee');
            if (!payee) {
                if (!(await provider.isContractDeployed(providerAddress))) throw new Error(`Provider ${providerAddress.toString()} is not a deployed contract`);
                const owner = await provider.open(Provider.fromAddress(providerAddress)).getOwner();
                if (!owner) throw new Error('the Provider has no owner: pass --payee');
                payee = owner;
            }
            const { paid } = await submitPayout(provider, {
                workerAccount: p.workerAccount,
                proxy: a.one<Address>('proxy'),
                provider: providerAddress,
                payee,
                payload: p.payload,
                signature: p.signature,
            });
            provider.ui().write(`paid: ${fromNano(paid)} TON to ${payee.toString()}`);
        },
    );
}
