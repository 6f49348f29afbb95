// `npm run demo`: judges the example workloads against the example policy and explains the outcome.
import { main } from '../src/cli/main.ts';

const say = (text: string): void => {
  process.stdout.write(`\n== ${text}\n`);
};

say('check examples/workloads.yaml against examples/policy.yaml');
const code = await main(['check', '--policy', 'examples/policy.yaml', 'examples/workloads.yaml']);
say(
  code === 1
    ? 'check exited 1: debug-shell is denied (paymentsevil/* is not granted), as the example intends. ' +
        'checkout is rewritten to the granted registry and gets its pull secret; migrate, in the dry-run namespace, ' +
        'only warns; web, in an unlabelled namespace, is untouched.'
    : `unexpected: check exited ${code}`,
);
process.exitCode = code === 1 ? 0 : 1;
