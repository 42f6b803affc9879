/** The real TDX and SGX quotes from ../shared/fixtures/dcap (README there gives the expectations). */
import { verifyQuote } from '../../verifier/verify';
import { imageHash, decodeTdReport } from '../../verifier/report';
import { parseQuote } from '../../verifier/quote';
import { runJs, runWasm } from '../../verifier/builds';
import { parseCollateral } from '../../verifier/collateral';
import { INTEL_SGX_ROOT_CA_PEM } from '../../verifier/intel-root';
import { certFromDerOrPem } from '../../verifier/pki';
import { describeWithFixtures, fixture, SGX_NOW, TDX_MID, TDX_NOW } from './helpers';

const EXPECTED_TDX = {
    mrTd: '91eb2b44d141d4ece09f0c75c2c53d247a3c68edd7fafe8a3520c942a604a407de03ae6dc5f87f27428b2538873118b7',
    rtmr0: '44c0197b39157fdd7a4dcc44767f9d6b0bb3977c7a8e347b8492f827fe9d9e5c48aca29b220b80b6a540cf994b9bc9c0',
    rtmr1: '0084452c01668329d4bc06acdf58a7205c26743304509973949e5619bf81a6a7aea8c323c173019b3093d54e579e9378',
    rtmr2: 'd833feef2cd945148aa38ead2c53e9b7f138190aaaebfc551dccd829fc207aa3ba80b70870d7330733642e01d48c3132',
    reportData: '9a9d48e7f6799642d3d1b34e1e5e1742d4bb02dd6ddd551862c1211d35c304f9eca3efdbb481601c163cf52493d6e44aed55d51ec39b7e518fadb92c2b523f20',
    imageHash: 'b260fa9168ca9f28e7f15f128a45ac31c419705b31a60feac30b322ee06bc752',
};

describeWithFixtures('real TDX quote (v4)', () => {
    const { quote, collateral } = fixture('tdx');

    it('verifies UpToDate with no advisories, decided by both builds', () => {
        const r = verifyQuote(quote, collateral, { now: TDX_NOW });
        expect(r.error).toBeUndefined();
        expect(r.ok).toBe(true);
        expect(r.tcbStatus).toBe('UpToDate');
        expect(r.advisoryIds).toEqual([]);
        expect(r.decidedBy).toEqual(['wasm', 'js']);
        expect(r.teeType).toBe('TDX');
        expect(r.td?.mrTd.toString('hex')).toBe(EXPECTED_TDX.mrTd);
        expect(r.td?.rtmr0.toString('hex')).toBe(EXPECTED_TDX.rtmr0);
        expect(r.td?.rtmr1.toString('hex')).toBe(EXPECTED_TDX.rtmr1);
        expect(r.td?.rtmr2.toString('hex')).toBe(EXPECTED_TDX.rtmr2);
        expect(r.td?.rtmr3.equals(Buffer.alloc(48))).toBe(true);
        expect(r.td?.mrConfigId.equals(Buffer.alloc(48))).toBe(true);
        expect(r.td?.tdAttributes.toString('hex')).toBe('0000001000000000');
        expect(r.td?.teeTcbSvn.toString('hex')).toBe('06010300000000000000000000000000');
        expect(r.reportData?.toString('hex')).toBe(EXPECTED_TDX.reportData);
        expect(r.imageHash?.toString('hex')).toBe(EXPECTED_TDX.imageHash);
    });

    it('image hash matches the fixed vector, and equals SHA-256(body[136..520) ‖ 0^64)', () => {
        const q = parseQuote(quote);
        const td = decodeTdReport(q.body);
        expect(imageHash(td).toString('hex')).toBe(EXPECTED_TDX.imageHash);
        const h = require('crypto').createHash('sha256').update(q.body.subarray(136, 520)).update(Buffer.alloc(64)).digest('hex');
        expect(h).toBe(EXPECTED_TDX.imageHash);
        // REPORTDATA is not part of it; every register is.
        const changed = { ...td, rtmr3: Buffer.alloc(48, 1) };
        expect(imageHash(changed).toString('hex')).not.toBe(EXPECTED_TDX.imageHash);
    });

    it('verifies mid-window too, and rejects one second after the window', () => {
        expect(verifyQuote(quote, collateral, { now: TDX_MID }).ok).toBe(true);
        const late = verifyQuote(quote, collateral, { now: TDX_NOW + 2 });
        expect(late.ok).toBe(false);
        expect(late.error).toMatch(/PCK CRL: CRL has expired/);
    });

    it('rejects before the collateral issueDate, which the WASM build alone accepts (gap closed)', () => {
        const early = 1750329147 - 60; // one minute before the QE identity issueDate (2025-06-19T10:32:27Z)
        const r = verifyQuote(quote, collateral, { now: early });
        expect(r.ok).toBe(false);
        expect(r.error).toMatch(/not valid yet: QE identity issueDate/);
        const root = certFromDerOrPem(INTEL_SGX_ROOT_CA_PEM).der;
        const wasm = runWasm({ quote, collateral: parseCollateral(collateral), now: early, rootDer: root, intelRootDer: root, quoteVersion: 4 });
        expect(wasm).toMatchObject({ decided: true, ok: true });
    });

    it('rejects keys that do not match REPORTDATA', () => {
        const ed = Buffer.alloc(32, 1);
        const x = Buffer.alloc(32, 2);
        const r = verifyQuote(quote, collateral, { now: TDX_NOW, expectedKeys: { ed25519: ed, x25519: x } });
        expect(r.ok).toBe(false);
        expect(r.error).toMatch(/REPORTDATA does not equal SHA-512/);
    });

    it('max collateral age policy rejects old collateral', () => {
        const r = verifyQuote(quote, collateral, { now: TDX_NOW, policy: { maxCollateralAgeSeconds: 3600 } });
        expect(r.ok).toBe(false);
        expect(r.error).toMatch(/collateral too old/);
    });

    it('rejects when trusting a different root', () => {
        const { TestCa } = require('../../verifier/testca') as typeof import('../../verifier/testca');
        const r = verifyQuote(quote, collateral, { now: TDX_NOW, rootCa: new TestCa().rootDer });
        expect(r.ok).toBe(false);
        expect(r.error).toMatch(/root CA CRL/);
    });
});

describeWithFixtures('real SGX quote (v3)', () => {
    const { quote, collateral } = fixture('sgx');

    it('has status ConfigurationAndSWHardeningNeeded with two advisories, refused by the default policy', () => {
        const r = verifyQuote(quote, collateral, { now: SGX_NOW });
        expect(r.ok).toBe(false);
        expect(r.tcbStatus).toBe('ConfigurationAndSWHardeningNeeded');
        expect(r.advisoryIds).toEqual(['INTEL-SA-00289', 'INTEL-SA-00615']);
        expect(r.error).toMatch(/TCB status ConfigurationAndSWHardeningNeeded is not accepted/);
    });

    it('is accepted when the policy allows that status', () => {
        const r = verifyQuote(quote, collateral, { now: SGX_NOW, policy: { acceptedTcbStatuses: ['UpToDate', 'ConfigurationAndSWHardeningNeeded'] } });
        expect(r.error).toBeUndefined();
        expect(r.ok).toBe(true);
        expect(r.decidedBy).toEqual(['wasm', 'js']);
        expect(r.teeType).toBe('SGX');
        expect(r.sgx?.mrEnclave.toString('hex')).toBe('33d8736db756ed4997e04ba358d27833188f1932ff7b1d156904d3f560452fbb');
        expect(r.sgx?.mrSigner.toString('hex')).toBe('815f42f11cf64430c30bab7816ba596a1da0130c3b028b673133a66cf9a3e0e6');
        expect(r.reportData?.subarray(0, 13).toString()).toBe('Hello, world!');
        expect(r.imageHash).toBeUndefined();
    });

    it('refused advisory ids reject even an allowed status', () => {
        const r = verifyQuote(quote, collateral, {
            now: SGX_NOW,
            policy: { acceptedTcbStatuses: ['ConfigurationAndSWHardeningNeeded'], refusedAdvisoryIds: ['intel-sa-00615'] },
        });
        expect(r.ok).toBe(false);
        expect(r.error).toMatch(/advisories refused by the policy: INTEL-SA-00615/);
    });

    it('both raw builds agree with our result', () => {
        const root = certFromDerOrPem(INTEL_SGX_ROOT_CA_PEM).der;
        const input = { quote, collateral: parseCollateral(collateral), now: SGX_NOW, rootDer: root, intelRootDer: root, quoteVersion: 3 };
        for (const v of [runWasm(input), runJs(input)]) {
            expect(v).toMatchObject({ decided: true, ok: true, status: 'ConfigurationAndSWHardeningNeeded', advisoryIds: ['INTEL-SA-00289', 'INTEL-SA-00615'] });
        }
    });
});
