#!/usr/bin/env node
// Launcher: the sources are TypeScript that Node strips itself (Node >= 22.18); say so plainly on an older Node.
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 19)) {
  process.stderr.write(`ecr-tenant-webhook needs Node.js >= 22.19 (24 LTS recommended); this is ${process.version}.\n` +
    'Run it through npm (npx ecr-tenant-webhook, npm run ...) so the Node 24 from devDependencies is used.\n');
  process.exit(2);
}
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
