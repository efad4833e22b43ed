/**
 * Web Crypto wherever the client runs: the global `crypto` (Node 19+, Deno, Bun, edge runtimes,
 * browsers), or on Node 18, where it is not global by default, `webcrypto` of node:crypto. The
 * module name is computed so that bundlers for edge runtimes do not try to resolve it.
 */
export declare function webCrypto(): Promise<Crypto>;
