/**
 * A Blueprint `NetworkProvider` backed by the embedded `@ton/sandbox` chain, so the operator
 * scripts' functions run unchanged in tests and in the demo (`blueprint run` itself only
 * talks to real networks).
 */
import { Address, Cell, Contract, ContractProvider, ContractState, OpenedContract, SenderArguments } from '@ton/core';
import { Blockchain, SandboxContract, SendMessageResult, TreasuryContract } from '@ton/sandbox';
import type { NetworkProvider, SenderWithSendResult, UIProvider } from '@ton/blueprint';
import { ConsoleUI } from './ui';

export interface SandboxSender extends SenderWithSendResult {
    readonly address: Address;
    readonly lastSendResult?: SendMessageResult;
}

export class SandboxNetworkProvider implements NetworkProvider {
    private readonly wallet: SandboxSender;

    /**
     * @param journal called with every send's result (all transactions it caused), so the
     *   demo and tests can account for gas, fees and balances across many operations.
     */
    constructor(
        readonly chain: Blockchain,
        treasury: SandboxContract<TreasuryContract>,
        private readonly userInterface: UIProvider = new ConsoleUI(),
        private readonly journal?: (result: SendMessageResult) => void,
    ) {
        const sender: { address: Address; lastSendResult?: SendMessageResult; send: (a: SenderArguments) => Promise<void> } = {
            address: treasury.address,
            send: async (args: SenderArguments) => {
                sender.lastSendResult = await treasury.send(args);
                journal?.(sender.lastSendResult);
            },
        };
        this.wallet = sender;
    }

    /** A provider for the same chain (same UI and journal) acting as another wallet. */
    as(treasury: SandboxContract<TreasuryContract>): SandboxNetworkProvider {
        return new SandboxNetworkProvider(this.chain, treasury, this.userInterface, this.journal);
    }

    network(): 'custom' {
        return 'custom';
    }
    explorer(): 'tonviewer' {
        return 'tonviewer';
    }
    sender(): SandboxSender {
        return this.wallet;
    }
    api(): never {
        throw new Error('the embedded sandbox has no TON client API; use the contract wrappers');
    }
    provider(address: Address, init?: { code?: Cell; data?: Cell }): ContractProvider {
        const i = init?.code && init?.data ? { code: init.code, data: init.data } : undefined;
        return this.chain.provider(address, i);
    }
    async isContractDeployed(address: Address): Promise<boolean> {
        return (await this.chain.getContract(address)).accountState?.type === 'active';
    }
    async waitForDeploy(address: Address): Promise<void> {
        if (!(await this.isContractDeployed(address))) throw new Error(`contract ${address.toString()} was not deployed`);
    }
    async waitForLastTransaction(): Promise<void> {
        // Sandbox sends are synchronous: nothing to wait for.
    }
    async getContractState(address: Address): Promise<ContractState> {
        return this.chain.provider(address).getState();
    }
    getConfig(): never {
        throw new Error('getConfig is not available on the embedded sandbox');
    }
    async deploy(): Promise<void> {
        throw new Error('deprecated: use the contract wrapper to deploy');
    }
    open<T extends Contract>(contract: T): OpenedContract<T> {
        return this.chain.openContract(contract) as unknown as OpenedContract<T>;
    }
    ui(): UIProvider {
        return this.userInterface;
    }
}
