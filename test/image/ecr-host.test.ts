import t from 'tap';
import { isEcrPrivateHost, parseEcrHost, type EcrRegistry } from '../../src/image/ecr-host.ts';

const ACCOUNT = '111111111111';

interface Case {
  name: string;
  host: string;
  want: EcrRegistry | undefined;
}

const cases: Case[] = [
  // Accepted forms
  {
    name: 'a standard private ECR host is parsed into account and region in the aws partition',
    host: `${ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com`,
    want: { host: `${ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com`, account: ACCOUNT, region: 'eu-west-1', partition: 'aws', fips: false, dualStack: false },
  },
  {
    name: 'a region with a two-part name and a two-digit number is accepted',
    host: `${ACCOUNT}.dkr.ecr.ap-southeast-12.amazonaws.com`,
    want: { host: `${ACCOUNT}.dkr.ecr.ap-southeast-12.amazonaws.com`, account: ACCOUNT, region: 'ap-southeast-12', partition: 'aws', fips: false, dualStack: false },
  },
  {
    name: 'a China host on .amazonaws.com.cn with a cn- region is in the aws-cn partition',
    host: `${ACCOUNT}.dkr.ecr.cn-north-1.amazonaws.com.cn`,
    want: { host: `${ACCOUNT}.dkr.ecr.cn-north-1.amazonaws.com.cn`, account: ACCOUNT, region: 'cn-north-1', partition: 'aws-cn', fips: false, dualStack: false },
  },
  {
    name: 'the other China region is in the aws-cn partition too',
    host: `${ACCOUNT}.dkr.ecr.cn-northwest-1.amazonaws.com.cn`,
    want: { host: `${ACCOUNT}.dkr.ecr.cn-northwest-1.amazonaws.com.cn`, account: ACCOUNT, region: 'cn-northwest-1', partition: 'aws-cn', fips: false, dualStack: false },
  },
  {
    name: 'a dkr.ecr-fips host is a FIPS endpoint',
    host: `${ACCOUNT}.dkr.ecr-fips.us-east-1.amazonaws.com`,
    want: { host: `${ACCOUNT}.dkr.ecr-fips.us-east-1.amazonaws.com`, account: ACCOUNT, region: 'us-east-1', partition: 'aws', fips: true, dualStack: false },
  },
  {
    name: 'a us-gov region is in the aws-us-gov partition',
    host: `${ACCOUNT}.dkr.ecr.us-gov-west-1.amazonaws.com`,
    want: { host: `${ACCOUNT}.dkr.ecr.us-gov-west-1.amazonaws.com`, account: ACCOUNT, region: 'us-gov-west-1', partition: 'aws-us-gov', fips: false, dualStack: false },
  },
  {
    name: 'a FIPS endpoint in a us-gov region is in the aws-us-gov partition',
    host: `${ACCOUNT}.dkr.ecr-fips.us-gov-east-1.amazonaws.com`,
    want: { host: `${ACCOUNT}.dkr.ecr-fips.us-gov-east-1.amazonaws.com`, account: ACCOUNT, region: 'us-gov-east-1', partition: 'aws-us-gov', fips: true, dualStack: false },
  },
  {
    name: 'a dual-stack ACCOUNT.dkr-ecr.REGION.on.aws host is dual-stack and not FIPS',
    host: `${ACCOUNT}.dkr-ecr.eu-west-1.on.aws`,
    want: { host: `${ACCOUNT}.dkr-ecr.eu-west-1.on.aws`, account: ACCOUNT, region: 'eu-west-1', partition: 'aws', fips: false, dualStack: true },
  },
  {
    name: 'a dual-stack dkr-ecr-fips host is both dual-stack and FIPS',
    host: `${ACCOUNT}.dkr-ecr-fips.us-east-2.on.aws`,
    want: { host: `${ACCOUNT}.dkr-ecr-fips.us-east-2.on.aws`, account: ACCOUNT, region: 'us-east-2', partition: 'aws', fips: true, dualStack: true },
  },
  {
    name: 'a dual-stack FIPS host in a us-gov region is in the aws-us-gov partition',
    host: `${ACCOUNT}.dkr-ecr-fips.us-gov-west-1.on.aws`,
    want: { host: `${ACCOUNT}.dkr-ecr-fips.us-gov-west-1.on.aws`, account: ACCOUNT, region: 'us-gov-west-1', partition: 'aws-us-gov', fips: true, dualStack: true },
  },
  {
    name: 'a China dual-stack host on .on.amazonwebservices.com.cn is dual-stack in aws-cn',
    host: `${ACCOUNT}.dkr-ecr.cn-north-1.on.amazonwebservices.com.cn`,
    want: { host: `${ACCOUNT}.dkr-ecr.cn-north-1.on.amazonwebservices.com.cn`, account: ACCOUNT, region: 'cn-north-1', partition: 'aws-cn', fips: false, dualStack: true },
  },
  {
    name: 'an upper-case host is normalised to lower case',
    host: `${ACCOUNT}.DKR.ECR.EU-WEST-1.AMAZONAWS.COM`,
    want: { host: `${ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com`, account: ACCOUNT, region: 'eu-west-1', partition: 'aws', fips: false, dualStack: false },
  },
  {
    name: 'a mixed-case dual-stack host is normalised and still seen as dual-stack',
    host: `${ACCOUNT}.Dkr-Ecr.US-East-1.On.Aws`,
    want: { host: `${ACCOUNT}.dkr-ecr.us-east-1.on.aws`, account: ACCOUNT, region: 'us-east-1', partition: 'aws', fips: false, dualStack: true },
  },
  {
    name: 'an account of leading zeros is kept as written',
    host: '000000000001.dkr.ecr.us-west-2.amazonaws.com',
    want: { host: '000000000001.dkr.ecr.us-west-2.amazonaws.com', account: '000000000001', region: 'us-west-2', partition: 'aws', fips: false, dualStack: false },
  },

  // Partition mismatches
  { name: 'a .amazonaws.com.cn host with a non-China region is not a real endpoint', host: `${ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com.cn`, want: undefined },
  { name: 'a .amazonaws.com host with a cn- region is not a real endpoint', host: `${ACCOUNT}.dkr.ecr.cn-north-1.amazonaws.com`, want: undefined },
  { name: 'a dual-stack .on.aws host with a cn- region is not a real endpoint', host: `${ACCOUNT}.dkr-ecr.cn-north-1.on.aws`, want: undefined },
  { name: 'a China dual-stack host with a non-China region is not a real endpoint', host: `${ACCOUNT}.dkr-ecr.us-east-1.on.amazonwebservices.com.cn`, want: undefined },
  { name: 'the China dual-stack domain without .cn is not an ECR host', host: `${ACCOUNT}.dkr-ecr.cn-north-1.on.amazonwebservices.com`, want: undefined },
  { name: 'there is no FIPS form of the China dual-stack host', host: `${ACCOUNT}.dkr-ecr-fips.cn-north-1.on.amazonwebservices.com.cn`, want: undefined },

  // Accounts
  { name: 'an 11-digit account is refused', host: '11111111111.dkr.ecr.us-east-1.amazonaws.com', want: undefined },
  { name: 'a 13-digit account is refused', host: '1111111111111.dkr.ecr.us-east-1.amazonaws.com', want: undefined },
  { name: 'an account with a letter is refused', host: '11111111111a.dkr.ecr.us-east-1.amazonaws.com', want: undefined },
  { name: 'an account written with fullwidth digits is refused', host: '\uff11'.repeat(12) + '.dkr.ecr.us-east-1.amazonaws.com', want: undefined },

  // Not ECR, or a look-alike
  { name: 'ECR Public is not a private registry', host: 'public.ecr.aws', want: undefined },
  { name: 'Docker Hub is not a private ECR registry', host: 'docker.io', want: undefined },
  { name: 'an empty host is not an ECR registry', host: '', want: undefined },
  { name: 'a look-alike with a suffix after amazonaws.com is refused', host: `${ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com.evil.io`, want: undefined },
  { name: 'a look-alike with a suffix after amazonaws.com.cn is refused', host: `${ACCOUNT}.dkr.ecr.cn-north-1.amazonaws.com.cn.evil.io`, want: undefined },
  { name: 'a look-alike with a suffix after on.aws is refused', host: `${ACCOUNT}.dkr-ecr.us-east-1.on.aws.evil.io`, want: undefined },
  { name: 'a look-alike with a prefix before the account is refused', host: `evil.io.${ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com`, want: undefined },
  { name: 'a look-alike whose dots are other characters is refused', host: `${ACCOUNT}xdkrxecrxus-east-1xamazonawsxcom`, want: undefined },
  { name: 'a look-alike with a longer top-level domain is refused', host: `${ACCOUNT}.dkr.ecr.us-east-1.amazonaws.community`, want: undefined },
  { name: 'a host with a trailing dot is refused', host: `${ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com.`, want: undefined },
  { name: 'a host with a port is refused, since only the host name is parsed', host: `${ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com:443`, want: undefined },
  { name: 'a host with surrounding spaces is refused', host: ` ${ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com `, want: undefined },
  { name: 'the dkr.ecr label on the dual-stack domain is refused', host: `${ACCOUNT}.dkr.ecr.us-east-1.on.aws`, want: undefined },
  { name: 'the dkr-ecr label on the amazonaws.com domain is refused', host: `${ACCOUNT}.dkr-ecr.us-east-1.amazonaws.com`, want: undefined },
  { name: 'the ECR API endpoint is not a registry host', host: 'api.ecr.us-east-1.amazonaws.com', want: undefined },
  { name: 'a region without its number is refused', host: `${ACCOUNT}.dkr.ecr.us-east.amazonaws.com`, want: undefined },
  { name: 'a region with a three-digit number is refused', host: `${ACCOUNT}.dkr.ecr.us-east-100.amazonaws.com`, want: undefined },
  { name: 'a region without hyphens is refused', host: `${ACCOUNT}.dkr.ecr.useast1.amazonaws.com`, want: undefined },
];

for (const c of cases) {
  t.test(c.name, async (t) => {
    t.strictSame(parseEcrHost(c.host), c.want);
    t.equal(isEcrPrivateHost(c.host), c.want !== undefined, 'isEcrPrivateHost agrees');
  });
}
