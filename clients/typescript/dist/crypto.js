/**
 * Web Crypto wherever the client runs: the global `crypto` (Node 19+, Deno, Bun, edge runtimes,
 * browsers), or on Node 18, where it is not global by default, `webcrypto` of node:crypto. The
 * module name is computed so that bundlers for edge runtimes do not try to resolve it.
 */
export async function webCrypto() {
    if (globalThis.crypto?.subtle && typeof globalThis.crypto.randomUUID === "function") {
        return globalThis.crypto;
    }
    const specifier = ["node", "crypto"].join(":");
    try {
        const module = (await import(/* webpackIgnore: true */ /* @vite-ignore */ specifier));
        if (module.webcrypto?.subtle)
            return module.webcrypto;
    }
    catch {
        // not Node: fall through
    }
    throw new Error("Web Crypto (crypto.subtle, crypto.randomUUID) is not available in this runtime");
}
