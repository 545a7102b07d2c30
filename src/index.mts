// ESM entry: re-exports the CommonJS build, so `import` and `require` share one native
// instance and one state (two copies would be a hole, not just a dual-package nuisance).
export * from './index.js'
