// Test tiers live in the file name: *.unit.spec.ts, *.int.spec.ts, *.e2e.spec.ts.
const fs = require('node:fs');
const swcConfig = JSON.parse(fs.readFileSync(`${__dirname}/.swcrc`, 'utf8'));
delete swcConfig.jsc.baseUrl;
delete swcConfig.jsc.paths;

/** @type {import('jest').Config} */
module.exports = {
  rootDir: __dirname,
  testEnvironment: 'node',
  roots: ['<rootDir>/apps', '<rootDir>/libs', '<rootDir>/projections', '<rootDir>/test'],
  testRegex: '\\.(unit|int|e2e)\\.spec\\.ts$',
  transform: { '^.+\\.ts$': ['@swc/jest', { ...swcConfig, swcrc: false }] },
  moduleNameMapper: {
    '^@libs/credits$': '<rootDir>/libs/credits/src',
    '^@libs/event-store$': '<rootDir>/libs/event-store/src',
    '^@libs/config$': '<rootDir>/libs/config/src',
    '^@libs/http$': '<rootDir>/libs/http/src',
    '^@libs/stripe$': '<rootDir>/libs/stripe/src',
    '^@libs/webhooks$': '<rootDir>/libs/webhooks/src',
    '^@projections$': '<rootDir>/projections',
  },
  testTimeout: 60000,
  globalSetup: '<rootDir>/test/support/build-for-child-processes.js',
};
