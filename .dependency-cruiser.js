/**
 * The layering rules of docs/architecture.md ("Layering"), checked on every `npm test`.
 * @type {import('dependency-cruiser').IConfiguration}
 */
module.exports = {
  forbidden: [
    {
      name: 'domain-is-pure',
      comment: 'libs/credits is the pure domain: no framework, no database driver, no store client.',
      severity: 'error',
      from: { path: '^libs/credits/' },
      to: {
        path: [
          '^libs/(event-store|config)/',
          '^apps/',
          '^projections/',
          'node_modules/(@nestjs|pg|pg-pool|@electric-sql|@kurrent|@eventstore|stripe|express)/',
        ],
      },
    },
    {
      name: 'stripe-mapping-is-pure',
      comment:
        'libs/stripe maps Stripe events to their meaning with its own narrow types: no framework, store, config or ' +
        'Stripe client. Its specs may use the real stripe package, to check that the test payloads verify as Stripe signs them.',
      severity: 'error',
      from: { path: '^libs/stripe/', pathNot: '[.]spec[.]ts$' },
      to: {
        path: [
          '^libs/(event-store|config)/',
          '^apps/',
          '^projections/',
          'node_modules/(@nestjs|pg|pg-pool|@electric-sql|stripe|express)/',
        ],
      },
    },
    {
      name: 'kurrentdb-client-only-in-its-adapter',
      comment:
        'Only the KurrentDB adapter (and tests) may import @kurrent: openEventStore loads it lazily, so deployments ' +
        'on PostgreSQL or PGlite never load the client and its native module.',
      severity: 'error',
      from: { pathNot: ['^libs/event-store/src/kurrentdb/', '[.]spec[.]ts$'] },
      to: { path: 'node_modules/@kurrent/' },
    },
    {
      name: 'apps-are-independent',
      comment: 'A runnable app never imports another: shared code lives in libs/.',
      severity: 'error',
      from: { path: '^apps/([^/]+)/' },
      to: { path: '^apps/([^/]+)/', pathNot: '^apps/$1/' },
    },
    {
      name: 'projections-do-not-import-apps',
      severity: 'error',
      from: { path: '^projections/' },
      to: { path: '^apps/' },
    },
    {
      name: 'libs-do-not-import-apps',
      severity: 'error',
      from: { path: '^libs/' },
      to: { path: '^(apps|projections)/' },
    },
    {
      name: 'no-circular',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'not-to-unresolvable',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
    // Packages such as csv-stringify expose subpaths (`csv-stringify/sync`) only through package.json `exports`.
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['require', 'node', 'default'] },
    // Build output, not node_modules packages that ship from a dist/ folder (@kurrent/kurrentdb-client does).
    exclude: { path: '^dist/' },
  },
};
