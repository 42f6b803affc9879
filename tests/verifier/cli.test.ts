/** cocoon-verify: spawned as a real process for the main paths, in-process for the rest. */
import { spawnSync } from 'child_process';
import { mkdtempSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import path from 'path';
import { Cell } from '@ton/core';
import { ed25519FromSeed, parseAttestationCert, parseSignatureList, unpackCertificateBundle, verifyCellSignature } from '../../wrappers/payloads';
import { main } from '../../verifier/cli';
import { reportDataForKeys } from '../../verifier/key-binding';
import { TestCa } from '../../verifier/testca';
import { FIXTURE_DIR, HAVE_FIXTURES, REPO_ROOT, TDX_NOW } from './helpers';

const BIN = path.join(REPO_ROOT, 'verifier', 'bin', 'cocoon-verify.js');
const dir = mkdtempSync(path.join(tmpdir(), 'cocoon-verify-'));
const ca = new TestCa();
const ed = ed25519FromSeed(Buffer.alloc(32, 5)).publicKey;
const x = Buffer.alloc(32, 6);
const f = (name: string, data: string | Buffer): string => {
    const p = path.join(dir, name);
    writeFileSync(p, data);
    return p;
};
const quoteHex = f('quote.hex', '0x' + ca.mintQuote({ reportData: reportDataForKeys(ed, x) }).toString('hex').replace(/(.{128})/g, '$1\n'));
const debugQuote = f('debug.bin', ca.mintQuote({ debug: true }));
const collateral = f('collateral.json', JSON.stringify(ca.collateral()));
const rootPem = f('root.pem', ca.rootPem);
const keyFile = f('attestor.key', Buffer.alloc(32, 0xa7).toString('hex') + '\n');
const common = ['--collateral', collateral, '--now', String(ca.now), '--root-ca', rootPem];
const ROOT_ADDR = 'EQCD39VS5jcptHL8vMjEXrzGaRcCVYto7HUn4bpAOg8xqB2N';

function spawn(args: string[]): { code: number | null; stdout: string; stderr: string } {
    const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', cwd: dir, timeout: 60000 });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function run(args: string[]): { code: number; out: string; err: string } {
    let out = '';
    let err = '';
    const code = main(args, { out: (s) => (out += s + '\n'), err: (s) => (err += s + '\n') });
    return { code, out, err };
}

describe('cocoon-verify (spawned)', () => {
    it('verify --json: accepted, exit 0, with the documented fields', () => {
        const r = spawn(['verify', '--quote', quoteHex, ...common, '--json']);
        expect(r.stderr).toBe('');
        expect(r.code).toBe(0);
        const j = JSON.parse(r.stdout);
        expect(j).toMatchObject({ ok: true, tcbStatus: 'UpToDate', advisoryIds: [], decidedBy: ['wasm', 'js'] });
        expect(j.imageHash).toMatch(/^[0-9a-f]{64}$/);
        expect(j.mrTd).toMatch(/^[0-9a-f]{96}$/);
        expect(j.reportData).toBe(reportDataForKeys(ed, x).toString('hex'));
        expect(j.error).toBeUndefined();
    });

    it('verify: rejected quote exits 1 with the reason', () => {
        const r = spawn(['verify', '--quote', debugQuote, ...common, '--json']);
        expect(r.code).toBe(1);
        const j = JSON.parse(r.stdout);
        expect(j.ok).toBe(false);
        expect(j.error).toMatch(/debug TD refused/);
    });

    it('attest prints a base64 certificate bundle signed by the attestor', () => {
        const r = spawn(['attest', '--quote', quoteHex, ...common, '--ed25519', ed.toString('hex'), '--x25519', x.toString('hex'), '--role', 'worker', '--key', keyFile, '--root', ROOT_ADDR, '--valid-for', '600']);
        expect(r.stderr).toBe('');
        expect(r.code).toBe(0);
        const bundle = unpackCertificateBundle(Cell.fromBase64(r.stdout.trim()));
        const cert = parseAttestationCert(bundle.cert);
        expect(cert.validUntil).toBe(ca.now + 600);
        expect(cert.role).toBe(2);
        const [sig] = parseSignatureList(bundle.signatures);
        const attestor = ed25519FromSeed(Buffer.alloc(32, 0xa7));
        expect(sig.attestorKey.equals(attestor.publicKey)).toBe(true);
        expect(verifyCellSignature(bundle.cert, sig.signature, attestor.publicKey)).toBe(true);
    });

    it('usage errors exit 2 with a clear message; --help exits 0', () => {
        const missing = spawn(['verify', '--quote', quoteHex]);
        expect(missing.code).toBe(2);
        expect(missing.stderr).toMatch(/--collateral is required/);
        const help = spawn(['attest', '--help']);
        expect(help.code).toBe(0);
        expect(help.stdout).toMatch(/Usage: cocoon-verify attest/);
    });

    (HAVE_FIXTURES ? it : it.skip)('image-hash of the real TDX quote prints the fixed vector (skipped without ../shared)', () => {
        const r = spawn(['image-hash', '--quote', path.join(FIXTURE_DIR, 'tdx_quote.bin')]);
        expect(r.code).toBe(0);
        expect(r.stdout.trim()).toBe('b260fa9168ca9f28e7f15f128a45ac31c419705b31a60feac30b322ee06bc752');
    });
});

describe('cocoon-verify (in process)', () => {
    it('--help on every command, and the top level', () => {
        for (const cmd of ['verify', 'image-hash', 'attest']) {
            const r = run([cmd, '--help']);
            expect(r.code).toBe(0);
            expect(r.out).toMatch(new RegExp(`Usage: cocoon-verify ${cmd}`));
        }
        expect(run(['--help']).code).toBe(0);
        expect(run([]).code).toBe(2);
        expect(run(['frobnicate']).err).toMatch(/unknown command "frobnicate"/);
    });

    it('unreadable files, unknown options, bad values are usage errors (exit 2)', () => {
        const cases: [string[], RegExp][] = [
            [['verify', '--quote', path.join(dir, 'nope.bin'), ...common], /cannot read quote file .*ENOENT/],
            [['verify', '--quote', quoteHex, '--collateral', path.join(dir, 'nope.json')], /cannot read collateral file/],
            [['verify', '--quote', quoteHex, ...common, '--bogus', '1'], /unknown option --bogus/],
            [['verify', '--quote', quoteHex, ...common.slice(0, 2), '--now', 'yesterday'], /--now must be a unix time/],
            [['verify', '--quote', quoteHex, ...common, '--policy', f('bad-policy.json', '{"acceptedTcbStatuses":["Revoked"]}')], /never be accepted/],
            [['verify', '--quote', quoteHex, ...common, '--policy', f('garbage-policy.json', 'nope')], /not JSON/],
            [['verify', '--quote', quoteHex, ...common, '--ed25519', ed.toString('hex')], /go together/],
            [['attest', '--quote', quoteHex, ...common, '--ed25519', 'zz', '--x25519', x.toString('hex'), '--role', 'proxy', '--key', keyFile, '--root', ROOT_ADDR], /--ed25519 must be 32 bytes of hex/],
            [['attest', '--quote', quoteHex, ...common, '--ed25519', ed.toString('hex'), '--x25519', x.toString('hex'), '--role', 'boss', '--key', keyFile, '--root', ROOT_ADDR], /--role must be proxy or worker/],
            [['attest', '--quote', quoteHex, ...common, '--ed25519', ed.toString('hex'), '--x25519', x.toString('hex'), '--role', 'proxy', '--key', f('short.key', 'abcd'), '--root', ROOT_ADDR], /must hold a 32-byte Ed25519 seed/],
            [['attest', '--quote', quoteHex, ...common, '--ed25519', ed.toString('hex'), '--x25519', x.toString('hex'), '--role', 'proxy', '--key', keyFile, '--root', 'not-an-address'], /is not a TON address/],
        ];
        for (const [args, re] of cases) {
            const r = run(args);
            expect({ args, code: r.code }).toEqual({ args, code: 2 });
            expect(r.err).toMatch(re);
        }
    });

    it('garbage quote or collateral is a rejection (exit 1) with a reason', () => {
        const g = run(['verify', '--quote', f('garbage.bin', 'definitely not a quote'), ...common, '--json']);
        expect(g.code).toBe(1);
        expect(JSON.parse(g.out).error).toMatch(/malformed quote/);
        const c = run(['verify', '--quote', quoteHex, '--collateral', f('garbage.json', '{{{'), '--now', String(ca.now), '--root-ca', rootPem]);
        expect(c.code).toBe(1);
        expect(c.out).toMatch(/REJECTED[\s\S]*collateral is not JSON/);
        const ih = run(['image-hash', '--quote', f('garbage2.bin', Buffer.alloc(10))]);
        expect(ih.code).toBe(1);
        expect(ih.err).toMatch(/malformed quote/);
    });

    it('attest refuses keys the quote does not bind (exit 1)', () => {
        const r = run(['attest', '--quote', quoteHex, ...common, '--ed25519', ed.toString('hex'), '--x25519', Buffer.alloc(32, 9).toString('hex'), '--role', 'proxy', '--key', keyFile, '--root', ROOT_ADDR]);
        expect(r.code).toBe(1);
        expect(r.err).toMatch(/rejected: REPORTDATA does not equal/);
    });

    it('text output lists the status and TD fields; image-hash --json', () => {
        const r = run(['verify', '--quote', quoteHex, ...common]);
        expect(r.code).toBe(0);
        expect(r.out).toMatch(/status: ACCEPTED/);
        expect(r.out).toMatch(/imageHash: [0-9a-f]{64}/);
        const j = JSON.parse(run(['image-hash', '--quote', quoteHex, '--json']).out);
        const v = JSON.parse(run(['verify', '--quote', quoteHex, ...common, '--json']).out);
        expect(j.imageHash).toBe(v.imageHash);
    });

    (HAVE_FIXTURES ? it : it.skip)('verify the real TDX quote with the default (Intel) root (skipped without ../shared)', () => {
        const r = run(['verify', '--quote', path.join(FIXTURE_DIR, 'tdx_quote.bin'), '--collateral', path.join(FIXTURE_DIR, 'tdx_quote_collateral.json'), '--now', String(TDX_NOW), '--json']);
        expect(r.code).toBe(0);
        expect(JSON.parse(r.out)).toMatchObject({ ok: true, tcbStatus: 'UpToDate', advisoryIds: [], imageHash: 'b260fa9168ca9f28e7f15f128a45ac31c419705b31a60feac30b322ee06bc752' });
    });
});
