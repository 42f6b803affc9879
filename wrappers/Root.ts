/**
 * Typed wrapper of the Root contract (contracts/root.tact): the generated Tact binding plus
 * the helpers an integrator needs to deploy it and build its messages.
 */
import { Address, beginCell, Cell, Dictionary, toNano } from '@ton/core';
import { Root, Params, storeParams } from '../build/cocoon/cocoon_Root';
import { SignedCertificate } from './payloads';

export * from '../build/cocoon/cocoon_Root';

/** Allow-list ids (AllowListEdit.list). */
export const AllowList = { proxyImage: 1, workerImage: 2, model: 3 } as const;
export type AllowListId = (typeof AllowList)[keyof typeof AllowList];

/** Child code kinds (SetChildCode.kind). */
export const ChildKind = { proxy: 1, provider: 2 } as const;

/** Parameters a fresh network starts with; governance changes them with SetParams. */
export function defaultParams(): Params {
    return {
        $$type: 'Params',
        prices: {
            $$type: 'Prices',
            pricePerToken: 1000n, // 1,000 nanoTON per token before multipliers
            workerFeePerToken: 800n,
            promptMultiplier: 10000n,
            cachedMultiplier: 1000n,
            completionMultiplier: 20000n,
            reasoningMultiplier: 20000n,
        },
        stakes: {
            $$type: 'Stakes',
            minProxyStake: toNano('10'),
            minProviderStake: toNano('10'),
            minClientStake: toNano('1'),
            proxyCloseDelay: 86400n,
            clientCloseDelay: 3600n,
            unbondDelay: 7n * 86400n,
            jailPeriod: 86400n,
        },
        slashing: {
            $$type: 'Slashing',
            equivocationSlashBps: 5000n, // half the stake
            bountyBps: 1000n, // 10 % of the slash to the reporter
            faultSlashBps: 50n, // 0.5 % per fault report
            faultCapBps: 200n, // at most 2 % per period
            faultReportsPerPeriod: 4n,
            faultPeriod: 86400n,
        },
        tcbStatusMask: 1n, // UpToDate only
    };
}

/** The Root contract a network starts with: empty lists, no attestors yet. */
export function rootForOwner(owner: Address, params: Params = defaultParams()): Promise<Root> {
    return Root.fromInit(
        owner,
        beginCell().store(storeParams(params)).endCell(),
        Dictionary.empty(Dictionary.Keys.BigUint(256), Dictionary.Values.Uint(32)),
        Dictionary.empty(Dictionary.Keys.BigUint(256), Dictionary.Values.Uint(32)),
        Dictionary.empty(Dictionary.Keys.BigUint(256), Dictionary.Values.Uint(32)),
        Dictionary.empty(Dictionary.Keys.BigUint(256), Dictionary.Values.Bool()),
        0n,
        0n,
        0n,
        Dictionary.empty(),
        Dictionary.empty(Dictionary.Keys.BigUint(256), Dictionary.Values.Uint(32)),
        0n,
        Dictionary.empty(),
        Dictionary.empty(Dictionary.Keys.BigUint(256), Dictionary.Values.Uint(32)),
        null,
        null,
        0n,
    );
}

/** The attestor map SetAttestors carries. */
export function attestorMap(keys: Buffer[]): Dictionary<bigint, boolean> {
    const d = Dictionary.empty(Dictionary.Keys.BigUint(256), Dictionary.Values.Bool());
    for (const k of keys) d.set(BigInt('0x' + k.toString('hex')), true);
    return d;
}

/** The model-hash set RegisterProvider carries. */
export function modelSet(hashes: Buffer[]): Dictionary<bigint, boolean> {
    return attestorMap(hashes);
}

/** The fields of RegisterProxy / RegisterProvider that come from a signed certificate. */
export function certificateFields(b: SignedCertificate): { cert: Cell; signatures: Cell } {
    return { cert: b.cert, signatures: b.signatures };
}

// Exit codes (ERR_*) and value constants (MIN_STORAGE, REGISTRATION_GAS, NOTIFY_OP_GAS,
// PROXY_NOTIFY_VALUE, TREASURY_DEPOSIT_GAS, ...) are exported by the generated binding above,
// straight from contracts/errors.tact and contracts/constants.tact.
