/**
 * Loader of the WASM build of dcap-qvl (`@phala/dcap-qvl-web`), offline and synchronous.
 *
 * That package is an ES module whose wasm-bindgen glue fetches the .wasm by URL. Jest and
 * our CommonJS code cannot `import` it, so we read the installed glue's source, drop its
 * `export` keywords and evaluate it as a function body (`new Function`, so each call gets a
 * separate module instance), then instantiate the .wasm bytes from node_modules with the
 * glue's own `initSync`. Nothing is fetched.
 *
 * Trust anchor: `js_verify` has no root-certificate parameter; the Intel SGX Root CA (659
 * bytes of DER) is compiled into the module's data section. For another root of exactly the
 * same length (the test CA makes one), we load a copy of the module whose embedded root is
 * replaced by it. Any other root: the WASM build cannot decide, and says so.
 */
import { readFileSync } from 'fs';
import { createHash } from 'crypto';
import { INTEL_SGX_ROOT_CA_SHA256 } from './intel-root';

export interface WasmExports {
    js_verify(rawQuote: Uint8Array, collateral: unknown, now: bigint): unknown;
}

interface Glue {
    initSync(arg: { module: Uint8Array }): unknown;
    js_verify(rawQuote: Uint8Array, collateral: unknown, now: bigint): unknown;
}

const PKG = '@phala/dcap-qvl-web';
const ROOT_DER_LEN = 659;
let glueSource: string | undefined;
let wasmBytes: Buffer | undefined;
let intelRootOffset = -1;
const instances = new Map<string, WasmExports>();

function pkgFile(name: string): string {
    return require.resolve(`${PKG}/package.json`).replace(/package\.json$/, name);
}

function loadGlue(): Glue {
    if (glueSource === undefined) {
        const src = readFileSync(pkgFile('dcap-qvl-web.js'), 'utf8');
        const body = src
            .replace(/^export \{ initSync \};\s*$/m, '')
            .replace(/^export default __wbg_init;\s*$/m, '')
            .replace(/^export function /gm, 'function ')
            .replace(/import\.meta\.url/g, 'undefined');
        if (/^\s*(export|import)\s/m.test(body)) throw new Error(`${PKG}: unexpected module syntax in its glue code (version changed?)`);
        glueSource = `${body}\nreturn { initSync, js_verify };`;
    }
    // eslint-disable-next-line @typescript-eslint/no-implied-eval
    return new Function(glueSource)() as Glue;
}

function baseWasm(intelRootDer: Buffer): Buffer {
    if (wasmBytes === undefined) {
        wasmBytes = readFileSync(pkgFile('dcap-qvl-web_bg.wasm'));
        intelRootOffset = wasmBytes.indexOf(intelRootDer);
        if (intelRootOffset < 0 || wasmBytes.indexOf(intelRootDer, intelRootOffset + 1) >= 0) {
            intelRootOffset = -1; // not exactly one copy: custom roots cannot be patched in
        }
    }
    return wasmBytes;
}

/** Why the WASM build cannot decide for this root, or undefined when it can. */
export function wasmRootSupport(rootDer: Buffer, intelRootDer: Buffer): string | undefined {
    const sha = createHash('sha256').update(rootDer).digest('hex');
    if (sha === INTEL_SGX_ROOT_CA_SHA256) return undefined;
    if (rootDer.length !== ROOT_DER_LEN) return `the WASM build embeds its root; a custom root must be ${ROOT_DER_LEN} bytes of DER to be substituted (got ${rootDer.length})`;
    baseWasm(intelRootDer);
    if (intelRootOffset < 0) return 'the Intel root was not found once in the WASM module; custom roots are not supported';
    return undefined;
}

/** A WASM build instance that trusts `rootDer` (Intel's root, or a same-length substitute). */
export function wasmBuildFor(rootDer: Buffer, intelRootDer: Buffer): WasmExports {
    const key = createHash('sha256').update(rootDer).digest('hex');
    let inst = instances.get(key);
    if (inst) return inst;
    const why = wasmRootSupport(rootDer, intelRootDer);
    if (why) throw new Error(why);
    let bytes = baseWasm(intelRootDer);
    if (key !== INTEL_SGX_ROOT_CA_SHA256) {
        bytes = Buffer.from(bytes);
        rootDer.copy(bytes, intelRootOffset);
    }
    const glue = loadGlue();
    glue.initSync({ module: bytes });
    inst = { js_verify: (q, c, n) => glue.js_verify(q, c, n) };
    if (instances.size >= 4) instances.delete(instances.keys().next().value as string);
    instances.set(key, inst);
    return inst;
}
