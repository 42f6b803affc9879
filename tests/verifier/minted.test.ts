/** Every failure path, driven by quotes and collateral from the test CA. */
import { createHash } from 'crypto';
import { TestCa } from '../../verifier/testca';
import { verifyQuote, VerifyOptions, combineVerdicts } from '../../verifier/verify';
import { runJs, runWasm, BuildVerdict } from '../../verifier/builds';
import { Collateral, parseCollateral } from '../../verifier/collateral';
import { reportDataForKeys } from '../../verifier/key-binding';
import { wasmRootSupport } from '../../verifier/wasm-build';
import { makePolicy } from '../../verifier/policy';

const ca = new TestCa();
const good = ca.collateral();
const opts = (o: Partial<VerifyOptions> = {}): VerifyOptions => ({ now: ca.now, rootCa: ca.rootDer, ...o });
const rawBuilds = (quote: Buffer, collateral: Collateral, now = ca.now): BuildVerdict[] => {
    const input = { quote, collateral: parseCollateral(collateral), now, rootDer: ca.rootDer, intelRootDer: Buffer.alloc(0), quoteVersion: quote.readUInt16LE(0) };
    return [runWasm(input), runJs(input)];
};
const expectReject = (quote: Buffer, collateral: unknown, re: RegExp, o: Partial<VerifyOptions> = {}): void => {
    const r = verifyQuote(quote, collateral, opts(o));
    expect(r.error).toMatch(re);
    expect(r.ok).toBe(false);
};

describe('minted quotes: accepted paths', () => {
    it('a v4 quote is accepted by our checks and both builds (the WASM build trusts the test root)', () => {
        const q = ca.mintQuote();
        const r = verifyQuote(q, good, opts());
        expect(r.error).toBeUndefined();
        expect(r.ok).toBe(true);
        expect(r.tcbStatus).toBe('UpToDate');
        expect(r.decidedBy).toEqual(['wasm', 'js']);
        expect(r.quoteHash.equals(createHash('sha256').update(q).digest())).toBe(true);
    });

    it('chosen measurements and key binding come back through the decoder and the image hash', () => {
        const ed = Buffer.alloc(32, 7);
        const x = Buffer.alloc(32, 9);
        const mr = (n: number): Buffer => Buffer.alloc(48, n);
        const q = ca.mintQuote({ mrTd: mr(1), mrConfigId: mr(2), mrOwner: mr(3), mrOwnerConfig: mr(4), rtmr: [mr(5), mr(6), mr(7), mr(8)], reportData: reportDataForKeys(ed, x) });
        const r = verifyQuote(q, good, opts({ expectedKeys: { ed25519: ed, x25519: x } }));
        expect(r.ok).toBe(true);
        expect(r.td?.mrTd.equals(mr(1))).toBe(true);
        expect(r.td?.rtmr3.equals(mr(8))).toBe(true);
        const want = createHash('sha256');
        for (let i = 1; i <= 8; i++) want.update(mr(i));
        expect(r.imageHash?.toString('hex')).toBe(want.update(Buffer.alloc(64)).digest('hex'));
    });

    it('v5 quotes fall back to the JS build, and the result says so', () => {
        for (const td15 of [false, true]) {
            const r = verifyQuote(ca.mintQuote({ version: 5, td15 }), good, opts());
            expect(r.error).toBeUndefined();
            expect(r.ok).toBe(true);
            expect(r.decidedBy).toEqual(['js']);
            expect(r.builds[0]).toMatchObject({ build: 'wasm', decided: false, reason: expect.stringMatching(/v5/) });
        }
    });

    it('zero padding after the quote is tolerated; any other trailing byte is not', () => {
        expect(verifyQuote(ca.mintQuote({ padding: 64 }), good, opts()).ok).toBe(true);
        const q = ca.mintQuote({ padding: 8 });
        q[q.length - 3] = 1;
        expectReject(q, good, /non-zero byte after the quote/);
    });
});

describe('minted quotes: bad signatures at each level', () => {
    it('quote signature by another key', () => {
        expectReject(ca.mintQuote({ quoteSigner: ca.strayKey.privateKey }), good, /quote signature is not valid/);
    });
    it('QE report signed by a key other than the PCK key', () => {
        expectReject(ca.mintQuote({ qeReportSigner: ca.strayKey.privateKey }), good, /QE report signature is not valid/);
    });
    it('PCK leaf certificate not signed by the PCK CA', () => {
        expectReject(ca.mintQuote({ pck: ca.issuePck({ badSignature: true }) }), good, /PCK certificate chain: bad signature on certificate 0/);
    });
    it('PCK chain from another root', () => {
        const other = new TestCa({ now: ca.now });
        expectReject(other.mintQuote(), good, /PCK certificate chain/);
    });
    it('TCB info signature', () => {
        expectReject(ca.mintQuote(), ca.collateral({ badTcbInfoSignature: true }), /TCB info: bad signature/);
    });
    it('QE identity signature', () => {
        expectReject(ca.mintQuote(), ca.collateral({ badQeIdentitySignature: true }), /QE identity: bad signature/);
    });
    it('root CA CRL signed by another key', () => {
        expectReject(ca.mintQuote(), ca.collateral({ rootCrl: ca.crl({ issuer: 'root', wrongKey: true }) }), /root CA CRL: bad CRL signature/);
    });
    it('PCK CRL signed by another key (the JS build alone accepts it: gap closed)', () => {
        const col = ca.collateral({ pckCrl: ca.crl({ issuer: 'pckCa', wrongKey: true }) });
        expectReject(ca.mintQuote(), col, /PCK CRL: bad CRL signature/);
        expect(rawBuilds(ca.mintQuote(), col)[1]).toMatchObject({ build: 'js', decided: true, ok: true });
    });
    it('PCK CRL from the wrong issuer (root CRL passed as PCK CRL)', () => {
        expectReject(ca.mintQuote(), ca.collateral({ pckCrl: ca.crl({ issuer: 'root' }) }), /PCK CRL: CRL issuer does not match/);
    });
});

describe('minted quotes: CRLs and revocation', () => {
    it('revoked PCK leaf', () => {
        const pck = ca.issuePck();
        const col = ca.collateral({ pckCrl: ca.crl({ issuer: 'pckCa', revoked: [pck.serial] }) });
        expectReject(ca.mintQuote({ pck }), col, new RegExp(`serial ${pck.serial} is revoked`));
        // The other leaf is still fine under that CRL.
        expect(verifyQuote(ca.mintQuote(), col, opts()).ok).toBe(true);
    });
    it('revoked PCK CA (listed in the root CRL)', () => {
        const col = ca.collateral({ rootCrl: ca.crl({ issuer: 'root', revoked: ['02'] }) });
        expectReject(ca.mintQuote(), col, /PCK CRL issuer chain: certificate with serial 02 is revoked/);
    });
    it('garbage CRLs reject (the JS build alone lets them pass: gap closed)', () => {
        const garbage = Buffer.from('this is not a CRL at all').toString('hex');
        for (const field of ['rootCrl', 'pckCrl'] as const) {
            const col = ca.collateral({ [field]: garbage });
            expectReject(ca.mintQuote(), col, /unparseable CRL/);
        }
        expect(rawBuilds(ca.mintQuote(), ca.collateral({ pckCrl: garbage }))[1]).toMatchObject({ build: 'js', ok: true });
    });
    it('truncated CRL', () => {
        const crl = ca.crl({ issuer: 'pckCa' });
        expectReject(ca.mintQuote(), ca.collateral({ pckCrl: crl.slice(0, crl.length - 20) }), /unparseable CRL/);
    });
    it('expired CRL and CRL not yet valid', () => {
        expectReject(ca.mintQuote(), ca.collateral({ pckCrl: ca.crl({ issuer: 'pckCa', thisUpdate: ca.now - 40 * 86400, nextUpdate: ca.now - 10 }) }), /PCK CRL: CRL has expired/);
        expectReject(ca.mintQuote(), ca.collateral({ rootCrl: ca.crl({ issuer: 'root', thisUpdate: ca.now + 100 }) }), /root CA CRL: CRL is not valid yet/);
    });
});

describe('minted quotes: collateral time window and age', () => {
    const iso = (t: number): string => new Date(t * 1000).toISOString().replace(/\.\d+Z$/, 'Z');
    it('before the TCB info issueDate (the WASM build alone accepts it: gap closed)', () => {
        const col = ca.collateral({ tcbInfo: { issueDate: iso(ca.now + 60) } });
        expectReject(ca.mintQuote(), col, /not valid yet: TCB info issueDate/);
        expect(rawBuilds(ca.mintQuote(), col)[0]).toMatchObject({ build: 'wasm', ok: true });
    });
    it('after the TCB info / QE identity nextUpdate', () => {
        expectReject(ca.mintQuote(), ca.collateral({ tcbInfo: { nextUpdate: iso(ca.now - 1) } }), /expired: TCB info nextUpdate/);
        expectReject(ca.mintQuote(), ca.collateral({ qeIdentity: { nextUpdate: iso(ca.now - 1) } }), /expired: QE identity nextUpdate/);
    });
    it('older than the policy allows', () => {
        const col = ca.collateral({ tcbInfo: { issueDate: iso(ca.now - 40 * 86400) } });
        expectReject(ca.mintQuote(), col, /collateral too old/);
        expect(verifyQuote(ca.mintQuote(), col, opts({ policy: { maxCollateralAgeSeconds: null } })).ok).toBe(true);
    });
    it('certificates outside their validity', () => {
        expectReject(ca.mintQuote({ pck: ca.issuePck({ notAfter: ca.now - 5 }) }), good, /PCK certificate chain: certificate 0 has expired/);
        expectReject(ca.mintQuote({ pck: ca.issuePck({ notBefore: ca.now + 5 }) }), good, /certificate 0 is not valid yet/);
    });
});

describe('minted quotes: TCB status allow-list and advisories', () => {
    it('SWHardeningNeeded is refused by default and accepted when allowed', () => {
        const q = ca.mintQuote({ tcb: 'SWHardeningNeeded' });
        const r = verifyQuote(q, good, opts());
        expect(r.ok).toBe(false);
        expect(r.tcbStatus).toBe('SWHardeningNeeded');
        expect(r.advisoryIds).toEqual(['INTEL-SA-00615']);
        const r2 = verifyQuote(q, good, opts({ policy: { acceptedTcbStatuses: ['UpToDate', 'SWHardeningNeeded'] } }));
        expect(r2.ok).toBe(true);
        expect(r2.decidedBy).toEqual(['wasm', 'js']);
    });
    it('refused advisory ids reject an allowed status', () => {
        expectReject(ca.mintQuote({ tcb: 'OutOfDate' }), good, /advisories refused by the policy: INTEL-SA-00837/, {
            policy: { acceptedTcbStatuses: ['OutOfDate'], refusedAdvisoryIds: ['INTEL-SA-00837'] },
        });
    });
    it('below every TCB level: the WASM build says "Unknown" without error; never accepted', () => {
        const q = ca.mintQuote({ tcb: 'BelowAll' });
        expect(rawBuilds(q, good)[0]).toMatchObject({ build: 'wasm', ok: true, status: 'Unknown' });
        const everything = { acceptedTcbStatuses: ['UpToDate', 'SWHardeningNeeded', 'ConfigurationNeeded', 'ConfigurationAndSWHardeningNeeded', 'OutOfDate', 'OutOfDateConfigurationNeeded'] } as const;
        expectReject(q, good, /wasm build: TCB status Unknown/, { policy: { acceptedTcbStatuses: [...everything.acceptedTcbStatuses] } });
    });
    it('the policy refuses unknown statuses, Revoked and unknown fields', () => {
        expect(() => makePolicy({ acceptedTcbStatuses: ['Unknown'] })).toThrow(/unknown TCB status/);
        expect(() => makePolicy({ acceptedTcbStatuses: ['Revoked'] })).toThrow(/never be accepted/);
        expect(() => makePolicy({ allowEverything: true })).toThrow(/unknown policy field/);
        expect(makePolicy({}).acceptedTcbStatuses).toEqual(['UpToDate']);
    });
});

describe('minted quotes: QE identity (the WASM build never checks it: gap closed)', () => {
    it('TDX quote with a QE identity whose id is not TD_QE', () => {
        const col = ca.collateral({ qeIdentity: { id: 'QE' } });
        expectReject(ca.mintQuote(), col, /QE identity id is "QE", expected "TD_QE"/);
        expect(rawBuilds(ca.mintQuote(), col)[0]).toMatchObject({ build: 'wasm', ok: true });
    });
    it('QE ISV SVN below every QE TCB level', () => {
        expectReject(ca.mintQuote({ qe: { isvSvn: 1 } }), good, /QE ISV SVN 1 is below every QE identity TCB level/);
    });
    it('an out-of-date QE makes the whole quote OutOfDate, whichever build decided', () => {
        const q = ca.mintQuote({ qe: { isvSvn: 3 } });
        const r = verifyQuote(q, good, opts());
        expect(r.ok).toBe(false);
        expect(r.tcbStatus).toBe('OutOfDate');
        expect(r.advisoryIds).toEqual(['INTEL-SA-00999']);
        expect(verifyQuote(q, good, opts({ policy: { acceptedTcbStatuses: ['OutOfDate'] } })).ok).toBe(true);
    });
    it('QE with another MRSIGNER, ISVPRODID or debug attributes', () => {
        expectReject(ca.mintQuote({ qe: { mrSigner: Buffer.alloc(32, 1) } }), good, /MRSIGNER does not match/);
        expectReject(ca.mintQuote({ qe: { isvProdId: 7 } }), good, /ISVPRODID 7 does not match/);
        const debugAttrs = Buffer.from('13000000000000000000000000000000', 'hex');
        expectReject(ca.mintQuote({ qe: { attributes: debugAttrs } }), good, /QE report ATTRIBUTES do not match/);
    });
});

describe('minted quotes: TD report and key binding', () => {
    it('debug TDs are refused', () => {
        expectReject(ca.mintQuote({ debug: true }), good, /debug TD refused/);
    });
    it('wrong REPORTDATA for the keys being attested', () => {
        const ed = Buffer.alloc(32, 1);
        const x = Buffer.alloc(32, 2);
        const q = ca.mintQuote({ reportData: reportDataForKeys(ed, Buffer.alloc(32, 3)) });
        expectReject(q, good, /REPORTDATA does not equal/, { expectedKeys: { ed25519: ed, x25519: x } });
        expect(verifyQuote(q, good, opts({ expectedKeys: { ed25519: ed, x25519: Buffer.alloc(32, 3) } })).ok).toBe(true);
    });
});

describe('malformed input', () => {
    const q = ca.mintQuote();
    it('truncated quotes', () => {
        for (const len of [0, 1, 47, 48, 600, 636, 700, q.length - 1]) {
            const r = verifyQuote(q.subarray(0, len), good, opts());
            expect(r.ok).toBe(false);
            expect(r.error).toMatch(/malformed quote/);
        }
    });
    it('garbage quote and garbage collateral', () => {
        expectReject(Buffer.from('hello world, definitely not a quote'), good, /malformed quote/);
        expectReject(q, 'not json', /collateral is not JSON/);
        expectReject(q, { ...good, tcb_info: 42 }, /tcb_info must be a string/);
        expectReject(q, { ...good, pck_crl: 'zz' }, /pck_crl must be hex/);
        expectReject(q, { ...good, tcb_info: '{"broken"' }, /TCB info: bad signature|not valid JSON/);
    });
    it('unsupported version / TEE type / key type', () => {
        const v = Buffer.from(q);
        v.writeUInt16LE(6, 0);
        expectReject(v, good, /unsupported quote version 6/);
        const k = Buffer.from(q);
        k.writeUInt16LE(3, 2);
        expectReject(k, good, /unsupported attestation key type 3/);
        const t = Buffer.from(q);
        t.writeUInt32LE(0, 4);
        expectReject(t, good, /quote v4 must be a TDX quote/);
    });
    it('a bad root certificate is refused', () => {
        const r = verifyQuote(q, good, opts({ rootCa: ca.pckCaDer }));
        expect(r.ok).toBe(false);
        expect(r.error).toMatch(/self-signed CA/);
    });
});

describe('build agreement', () => {
    const fields = { mrTd: 'aa', reportData: 'bb' };
    const ok = (build: 'wasm' | 'js', status: string, adv: string[] = [], f = fields): BuildVerdict => ({ build, decided: true, ok: true, status, advisoryIds: adv, fields: f });
    const qe = { status: 'UpToDate', advisoryIds: [] };
    it('agreeing builds give their status', () => {
        expect(combineVerdicts([ok('wasm', 'SWHardeningNeeded', ['A']), ok('js', 'SWHardeningNeeded', ['A'])], qe, fields)).toEqual({ status: 'SWHardeningNeeded', advisoryIds: ['A'] });
    });
    it('different statuses or advisories are a rejection with both answers', () => {
        expect(() => combineVerdicts([ok('wasm', 'UpToDate'), ok('js', 'OutOfDate')], qe, fields)).toThrow(/builds disagree: wasm says UpToDate \[\], js says OutOfDate/);
        expect(() => combineVerdicts([ok('wasm', 'UpToDate', ['X']), ok('js', 'UpToDate')], qe, fields)).toThrow(/builds disagree/);
    });
    it('one accepting, one rejecting is a rejection that names both', () => {
        expect(() => combineVerdicts([ok('wasm', 'UpToDate'), { build: 'js', decided: true, ok: false, error: 'boom' }], qe, fields)).toThrow(/builds disagree \(wasm accepted\): js build: boom/);
    });
    it('a build that decodes fields differently from our decoder is a rejection', () => {
        expect(() => combineVerdicts([ok('wasm', 'UpToDate', [], { mrTd: 'ab', reportData: 'bb' }), ok('js', 'UpToDate')], qe, fields)).toThrow(/wasm build decoded mrTd differently/);
    });
    it('no build able to decide is a rejection', () => {
        expect(() => combineVerdicts([{ build: 'wasm', decided: false, reason: 'r1' }, { build: 'js', decided: false, reason: 'r2' }], qe, fields)).toThrow(/no build could decide/);
    });
    it('the WASM build cannot take a root of another length', () => {
        expect(wasmRootSupport(Buffer.alloc(700), Buffer.alloc(659))).toMatch(/must be 659 bytes/);
        expect(wasmRootSupport(ca.rootDer, Buffer.alloc(659))).toBeUndefined();
    });
});
