/**
 * Off-chain signed payloads of the Cocoon network: the one module that builds, signs,
 * parses and checks every cell a contract verifies with `checkSignature`.
 *
 * Convention (TON): Ed25519 over the payload cell's representation hash (`cell.hash()`).
 * Every payload starts with its 32-bit op tag, names the contract that must accept it
 * (except work receipts, bound to a unique worker key, see docs/tlb/cocoon.tlb) and carries
 * a monotonic value or a valid-until. Layouts are documented in docs/tlb/cocoon.tlb; the
 * contracts parse the very same layouts (contracts/messages.tact, "Signed payloads").
 *
 * Used by wrappers, tests, scripts, the verifier (`attest`) and the reference worker / proxy.
 */
import { Address, beginCell, Builder, Cell, Dictionary, Slice } from '@ton/core';
import { KeyPair } from '@ton/crypto';
import { createPrivateKey, createPublicKey, KeyObject, sign as nodeSign, verify as nodeVerify } from 'crypto';

/** Op tags of signed payloads (first 32 bits of the payload cell). */
export const PayloadOp = {
    attestationCert: 0x43435254, // "CCRT"
    workReceipt: 0x43525054, // "CRPT"
    charge: 0x43434847, // "CCHG"
    payout: 0x43504159, // "CPAY"
    faultReport: 0x43464c54, // "CFLT"
    workerJoin: 0x434a4f4e, // "CJON" (off chain: a worker asks a proxy to route to it)
} as const;

/** Roles an attestation certificate may grant. */
export enum Role {
    Proxy = 1,
    Worker = 2,
}

/**
 * TCB statuses as the verifier reports them (Intel's names), with their on-chain codes.
 * Root accepts a certificate only if `1 << code` is set in its `tcbStatusMask` param.
 */
export const TcbStatusCode = {
    UpToDate: 0,
    SWHardeningNeeded: 1,
    ConfigurationNeeded: 2,
    ConfigurationAndSWHardeningNeeded: 3,
    OutOfDate: 4,
    OutOfDateConfigurationNeeded: 5,
    Revoked: 6,
} as const;
export type TcbStatusName = keyof typeof TcbStatusCode;

export function tcbStatusCode(name: string): number {
    if (!(name in TcbStatusCode)) throw new Error(`unknown TCB status "${name}"`);
    return TcbStatusCode[name as TcbStatusName];
}

export function tcbStatusName(code: number): TcbStatusName {
    const found = (Object.keys(TcbStatusCode) as TcbStatusName[]).find((k) => TcbStatusCode[k] === code);
    if (found === undefined) throw new Error(`unknown TCB status code ${code}`);
    return found;
}

// ---------------------------------------------------------------------------------------
// Keys and signatures
// ---------------------------------------------------------------------------------------

/** An Ed25519 key pair as @ton/crypto makes it (64-byte secret key, 32-byte public key). */
export type Ed25519KeyPair = KeyPair;

// DER prefixes of a raw Ed25519 private key (PKCS#8) and public key (SPKI), RFC 8410.
const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

/** The key pair of a 32-byte seed (RFC 8032), equal to @ton/crypto's `keyPairFromSeed`. */
export function ed25519FromSeed(seed: Buffer): Ed25519KeyPair {
    if (seed.length !== 32) throw new Error(`Ed25519 seed must be 32 bytes, got ${seed.length}`);
    const spki = createPublicKey(createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]), format: 'der', type: 'pkcs8' })).export({ format: 'der', type: 'spki' });
    const publicKey = Buffer.from(spki.subarray(SPKI_ED25519_PREFIX.length));
    return { publicKey, secretKey: Buffer.concat([seed, publicKey]) };
}

/** A 32-byte key as the unsigned 256-bit integer the contracts store. */
export function keyToBigInt(key: Buffer): bigint {
    if (key.length !== 32) throw new Error(`key must be 32 bytes, got ${key.length}`);
    return BigInt('0x' + key.toString('hex'));
}

export function bigIntToKey(value: bigint): Buffer {
    return Buffer.from(value.toString(16).padStart(64, '0'), 'hex');
}

// Ed25519 runs through node:crypto (OpenSSL): signatures are deterministic (RFC 8032), so
// they equal @ton/crypto's byte for byte, at a small fraction of tweetnacl's cost, which
// matters on the worker's and proxy's per-request path. Key objects are cached per key, at
// most KEY_CACHE_SIZE of each kind (the oldest goes first): a proxy verifies joins signed by
// keys anyone can make up, so an unbounded cache would grow with every stranger's join.
export const KEY_CACHE_SIZE = 1024;
const privateKeys = new Map<string, KeyObject>();
const publicKeys = new Map<string, KeyObject>();

function cachedKey(cache: Map<string, KeyObject>, id: string, make: () => KeyObject): KeyObject {
    let k = cache.get(id);
    if (!k) {
        k = make();
        if (cache.size >= KEY_CACHE_SIZE) cache.delete(cache.keys().next().value as string);
        cache.set(id, k);
    }
    return k;
}

/** How many key objects the caches hold (private, public): for tests and diagnostics. */
export function cachedKeyObjects(): { private: number; public: number } {
    return { private: privateKeys.size, public: publicKeys.size };
}

function privateKeyObject(secretKey: Buffer): KeyObject {
    // @ton/crypto secret keys are seed (32 bytes) ‖ public key (32 bytes).
    if (secretKey.length !== 64) throw new Error(`Ed25519 secret key must be 64 bytes, got ${secretKey.length}`);
    return cachedKey(privateKeys, secretKey.toString('hex'), () =>
        createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, secretKey.subarray(0, 32)]), format: 'der', type: 'pkcs8' }),
    );
}

function publicKeyObject(publicKey: Buffer): KeyObject {
    if (publicKey.length !== 32) throw new Error(`Ed25519 public key must be 32 bytes, got ${publicKey.length}`);
    return cachedKey(publicKeys, publicKey.toString('hex'), () => createPublicKey({ key: Buffer.concat([SPKI_ED25519_PREFIX, publicKey]), format: 'der', type: 'spki' }));
}

/** Ed25519 signature (64 bytes) over the cell's hash: the one signing function. */
export function signCell(cell: Cell, secretKey: Buffer): Buffer {
    return nodeSign(null, cell.hash(), privateKeyObject(secretKey));
}

export function verifyCellSignature(cell: Cell, signature: Buffer, publicKey: Buffer): boolean {
    return signature.length === 64 && nodeVerify(null, cell.hash(), publicKeyObject(publicKey), signature);
}

/** A payload cell with the signature over it: what a contract message carries. */
export interface SignedPayload {
    payload: Cell;
    signature: Buffer;
}

export function signPayload(payload: Cell, secretKey: Buffer): SignedPayload {
    return { payload, signature: signCell(payload, secretKey) };
}

/** Stores a 64-byte signature as 512 bits inline. */
export function storeSignature(signature: Buffer): (b: Builder) => void {
    if (signature.length !== 64) throw new Error(`signature must be 64 bytes, got ${signature.length}`);
    return (b) => b.storeBuffer(signature);
}

// ---------------------------------------------------------------------------------------
// Attestation certificate
// ---------------------------------------------------------------------------------------

export interface AttestationCert {
    /** The Root contract that must accept it (no replay across networks). */
    root: Address;
    role: Role;
    imageHash: Buffer; // 32 bytes
    ed25519Key: Buffer; // 32 bytes
    x25519Key: Buffer; // 32 bytes
    quoteHash: Buffer; // 32 bytes, SHA-256 of the raw quote
    tcbStatus: number; // TcbStatusCode
    validUntil: number; // unix seconds
}

function need32(name: string, b: Buffer): Buffer {
    if (b.length !== 32) throw new Error(`${name} must be 32 bytes, got ${b.length}`);
    return b;
}

/**
 * attestation_cert#43435254 root:MsgAddressInt role:uint8 image_hash:bits256
 *   ed25519_key:bits256 tcb_status:uint8 valid_until:uint32
 *   keys:^[x25519_key:bits256 quote_hash:bits256] = AttestationCert;
 */
export function buildAttestationCert(c: AttestationCert): Cell {
    const keys = beginCell()
        .storeBuffer(need32('x25519Key', c.x25519Key))
        .storeBuffer(need32('quoteHash', c.quoteHash))
        .endCell();
    return beginCell()
        .storeUint(PayloadOp.attestationCert, 32)
        .storeAddress(c.root)
        .storeUint(c.role, 8)
        .storeBuffer(need32('imageHash', c.imageHash))
        .storeBuffer(need32('ed25519Key', c.ed25519Key))
        .storeUint(c.tcbStatus, 8)
        .storeUint(c.validUntil, 32)
        .storeRef(keys)
        .endCell();
}

export function parseAttestationCert(cell: Cell): AttestationCert {
    const s = cell.beginParse();
    expectOp(s, PayloadOp.attestationCert, 'attestation certificate');
    const root = loadStdAddress(s);
    const role = s.loadUint(8) as Role;
    const imageHash = loadBytes(s, 32);
    const ed25519Key = loadBytes(s, 32);
    const tcbStatus = s.loadUint(8);
    const validUntil = s.loadUint(32);
    const k = s.loadRef().beginParse();
    return { root, role, imageHash, ed25519Key, x25519Key: loadBytes(k, 32), quoteHash: loadBytes(k, 32), tcbStatus, validUntil };
}

/** One attestor's signature over a certificate. */
export interface AttestorSignature {
    attestorKey: Buffer; // 32-byte Ed25519 public key
    signature: Buffer; // 64 bytes over the certificate cell's hash
}

export function signAttestationCert(cert: Cell, attestor: Ed25519KeyPair): AttestorSignature {
    return { attestorKey: attestor.publicKey, signature: signCell(cert, attestor.secretKey) };
}

/**
 * The signature list a registration carries:
 * sig_entry$_ attestor_key:bits256 signature:bits512 next:(Maybe ^SigEntry) = SigEntry;
 * Several attestors' signatures combine into one list (order does not matter).
 */
export function buildSignatureList(sigs: AttestorSignature[]): Cell {
    if (sigs.length === 0) throw new Error('a certificate needs at least one attestor signature');
    let next: Cell | null = null;
    for (let i = sigs.length - 1; i >= 0; i--) {
        const b: Builder = beginCell()
            .storeBuffer(need32('attestorKey', sigs[i].attestorKey))
            .store(storeSignature(sigs[i].signature))
            .storeMaybeRef(next);
        next = b.endCell();
    }
    return next as Cell;
}

export function parseSignatureList(cell: Cell): AttestorSignature[] {
    const out: AttestorSignature[] = [];
    let cur: Cell | null = cell;
    while (cur) {
        const s: Slice = cur.beginParse();
        out.push({ attestorKey: loadBytes(s, 32), signature: loadBytes(s, 64) });
        cur = s.loadMaybeRef();
    }
    return out;
}

/** A certificate with its signatures, as the verifier's `attest` prints it (one BOC). */
export interface SignedCertificate {
    cert: Cell;
    signatures: Cell;
}

/** certificate_bundle$_ cert:^AttestationCert sigs:^SigEntry = CertificateBundle; */
export function packCertificateBundle(b: SignedCertificate): Cell {
    return beginCell().storeRef(b.cert).storeRef(b.signatures).endCell();
}

export function unpackCertificateBundle(cell: Cell): SignedCertificate {
    const s = cell.beginParse();
    return { cert: s.loadRef(), signatures: s.loadRef() };
}

/** Adds more attestors' signatures to a bundle (k-of-n certificates from several attestors). */
export function combineCertificateSignatures(bundles: SignedCertificate[]): SignedCertificate {
    if (bundles.length === 0) throw new Error('nothing to combine');
    const cert = bundles[0].cert;
    const seen = new Map<string, AttestorSignature>();
    for (const b of bundles) {
        if (!b.cert.equals(cert)) throw new Error('cannot combine signatures over different certificates');
        for (const sig of parseSignatureList(b.signatures)) seen.set(sig.attestorKey.toString('hex'), sig);
    }
    return { cert, signatures: buildSignatureList([...seen.values()]) };
}

// ---------------------------------------------------------------------------------------
// Work receipt (signed by the worker's enclave key for every request)
// ---------------------------------------------------------------------------------------

export interface TokenCounts {
    prompt: bigint;
    cached: bigint;
    completion: bigint;
    reasoning: bigint;
}

export interface WorkReceipt {
    proxy: Address; // the Proxy contract the request came through
    requestId: bigint; // uint64, unique per proxy
    modelHash: Buffer; // 32 bytes, SHA-256 of the GGUF file
    tokens: TokenCounts; // uint32 each
    resultHash: Buffer; // 32 bytes, SHA-256 of the answer as sent
}

/**
 * work_receipt#43525054 proxy:MsgAddressInt request_id:uint64 model_hash:bits256
 *   prompt:uint32 cached:uint32 completion:uint32 reasoning:uint32 result_hash:bits256 = WorkReceipt;
 */
export function buildWorkReceipt(r: WorkReceipt): Cell {
    return beginCell()
        .storeUint(PayloadOp.workReceipt, 32)
        .storeAddress(r.proxy)
        .storeUint(r.requestId, 64)
        .storeBuffer(need32('modelHash', r.modelHash))
        .storeUint(r.tokens.prompt, 32)
        .storeUint(r.tokens.cached, 32)
        .storeUint(r.tokens.completion, 32)
        .storeUint(r.tokens.reasoning, 32)
        .storeBuffer(need32('resultHash', r.resultHash))
        .endCell();
}

export function parseWorkReceipt(cell: Cell): WorkReceipt {
    const s = cell.beginParse();
    expectOp(s, PayloadOp.workReceipt, 'work receipt');
    return {
        proxy: loadStdAddress(s),
        requestId: s.loadUintBig(64),
        modelHash: loadBytes(s, 32),
        tokens: {
            prompt: s.loadUintBig(32),
            cached: s.loadUintBig(32),
            completion: s.loadUintBig(32),
            reasoning: s.loadUintBig(32),
        },
        resultHash: loadBytes(s, 32),
    };
}

// ---------------------------------------------------------------------------------------
// Charge (proxy enclave → JobEscrow) and payout (proxy enclave → WorkerAccount)
// ---------------------------------------------------------------------------------------

export interface ChargePayload {
    escrow: Address; // the JobEscrow that must accept it
    tokens: TokenCounts; // cumulative, uint64 each
    validUntil: number;
}

/**
 * charge#43434847 escrow:MsgAddressInt prompt:uint64 cached:uint64 completion:uint64
 *   reasoning:uint64 valid_until:uint32 = ChargePayload;
 */
export function buildChargePayload(c: ChargePayload): Cell {
    return beginCell()
        .storeUint(PayloadOp.charge, 32)
        .storeAddress(c.escrow)
        .storeUint(c.tokens.prompt, 64)
        .storeUint(c.tokens.cached, 64)
        .storeUint(c.tokens.completion, 64)
        .storeUint(c.tokens.reasoning, 64)
        .storeUint(c.validUntil, 32)
        .endCell();
}

export function parseChargePayload(cell: Cell): ChargePayload {
    const s = cell.beginParse();
    expectOp(s, PayloadOp.charge, 'charge');
    return {
        escrow: loadStdAddress(s),
        tokens: { prompt: s.loadUintBig(64), cached: s.loadUintBig(64), completion: s.loadUintBig(64), reasoning: s.loadUintBig(64) },
        validUntil: s.loadUint(32),
    };
}

export interface PayoutPayload {
    workerAccount: Address; // the WorkerAccount that must accept it
    tokens: bigint; // cumulative tokens served through this proxy, uint64
    validUntil: number;
}

/** payout#43504159 worker_account:MsgAddressInt tokens:uint64 valid_until:uint32 = PayoutPayload; */
export function buildPayoutPayload(p: PayoutPayload): Cell {
    return beginCell()
        .storeUint(PayloadOp.payout, 32)
        .storeAddress(p.workerAccount)
        .storeUint(p.tokens, 64)
        .storeUint(p.validUntil, 32)
        .endCell();
}

export function parsePayoutPayload(cell: Cell): PayoutPayload {
    const s = cell.beginParse();
    expectOp(s, PayloadOp.payout, 'payout');
    return { workerAccount: loadStdAddress(s), tokens: s.loadUintBig(64), validUntil: s.loadUint(32) };
}

// ---------------------------------------------------------------------------------------
// Fault report (proxy enclave → Provider, routed Proxy → Root → Provider)
// ---------------------------------------------------------------------------------------

/**
 * Reason codes of fault reports (docs/provider.md, "Fault reasons"). The contracts carry the
 * code without interpreting it; each names a check of a work receipt that the worker's own
 * key signed (a receipt that does not verify proves nothing about the worker).
 */
export enum FaultReason {
    /** The receipt names another proxy or another request id than the one sent. */
    WrongRequest = 1,
    /** Its token counts differ from the usage the worker reported, are inconsistent, or no usage came. */
    WrongCounts = 2,
    /** It names a model the proxy does not allow for this worker. */
    ModelNotAllowed = 3,
    /** Its result hash is not the hash of the answer the worker sent. */
    ResultMismatch = 4,
}

export function faultReasonName(code: number): string {
    return FaultReason[code] ?? `unknown (${code})`;
}

export interface FaultReport {
    provider: Address; // the Provider contract that must accept it
    proxy: Address; // the reporting Proxy contract
    reportId: bigint; // uint64, monotonic per (proxy, provider)
    reason: number; // uint8, FaultReason (docs/provider.md)
    requestId: bigint; // uint64
    validUntil: number;
}

/**
 * fault_report#43464c54 provider:MsgAddressInt proxy:MsgAddressInt report_id:uint64
 *   reason:uint8 request_id:uint64 valid_until:uint32 = FaultReport;
 */
export function buildFaultReport(f: FaultReport): Cell {
    return beginCell()
        .storeUint(PayloadOp.faultReport, 32)
        .storeAddress(f.provider)
        .storeAddress(f.proxy)
        .storeUint(f.reportId, 64)
        .storeUint(f.reason, 8)
        .storeUint(f.requestId, 64)
        .storeUint(f.validUntil, 32)
        .endCell();
}

export function parseFaultReport(cell: Cell): FaultReport {
    const s = cell.beginParse();
    expectOp(s, PayloadOp.faultReport, 'fault report');
    return {
        provider: loadStdAddress(s),
        proxy: loadStdAddress(s),
        reportId: s.loadUintBig(64),
        reason: s.loadUint(8),
        requestId: s.loadUintBig(64),
        validUntil: s.loadUint(32),
    };
}

// ---------------------------------------------------------------------------------------
// Worker join (worker enclave → proxy, off chain)
// ---------------------------------------------------------------------------------------

/** Most models one join names (as a Provider lists at most 16). */
export const MAX_JOIN_MODELS = 16;

/**
 * A worker asks a proxy to route requests to it: signed by the worker's enclave key; the proxy
 * checks on chain that the key is an eligible Provider's serving those models.
 */
export interface WorkerJoin {
    proxy: Address; // the Proxy contract the worker joins
    ed25519Key: Buffer;
    x25519Key: Buffer;
    issuedAt: number; // unix seconds; a proxy takes only fresh ones, each newer than the last
    endpoint: string; // https://host:port the proxy reaches the worker at (mutual TLS)
    models: Buffer[]; // SHA-256 of each GGUF served, 1..MAX_JOIN_MODELS
}

const modelKeys = () => Dictionary.Keys.BigUint(256);

export function buildWorkerJoin(j: WorkerJoin): Cell {
    if (j.models.length < 1 || j.models.length > MAX_JOIN_MODELS) throw new Error(`a join names 1 to ${MAX_JOIN_MODELS} models, got ${j.models.length}`);
    const models = Dictionary.empty(modelKeys(), Dictionary.Values.Bool());
    for (const m of j.models) models.set(keyToBigInt(need32('model hash', m)), true);
    return beginCell()
        .storeUint(PayloadOp.workerJoin, 32)
        .storeAddress(j.proxy)
        .storeBuffer(need32('ed25519Key', j.ed25519Key))
        .storeBuffer(need32('x25519Key', j.x25519Key))
        .storeUint(j.issuedAt, 32)
        .storeRef(beginCell().storeStringTail(j.endpoint).endCell())
        .storeDict(models)
        .endCell();
}

export function parseWorkerJoin(cell: Cell): WorkerJoin {
    const s = cell.beginParse();
    expectOp(s, PayloadOp.workerJoin, 'worker join');
    const proxy = loadStdAddress(s);
    const ed25519Key = loadBytes(s, 32);
    const x25519Key = loadBytes(s, 32);
    const issuedAt = s.loadUint(32);
    const endpoint = s.loadRef().beginParse().loadStringTail();
    const models = [...s.loadDict(modelKeys(), Dictionary.Values.Bool()).keys()].map(bigIntToKey);
    if (models.length < 1 || models.length > MAX_JOIN_MODELS) throw new Error(`a join names 1 to ${MAX_JOIN_MODELS} models, got ${models.length}`);
    return { proxy, ed25519Key, x25519Key, issuedAt, endpoint, models };
}

// Payload fields after an address start off a byte boundary, where @ton/core's Slice reads
// bytes bit by bit through BigInt arithmetic (a receipt's 64 hash bytes and its address: ~60 µs
// and ~35 KB of garbage per receipt, on the proxy's per-request path). These read the same
// bits as plain numbers.

/** `n` bytes from the slice, as `s.loadBuffer(n)` reads them. */
export function loadBytes(s: Slice, n: number): Buffer {
    const bits = s.loadBits(n * 8);
    const aligned = bits.subbuffer(0, n * 8);
    if (aligned) return Buffer.from(aligned);
    const out = Buffer.alloc(n);
    for (let i = 0; i < n * 8; i++) if (bits.at(i)) out[i >> 3] |= 0x80 >> (i & 7);
    return out;
}

/** An internal address as `s.loadAddress()` reads it (addr_std$10 without anycast here; anything else is left to @ton/core). */
export function loadStdAddress(s: Slice): Address {
    if (s.remainingBits < 267 || s.preloadUint(3) !== 0b100) return s.loadAddress();
    s.skip(3);
    const workchain = s.loadInt(8);
    return new Address(workchain, loadBytes(s, 32));
}

function expectOp(s: Slice, op: number, what: string): void {
    const got = s.loadUint(32);
    if (got !== op) throw new Error(`not a ${what}: op 0x${got.toString(16)} instead of 0x${op.toString(16)}`);
}
