import t from 'tap';
import { isEcrPrivateHost, parseEcrHost } from '../../src/image/ecr-host.ts';

t.test('a standard private ECR host is parsed into account and region', async (t) => {
  t.match(parseEcrHost('111111111111.dkr.ecr.eu-west-1.amazonaws.com'), { account: '111111111111', region: 'eu-west-1', partition: 'aws', fips: false, dualStack: false });
});

t.test('ECR Public is not a private registry', async (t) => {
  t.equal(isEcrPrivateHost('public.ecr.aws'), false);
});
