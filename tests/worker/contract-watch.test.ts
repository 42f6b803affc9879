/** proxy/contract-watch.ts: the router's view of its own Proxy contract, and its warnings. */
import { ContractStatus, ContractWatch } from '../../worker-reference/proxy/contract-watch';

const NOW = 1_800_000_000;
const DAY = 86400;

/** Runs `f`, returning what it logged (stderr). */
async function logged(f: () => Promise<void>): Promise<string> {
    const lines: string[] = [];
    const spy = jest.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
        lines.push(String(chunk));
        return true;
    });
    try {
        await f();
    } finally {
        spy.mockRestore();
    }
    return lines.join('');
}

const watchOf = (read: () => Promise<ContractStatus>) => new ContractWatch(read, { everyMs: 60_000, warnSeconds: 7 * DAY, now: () => NOW * 1000 });

describe('proxy/contract-watch.ts', () => {
    it('keeps the status it read and warns nothing while the certificate has more than the warning time left', async () => {
        const watch = watchOf(async () => ({ validUntil: NOW + 30 * DAY, active: true }));
        expect(await logged(() => watch.refresh())).not.toMatch(/WARNING/);
        expect(watch.latest).toEqual({ validUntil: NOW + 30 * DAY, active: true });
    });

    it('warns to renew when less is left, and that clients refuse the proxy when it is not active', async () => {
        expect(await logged(() => watchOf(async () => ({ validUntil: NOW + 2 * DAY, active: true })).refresh())).toMatch(/WARNING: the certificate expires soon: renew it \(scripts\/renewProxy\).*hours_left=48/);
        expect(await logged(() => watchOf(async () => ({ validUntil: NOW + 30 * DAY, active: false })).refresh())).toMatch(/WARNING: the Proxy contract is not active/);
    });

    it('keeps the last status when a read fails, and says so', async () => {
        let fail = false;
        const watch = watchOf(async () => {
            if (fail) throw new Error('timeout');
            return { validUntil: NOW + 30 * DAY, active: true };
        });
        await logged(() => watch.refresh());
        fail = true;
        expect(await logged(() => watch.refresh())).toMatch(/Proxy contract not read \(kept the last status\).*timeout/);
        expect(watch.latest).toEqual({ validUntil: NOW + 30 * DAY, active: true });
    });
});
