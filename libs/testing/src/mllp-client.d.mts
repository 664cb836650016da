// Types for mllp-client.mjs.
export declare function normalizeHl7(text: string): string;
export declare function frameMllp(message: string): Buffer;
export declare function ackCode(ack: string): string | undefined;
/** Sends one HL7 message over MLLP and resolves with the ACK (segments separated by \r). */
export declare function sendMllp(opts: { host?: string; port: number; message: string; timeoutMs?: number }): Promise<string>;
