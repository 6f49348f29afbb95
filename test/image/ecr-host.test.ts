import t from 'tap';
import { classifyRegistryHost, ECR_PARTITIONS, isEcrPrivateHost, looksLikeEcrHost, parseEcrHost, type EcrPartition, type EcrRegistry } from '../../src/image/ecr-host.ts';

const ACCOUNT = '111111111111';

/** What parseEcrHost gives for a lower-case host of a known form. */
function ecr(host: string, region: string, partition: EcrPartition, fips = false, dualStack = false): EcrRegistry {
  return { host, account: ACCOUNT, region, partition, fips, dualStack };
}

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

  // The ISO partitions and the European Sovereign Cloud, each only under its own domain
  { name: 'an aws-iso registry is under c2s.ic.gov', host: `${ACCOUNT}.dkr.ecr.us-iso-east-1.c2s.ic.gov`, want: ecr(`${ACCOUNT}.dkr.ecr.us-iso-east-1.c2s.ic.gov`, 'us-iso-east-1', 'aws-iso') },
  { name: 'the other aws-iso region is under c2s.ic.gov too', host: `${ACCOUNT}.dkr.ecr.us-iso-west-1.c2s.ic.gov`, want: ecr(`${ACCOUNT}.dkr.ecr.us-iso-west-1.c2s.ic.gov`, 'us-iso-west-1', 'aws-iso') },
  { name: 'an aws-iso FIPS registry is dkr.ecr-fips under c2s.ic.gov', host: `${ACCOUNT}.dkr.ecr-fips.us-iso-east-1.c2s.ic.gov`, want: ecr(`${ACCOUNT}.dkr.ecr-fips.us-iso-east-1.c2s.ic.gov`, 'us-iso-east-1', 'aws-iso', true) },
  { name: 'an aws-iso dual-stack registry is dkr-ecr under on.aws.ic.gov', host: `${ACCOUNT}.dkr-ecr.us-iso-west-1.on.aws.ic.gov`, want: ecr(`${ACCOUNT}.dkr-ecr.us-iso-west-1.on.aws.ic.gov`, 'us-iso-west-1', 'aws-iso', false, true) },
  { name: 'an aws-iso-b registry is under sc2s.sgov.gov', host: `${ACCOUNT}.dkr.ecr.us-isob-east-1.sc2s.sgov.gov`, want: ecr(`${ACCOUNT}.dkr.ecr.us-isob-east-1.sc2s.sgov.gov`, 'us-isob-east-1', 'aws-iso-b') },
  { name: 'an aws-iso-b FIPS registry is dkr.ecr-fips under sc2s.sgov.gov', host: `${ACCOUNT}.dkr.ecr-fips.us-isob-east-1.sc2s.sgov.gov`, want: ecr(`${ACCOUNT}.dkr.ecr-fips.us-isob-east-1.sc2s.sgov.gov`, 'us-isob-east-1', 'aws-iso-b', true) },
  { name: 'an aws-iso-b dual-stack registry is dkr-ecr under on.aws.scloud', host: `${ACCOUNT}.dkr-ecr.us-isob-east-1.on.aws.scloud`, want: ecr(`${ACCOUNT}.dkr-ecr.us-isob-east-1.on.aws.scloud`, 'us-isob-east-1', 'aws-iso-b', false, true) },
  { name: 'an aws-iso-e registry is under cloud.adc-e.uk', host: `${ACCOUNT}.dkr.ecr.eu-isoe-west-1.cloud.adc-e.uk`, want: ecr(`${ACCOUNT}.dkr.ecr.eu-isoe-west-1.cloud.adc-e.uk`, 'eu-isoe-west-1', 'aws-iso-e') },
  { name: 'an aws-iso-e FIPS registry is dkr.ecr-fips under cloud.adc-e.uk', host: `${ACCOUNT}.dkr.ecr-fips.eu-isoe-west-1.cloud.adc-e.uk`, want: ecr(`${ACCOUNT}.dkr.ecr-fips.eu-isoe-west-1.cloud.adc-e.uk`, 'eu-isoe-west-1', 'aws-iso-e', true) },
  { name: 'an aws-iso-e dual-stack registry is dkr-ecr under on.cloud-aws.adc-e.uk', host: `${ACCOUNT}.dkr-ecr.eu-isoe-west-1.on.cloud-aws.adc-e.uk`, want: ecr(`${ACCOUNT}.dkr-ecr.eu-isoe-west-1.on.cloud-aws.adc-e.uk`, 'eu-isoe-west-1', 'aws-iso-e', false, true) },
  { name: 'an aws-iso-f registry is under csp.hci.ic.gov', host: `${ACCOUNT}.dkr.ecr.us-isof-south-1.csp.hci.ic.gov`, want: ecr(`${ACCOUNT}.dkr.ecr.us-isof-south-1.csp.hci.ic.gov`, 'us-isof-south-1', 'aws-iso-f') },
  { name: 'the other aws-iso-f region is under csp.hci.ic.gov too', host: `${ACCOUNT}.dkr.ecr.us-isof-east-1.csp.hci.ic.gov`, want: ecr(`${ACCOUNT}.dkr.ecr.us-isof-east-1.csp.hci.ic.gov`, 'us-isof-east-1', 'aws-iso-f') },
  { name: 'an aws-iso-f FIPS registry is dkr.ecr-fips under csp.hci.ic.gov', host: `${ACCOUNT}.dkr.ecr-fips.us-isof-south-1.csp.hci.ic.gov`, want: ecr(`${ACCOUNT}.dkr.ecr-fips.us-isof-south-1.csp.hci.ic.gov`, 'us-isof-south-1', 'aws-iso-f', true) },
  { name: 'an aws-iso-f dual-stack registry is dkr-ecr under on.aws.hci.ic.gov', host: `${ACCOUNT}.dkr-ecr.us-isof-south-1.on.aws.hci.ic.gov`, want: ecr(`${ACCOUNT}.dkr-ecr.us-isof-south-1.on.aws.hci.ic.gov`, 'us-isof-south-1', 'aws-iso-f', false, true) },
  { name: 'an aws-eusc registry is under amazonaws.eu', host: `${ACCOUNT}.dkr.ecr.eusc-de-east-1.amazonaws.eu`, want: ecr(`${ACCOUNT}.dkr.ecr.eusc-de-east-1.amazonaws.eu`, 'eusc-de-east-1', 'aws-eusc') },
  { name: 'an aws-eusc FIPS registry is dkr.ecr-fips under amazonaws.eu', host: `${ACCOUNT}.dkr.ecr-fips.eusc-de-east-1.amazonaws.eu`, want: ecr(`${ACCOUNT}.dkr.ecr-fips.eusc-de-east-1.amazonaws.eu`, 'eusc-de-east-1', 'aws-eusc', true) },
  { name: 'a China FIPS registry is dkr.ecr-fips under amazonaws.com.cn', host: `${ACCOUNT}.dkr.ecr-fips.cn-north-1.amazonaws.com.cn`, want: ecr(`${ACCOUNT}.dkr.ecr-fips.cn-north-1.amazonaws.com.cn`, 'cn-north-1', 'aws-cn', true) },
  { name: 'a dual-stack us-gov host without FIPS is in aws-us-gov', host: `${ACCOUNT}.dkr-ecr.us-gov-east-1.on.aws`, want: ecr(`${ACCOUNT}.dkr-ecr.us-gov-east-1.on.aws`, 'us-gov-east-1', 'aws-us-gov', false, true) },
  { name: 'an upper-case ISO host is parsed and normalised to lower case', host: `${ACCOUNT}.DKR.ECR.US-ISO-EAST-1.C2S.IC.GOV`, want: ecr(`${ACCOUNT}.dkr.ecr.us-iso-east-1.c2s.ic.gov`, 'us-iso-east-1', 'aws-iso') },

  // A region only under its own partition's domain
  { name: 'an aws-iso region under amazonaws.com is not a real endpoint', host: `${ACCOUNT}.dkr.ecr.us-iso-east-1.amazonaws.com`, want: undefined },
  { name: 'an aws region under c2s.ic.gov is not a real endpoint', host: `${ACCOUNT}.dkr.ecr.us-east-1.c2s.ic.gov`, want: undefined },
  { name: 'an aws-iso region under the aws-iso-b domain is not a real endpoint', host: `${ACCOUNT}.dkr.ecr.us-iso-east-1.sc2s.sgov.gov`, want: undefined },
  { name: 'an aws-iso-b region under the aws-iso domain is not a real endpoint', host: `${ACCOUNT}.dkr.ecr.us-isob-east-1.c2s.ic.gov`, want: undefined },
  { name: 'an aws-iso-f region under the aws-iso domain is not a real endpoint', host: `${ACCOUNT}.dkr.ecr.us-isof-south-1.c2s.ic.gov`, want: undefined },
  { name: 'an aws-iso-e region under amazonaws.com is not a real endpoint', host: `${ACCOUNT}.dkr.ecr.eu-isoe-west-1.amazonaws.com`, want: undefined },
  { name: 'an aws region under cloud.adc-e.uk is not a real endpoint', host: `${ACCOUNT}.dkr.ecr.eu-west-2.cloud.adc-e.uk`, want: undefined },
  { name: 'a us-gov region under an ISO domain is not a real endpoint', host: `${ACCOUNT}.dkr.ecr.us-gov-west-1.csp.hci.ic.gov`, want: undefined },
  { name: 'an aws-iso region under the aws dual-stack domain is not a real endpoint', host: `${ACCOUNT}.dkr-ecr.us-iso-east-1.on.aws`, want: undefined },
  { name: 'the aws-iso dual-stack domain with an aws region is not a real endpoint', host: `${ACCOUNT}.dkr-ecr.us-east-1.on.aws.ic.gov`, want: undefined },
  { name: 'the aws-iso plain domain is not a dual-stack domain', host: `${ACCOUNT}.dkr-ecr.us-iso-east-1.c2s.ic.gov`, want: undefined },
  { name: 'an ISO partition has no FIPS dual-stack form', host: `${ACCOUNT}.dkr-ecr-fips.us-iso-east-1.on.aws.ic.gov`, want: undefined },
  { name: 'an aws-eusc region under amazonaws.com is not a real endpoint', host: `${ACCOUNT}.dkr.ecr.eusc-de-east-1.amazonaws.com`, want: undefined },
  { name: 'aws-eusc has no dual-stack form known here', host: `${ACCOUNT}.dkr-ecr.eusc-de-east-1.on.amazonwebservices.eu`, want: undefined },
  { name: 'an aws region under amazonaws.eu is not a real endpoint', host: `${ACCOUNT}.dkr.ecr.eu-central-1.amazonaws.eu`, want: undefined },
  { name: 'a region whose first group is neither two letters nor a partition prefix is refused', host: `${ACCOUNT}.dkr.ecr.eus-de-east-1.amazonaws.com`, want: undefined },
  { name: 'a region with an empty group is refused', host: `${ACCOUNT}.dkr.ecr.us--east-1.amazonaws.com`, want: undefined },
  { name: 'a region numbered with non-ASCII digits is refused', host: `${ACCOUNT}.dkr.ecr.us-east-\u0661.amazonaws.com`, want: undefined },
  { name: 'a region whose number holds a letter is refused', host: `${ACCOUNT}.dkr.ecr.us-east-1a.amazonaws.com`, want: undefined },
  { name: 'a region whose name holds a digit is refused', host: `${ACCOUNT}.dkr.ecr.us-ea5t-1.amazonaws.com`, want: undefined },
  { name: 'a host with no region or domain after the service is refused', host: `${ACCOUNT}.dkr.ecr.`, want: undefined },
  { name: 'a host that stops at the region is refused', host: `${ACCOUNT}.dkr.ecr.us-east-1`, want: undefined },
  { name: 'a Kelvin sign that lower-cases to k does not make an aws-iso-e domain', host: `${ACCOUNT}.dkr.ecr.eu-isoe-west-1.cloud.adc-e.u\u212a`, want: undefined },
  { name: 'a dotless capital I does not lower-case into an ASCII letter of a region', host: `${ACCOUNT}.dkr.ecr.us-\u0130so-east-1.c2s.ic.gov`, want: undefined },

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

const looks: { name: string; host: string; want: boolean }[] = [
  { name: 'a known form looks like ECR', host: `${ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com`, want: true },
  { name: 'a dual-stack form looks like ECR', host: `${ACCOUNT}.dkr-ecr.eu-west-1.on.aws`, want: true },
  { name: 'an unknown domain after 12 digits and .dkr looks like ECR', host: `${ACCOUNT}.dkr.ecr.eu-west-1.example.com`, want: true },
  { name: 'an unknown service after 12 digits and .dkr looks like ECR', host: `${ACCOUNT}.dkrx.example.com`, want: true },
  { name: '12 digits and .dkr alone look like ECR', host: `${ACCOUNT}.dkr`, want: true },
  { name: 'upper-case DKR looks like ECR', host: `${ACCOUNT}.DKR.ECR.EU-WEST-1.AMAZONAWS.COM`, want: true },
  { name: 'mixed-case dKr looks like ECR', host: `${ACCOUNT}.dKr-ecr.eu-west-1.on.aws`, want: true },
  { name: 'a trailing dot still looks like ECR', host: `${ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com.`, want: true },
  { name: 'a port still looks like ECR', host: `${ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com:443`, want: true },
  { name: 'an 11-digit account does not look like ECR', host: '11111111111.dkr.ecr.eu-west-1.amazonaws.com', want: false },
  { name: 'a 13-digit account does not look like ECR', host: '1111111111111.dkr.ecr.eu-west-1.amazonaws.com', want: false },
  { name: 'fullwidth digits do not look like ECR', host: `${'\uff11'.repeat(12)}.dkr.ecr.eu-west-1.amazonaws.com`, want: false },
  { name: 'a letter among the digits does not look like ECR', host: '11111111111a.dkr.ecr.eu-west-1.amazonaws.com', want: false },
  { name: '12 digits then another label does not look like ECR', host: `${ACCOUNT}.ecr.eu-west-1.amazonaws.com`, want: false },
  { name: '12 digits then .dk does not look like ECR', host: `${ACCOUNT}.dk`, want: false },
  { name: 'a Kelvin sign in dkr does not look like ECR', host: `${ACCOUNT}.d\u212ar.ecr.eu-west-1.amazonaws.com`, want: false },
  { name: 'a prefix before the account does not look like ECR', host: `x${ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com`, want: false },
  { name: 'ECR Public does not look like a private registry', host: 'public.ecr.aws', want: false },
  { name: 'an empty host does not look like ECR', host: '', want: false },
];

for (const c of looks) {
  t.test(`looksLikeEcrHost: ${c.name}`, async (t) => {
    t.equal(looksLikeEcrHost(c.host), c.want);
  });
}

const classified: { name: string; host: string; kind: 'ecr' | 'not-ecr' | 'refused'; problem?: string | RegExp; short?: string }[] = [
  { name: 'a lower-case known form is ECR', host: `${ACCOUNT}.dkr.ecr.us-isob-east-1.sc2s.sgov.gov`, kind: 'ecr' },
  { name: 'a host not shaped like ECR is another registry', host: 'quay.io', kind: 'not-ecr' },
  { name: 'ECR Public is another registry', host: 'public.ecr.aws', kind: 'not-ecr' },
  {
    name: 'an upper-case known form is refused, saying how to write it',
    host: `${ACCOUNT}.DKR.ECR.EU-WEST-1.AMAZONAWS.COM`,
    kind: 'refused',
    problem:
      `registry host "${ACCOUNT}.DKR.ECR.EU-WEST-1.AMAZONAWS.COM" is a private ECR registry written with upper-case letters; write it in lower case ` +
      `(${ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com): the kubelet matches a pull secret only to the host exactly as written, and pull secrets name ECR hosts in lower case`,
    short: 'ECR host must be lower case',
  },
  { name: 'one upper-case letter in the domain is refused', host: `${ACCOUNT}.dkr.ecr.us-iso-east-1.c2s.ic.Gov`, kind: 'refused', problem: /written with upper-case letters; write it in lower case \(111111111111\.dkr\.ecr\.us-iso-east-1\.c2s\.ic\.gov\)/ },
  {
    name: 'a region under another partition’s domain is refused, naming the partition and its domain',
    host: `${ACCOUNT}.dkr.ecr.us-isob-east-1.c2s.ic.gov`,
    kind: 'refused',
    problem:
      `registry host "${ACCOUNT}.dkr.ecr.us-isob-east-1.c2s.ic.gov" looks like a private ECR registry but is not a form this webhook knows ` +
      '(region us-isob-east-1 is in partition aws-iso-b, whose registries are under sc2s.sgov.gov, not "c2s.ic.gov"); refused rather than treated as a non-ECR registry',
    short: 'ECR-like host of unknown form',
  },
  { name: 'a dual-stack host under the plain domain names the dual-stack domain', host: `${ACCOUNT}.dkr-ecr.us-isof-south-1.csp.hci.ic.gov`, kind: 'refused', problem: '(region us-isof-south-1 is in partition aws-iso-f, whose dual-stack registries are under on.aws.hci.ic.gov, not "csp.hci.ic.gov")' },
  { name: 'a FIPS dual-stack host where the partition has none says so', host: `${ACCOUNT}.dkr-ecr-fips.cn-north-1.on.amazonwebservices.com.cn`, kind: 'refused', problem: '(partition aws-cn has no FIPS dual-stack registries (dkr-ecr-fips))' },
  { name: 'a dual-stack host in a partition without one known says so', host: `${ACCOUNT}.dkr-ecr.eusc-de-east-1.on.amazonwebservices.eu`, kind: 'refused', problem: '(partition aws-eusc (region eusc-de-east-1) has no dual-stack registries this webhook knows)' },
  { name: 'a region that is no region name says so', host: `${ACCOUNT}.dkr.ecr.useast1.amazonaws.com`, kind: 'refused', problem: '("useast1" is not an AWS region name)' },
  { name: 'an unknown service after the account says which are known', host: `${ACCOUNT}.dkr.registry.example.com`, kind: 'refused', problem: '(after the account comes dkr.ecr, dkr.ecr-fips, dkr-ecr or dkr-ecr-fips)' },
  { name: 'a trailing dot is refused as a domain not known', host: `${ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com.`, kind: 'refused', problem: 'not "amazonaws.com."' },
  { name: 'a non-ASCII character after .dkr is refused as such', host: `${ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.c\u043em`, kind: 'refused', problem: '(it holds a character that is not ASCII)' },
  { name: 'a Kelvin sign in the domain is refused, not folded into the real domain', host: `${ACCOUNT}.dkr.ecr.eu-isoe-west-1.cloud.adc-e.u\u212a`, kind: 'refused', problem: '(it holds a character that is not ASCII)' },
  { name: 'a hostile host is quoted clipped in the problem', host: `${ACCOUNT}.dkr.${'x'.repeat(300)}`, kind: 'refused', problem: /^registry host "111111111111\.dkr\.x{82}…" looks like/ },
];

for (const c of classified) {
  t.test(`classifyRegistryHost: ${c.name}`, async (t) => {
    const got = classifyRegistryHost(c.host);
    t.equal(got.kind, c.kind);
    if (got.kind === 'ecr') t.strictSame(got.registry, parseEcrHost(c.host), 'the registry parseEcrHost gives');
    if (got.kind !== 'refused') return;
    t.match(got.problem, c.problem ?? '');
    if (c.short !== undefined) t.equal(got.short, c.short);
  });
}

t.test('the partitions are the ones AWS names, each with at least one known registry form', async (t) => {
  t.same([...ECR_PARTITIONS].sort(), ['aws', 'aws-cn', 'aws-eusc', 'aws-iso', 'aws-iso-b', 'aws-iso-e', 'aws-iso-f', 'aws-us-gov']);
  const seen = new Set(cases.flatMap((c) => (c.want === undefined ? [] : [c.want.partition])));
  t.same([...seen].sort(), [...ECR_PARTITIONS].sort(), 'the table above has a valid host of every partition');
});

/**
 * Hosts far longer than any real one, shaped to keep a matcher busy. Every function reads the host once, so each
 * answers within a small bound (some 50 times what the slowest takes under coverage, about 100 µs).
 */
const HOST_BOUND_MS = 5;
const hostileHosts: { name: string; host: string }[] = [
  { name: 'an ECR-shaped host with a long region', host: `${ACCOUNT}.dkr.ecr.${'us-'.repeat(330)}1.amazonaws.com` },
  { name: 'an ECR-shaped host with a long domain', host: `${ACCOUNT}.dkr.ecr.eu-west-1.${'amazonaws.'.repeat(100)}com` },
  { name: 'an ECR-shaped host of many dkr labels', host: `${ACCOUNT}${'.dkr'.repeat(250)}` },
  { name: 'a run of digits', host: '1'.repeat(1024) },
  { name: 'an upper-case ECR-shaped host', host: `${ACCOUNT}.DKR.ECR.${'A-'.repeat(490)}1.AMAZONAWS.COM` },
];

for (const c of hostileHosts) {
  t.test(`${c.name} (${c.host.length} characters) is read within ${HOST_BOUND_MS} ms`, async (t) => {
    const runs = 200;
    classifyRegistryHost(c.host);
    const started = performance.now();
    for (let i = 0; i < runs; i++) {
      classifyRegistryHost(c.host);
      looksLikeEcrHost(c.host);
    }
    const each = (performance.now() - started) / runs;
    t.comment(`${(each * 1000).toFixed(1)} µs to classify and look (bound ${HOST_BOUND_MS} ms)`);
    t.ok(each < HOST_BOUND_MS, `${each.toFixed(4)} ms, under ${HOST_BOUND_MS} ms`);
  });
}
