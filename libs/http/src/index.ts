export * from './health/readiness-checks';
export * from './http-conventions.module';
export * from './json-body';
export * from './metrics/metrics-registry';
export * from './problems/problem-details';
export * from './public-route';
export * from './storable-strings';
