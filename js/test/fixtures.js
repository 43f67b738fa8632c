// The test fixtures in one import.
export * from './helpers.js';
export { startProxy } from './proxy.js';
