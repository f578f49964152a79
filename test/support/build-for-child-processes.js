// Jest global setup: compiles the apps once, so suites can start real
// processes (`node dist/apps/...`) rather than in-process imitations.
const { execSync } = require('node:child_process');

module.exports = async function buildForChildProcesses() {
  execSync('npm run build --silent', { cwd: `${__dirname}/../..`, stdio: 'inherit' });
};
