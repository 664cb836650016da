// Types for processes.mjs (plain JS so tools/mesh runs it without a build).
export declare const INSTALL_HINT: string;
export declare function findNatsServer(): string | undefined;
export declare function findPgBin(): string | undefined;
export declare function isRoot(): boolean;
/** A free TCP port on host (default 127.0.0.1), chosen by the kernel. */
export declare function freePort(host?: string): Promise<number>;
export declare function isPortFree(port: number, host?: string): Promise<boolean>;
export declare function pickPort(preferred: number | undefined, host?: string): Promise<number>;
export declare function pidAlive(pid: number): boolean;
export declare function pidMatches(pid: number, needle: string): boolean;
export declare class GiveUpError extends Error {}
export declare function waitFor<T>(
  probe: () => T | Promise<T>,
  opts?: { timeoutMs?: number; intervalMs?: number; what?: string },
): Promise<T>;
export declare function stopPid(
  pid: number,
  opts?: { signal?: NodeJS.Signals; timeoutMs?: number; group?: boolean },
): Promise<void>;
export declare function killProcessesMentioning(needle: string): void;
export declare function userIds(name: string): { uid: number; gid: number };
export declare function tailFile(file: string, n?: number): string;
