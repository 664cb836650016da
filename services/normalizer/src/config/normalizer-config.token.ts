export const NORMALIZER_CONFIG = Symbol('NORMALIZER_CONFIG');
export type { NormalizerConfig } from './normalizer.config.js';
