import type { NetworkProvider } from '@ton/blueprint';
import { Address } from '@ton/core';
import { openRoot, setParams } from '../ops/root';
import { runScript } from '../ops/script';
import type { OptionSpec } from '../ops/args';

// Every field of Root's params that governance may change: option name -> [group, field, kind].
const FIELDS: Record<string, ['prices' | 'stakes' | 'slashing' | null, string, 'ton' | 'int']> = {
    'price-per-token': ['prices', 'pricePerToken', 'int'],
    'worker-fee-per-token': ['prices', 'workerFeePerToken', 'int'],
    'prompt-multiplier': ['prices', 'promptMultiplier', 'int'],
    'cached-multiplier': ['prices', 'cachedMultiplier', 'int'],
    'completion-multiplier': ['prices', 'completionMultiplier', 'int'],
    'reasoning-multiplier': ['prices', 'reasoningMultiplier', 'int'],
    'min-proxy-stake': ['stakes', 'minProxyStake', 'ton'],
    'min-provider-stake': ['stakes', 'minProviderStake', 'ton'],
    'min-client-stake': ['stakes', 'minClientStake', 'ton'],
    'proxy-close-delay': ['stakes', 'proxyCloseDelay', 'int'],
    'client-close-delay': ['stakes', 'clientCloseDelay', 'int'],
    'unbond-delay': ['stakes', 'unbondDelay', 'int'],
    'jail-period': ['stakes', 'jailPeriod', 'int'],
    'equivocation-slash-bps': ['slashing', 'equivocationSlashBps', 'int'],
    'bounty-bps': ['slashing', 'bountyBps', 'int'],
    'fault-slash-bps': ['slashing', 'faultSlashBps', 'int'],
    'fault-cap-bps': ['slashing', 'faultCapBps', 'int'],
    'fault-reports-per-period': ['slashing', 'faultReportsPerPeriod', 'int'],
    'fault-period': ['slashing', 'faultPeriod', 'int'],
    'tcb-status-mask': [null, 'tcbStatusMask', 'int'],
};

/** Governance: changes some of Root's params; the others keep their current values. */
export async function run(provider: NetworkProvider, args: string[]): Promise<void> {
    const options: Record<string, OptionSpec> = { root: { kind: 'address', help: 'Root contract address', required: true } };
    for (const [name, [, field, kind]] of Object.entries(FIELDS)) {
        options[name] = { kind, help: `new ${field} (${kind === 'ton' ? 'TON' : 'nanoTON, seconds or basis points as the field says'})` };
    }
    await runScript(provider, args, { name: 'setParams', summary: "change Root's params (prices, stakes, delays, slashing, accepted TCB statuses); unnamed ones stay", options }, async (a) => {
        const root = a.one<Address>('root');
        const params = await openRoot(provider, root).getParams();
        let changed = 0;
        for (const [name, [group, field]] of Object.entries(FIELDS)) {
            const v = a.maybe<bigint>(name);
            if (v === undefined) continue;
            const target = (group === null ? params : params[group]) as unknown as Record<string, bigint>;
            target[field] = v;
            changed += 1;
        }
        if (changed === 0) throw new Error('name at least one param to change (see --help)');
        await setParams(provider, root, params);
    });
}
