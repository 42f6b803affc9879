/** A plain console UIProvider for scripts run outside `blueprint run` (demo, tests). */
import { Address } from '@ton/core';
import type { UIProvider } from '@ton/blueprint';

export class ConsoleUI implements UIProvider {
    constructor(private readonly out: (line: string) => void = (l) => process.stdout.write(l + '\n')) {}
    write(message: string): void {
        this.out(message);
    }
    async prompt(message: string): Promise<boolean> {
        throw new Error(`non-interactive run: cannot confirm "${message}"`);
    }
    async inputAddress(message: string): Promise<Address> {
        throw new Error(`non-interactive run: missing address for "${message}"`);
    }
    async input(message: string): Promise<string> {
        throw new Error(`non-interactive run: missing value for "${message}"`);
    }
    async choose<T>(message: string): Promise<T> {
        throw new Error(`non-interactive run: cannot choose "${message}"`);
    }
    setActionPrompt(message: string): void {
        this.out(message);
    }
    clearActionPrompt(): void {}
}

/** A UI that records what it was told (tests assert on it). */
export class RecordingUI extends ConsoleUI {
    readonly lines: string[] = [];
    constructor() {
        super((l) => this.lines.push(l));
    }
}
