import { quote } from '../text.ts';

/**
 * Private Amazon ECR registry hosts, in every AWS partition. `public.ecr.aws` (ECR Public) is deliberately not one:
 * it needs no tenant credentials and is treated like any other non-ECR registry.
 *
 * A registry host is `ACCOUNT.SERVICE.REGION.DOMAIN`, where the region decides the partition and the partition the
 * domain; a region is never accepted under another partition's domain. Partitions, region shapes and domains are
 * the AWS SDK's partition data (dnsSuffix; for dual-stack, dualStackDnsSuffix with `on.` for `api.`, the forms
 * AWS's own agents list for the ISO partitions). The FIPS form `dkr.ecr-fips` is accepted in every partition, as
 * the SDK marks each FIPS-capable; the FIPS dual-stack form `dkr-ecr-fips` only on on.aws, the one place it is
 * documented. The European Sovereign Cloud's dual-stack form is not settled, so it is none of these:
 *
 * | partition  | regions          | ACCOUNT.dkr.ecr[-fips].REGION.… | ACCOUNT.dkr-ecr.REGION.… (dual-stack)  |
 * |------------|------------------|---------------------------------|----------------------------------------|
 * | aws        | xx-name-N        | amazonaws.com                   | on.aws, also dkr-ecr-fips              |
 * | aws-us-gov | us-gov-name-N    | amazonaws.com                   | on.aws, also dkr-ecr-fips              |
 * | aws-cn     | cn-name-N        | amazonaws.com.cn                | on.amazonwebservices.com.cn            |
 * | aws-iso    | us-iso-name-N    | c2s.ic.gov                      | on.aws.ic.gov                          |
 * | aws-iso-b  | us-isob-name-N   | sc2s.sgov.gov                   | on.aws.scloud                          |
 * | aws-iso-e  | eu-isoe-name-N   | cloud.adc-e.uk                  | on.cloud-aws.adc-e.uk                  |
 * | aws-iso-f  | us-isof-name-N   | csp.hci.ic.gov                  | on.aws.hci.ic.gov                      |
 * | aws-eusc   | eusc-de-name-N   | amazonaws.eu                    | (none known)                           |
 *
 * A host shaped like a private registry (12 digits, then `.dkr`) that is none of these is not taken for "not ECR":
 * classifyRegistryHost refuses it, so a form AWS adds later fails closed instead of passing as a public registry.
 * Everything here reads the host label by label, in one pass: no regular expression, no backtracking.
 */
export const ECR_PARTITIONS = ['aws', 'aws-us-gov', 'aws-cn', 'aws-iso', 'aws-iso-b', 'aws-iso-e', 'aws-iso-f', 'aws-eusc'] as const;
export type EcrPartition = (typeof ECR_PARTITIONS)[number];

export interface EcrRegistry {
  readonly host: string;
  readonly account: string;
  readonly region: string;
  readonly partition: EcrPartition;
  readonly fips: boolean;
  readonly dualStack: boolean;
}

interface PartitionForms {
  readonly partition: EcrPartition;
  /** Regions of the partition start with this; the aws partition takes any other two-letter start. */
  readonly regionPrefix: string;
  readonly domain: string;
  readonly dualStackDomain: string | undefined;
  readonly dualStackFips: boolean;
}

/** Most specific region prefix first: us-gov- and us-iso- before the aws partition's catch-all. */
const PARTITIONS: readonly PartitionForms[] = [
  { partition: 'aws-us-gov', regionPrefix: 'us-gov-', domain: 'amazonaws.com', dualStackDomain: 'on.aws', dualStackFips: true },
  { partition: 'aws-iso', regionPrefix: 'us-iso-', domain: 'c2s.ic.gov', dualStackDomain: 'on.aws.ic.gov', dualStackFips: false },
  { partition: 'aws-iso-b', regionPrefix: 'us-isob-', domain: 'sc2s.sgov.gov', dualStackDomain: 'on.aws.scloud', dualStackFips: false },
  { partition: 'aws-iso-e', regionPrefix: 'eu-isoe-', domain: 'cloud.adc-e.uk', dualStackDomain: 'on.cloud-aws.adc-e.uk', dualStackFips: false },
  { partition: 'aws-iso-f', regionPrefix: 'us-isof-', domain: 'csp.hci.ic.gov', dualStackDomain: 'on.aws.hci.ic.gov', dualStackFips: false },
  { partition: 'aws-cn', regionPrefix: 'cn-', domain: 'amazonaws.com.cn', dualStackDomain: 'on.amazonwebservices.com.cn', dualStackFips: false },
  { partition: 'aws-eusc', regionPrefix: 'eusc-', domain: 'amazonaws.eu', dualStackDomain: undefined, dualStackFips: false },
  { partition: 'aws', regionPrefix: '', domain: 'amazonaws.com', dualStackDomain: 'on.aws', dualStackFips: true },
];

/** The registry service labels after the account, longest first, with what each says of the host. */
const SERVICES = [
  { label: 'dkr-ecr-fips.', dualStack: true, fips: true },
  { label: 'dkr-ecr.', dualStack: true, fips: false },
  { label: 'dkr.ecr-fips.', dualStack: false, fips: true },
  { label: 'dkr.ecr.', dualStack: false, fips: false },
] as const;

const ACCOUNT_DIGITS = 12;

const isDigit = (c: number): boolean => c >= 0x30 && c <= 0x39;
const isLower = (c: number): boolean => c >= 0x61 && c <= 0x7a;
const every = (text: string, test: (c: number) => boolean): boolean => {
  for (let i = 0; i < text.length; i++) if (!test(text.charCodeAt(i))) return false;
  return true;
};

/** ASCII-only lower case: a non-ASCII character (the Kelvin sign folds to "k") must not turn into an AWS domain. */
function asciiLower(text: string): string | undefined {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) > 0x7f) return undefined;
  return text.toLowerCase();
}

/**
 * A region name: two or more groups of lower-case letters, then 1 or 2 digits (eu-west-1, us-gov-east-1,
 * eusc-de-east-1), and the partition it belongs to; undefined for anything else.
 */
function partitionOfRegion(region: string): PartitionForms | undefined {
  const groups = region.split('-');
  const number = groups.pop()!;
  if (groups.length < 2 || number.length < 1 || number.length > 2 || !every(number, isDigit)) return undefined;
  if (!groups.every((g) => g !== '' && every(g, isLower))) return undefined;
  const forms = PARTITIONS.find((p) => region.startsWith(p.regionPrefix))!;
  return forms.regionPrefix === '' && groups[0]!.length !== 2 ? undefined : forms;
}

/** Reads a lower-case host as a private registry, or says why it is not one. */
function readEcrHost(host: string): EcrRegistry | string {
  if (!looksLikeEcrHost(host)) return 'it does not start with a 12-digit account and ".dkr"';
  const account = host.slice(0, ACCOUNT_DIGITS);
  const afterAccount = host.slice(ACCOUNT_DIGITS + 1);
  const service = SERVICES.find((s) => afterAccount.startsWith(s.label));
  if (service === undefined) return 'after the account comes dkr.ecr, dkr.ecr-fips, dkr-ecr or dkr-ecr-fips';
  const afterService = afterAccount.slice(service.label.length);
  const dot = afterService.indexOf('.');
  const region = dot === -1 ? afterService : afterService.slice(0, dot);
  const domain = dot === -1 ? '' : afterService.slice(dot + 1);
  const forms = partitionOfRegion(region);
  if (forms === undefined) return `${quote(region, 40)} is not an AWS region name`;
  const expected = service.dualStack ? forms.dualStackDomain : forms.domain;
  const formName = service.dualStack ? 'dual-stack registries' : 'registries';
  if (expected === undefined) return `partition ${forms.partition} (region ${region}) has no ${formName} this webhook knows`;
  if (domain !== expected) return `region ${region} is in partition ${forms.partition}, whose ${formName} are under ${expected}, not ${quote(domain, 60)}`;
  if (service.fips && service.dualStack && !forms.dualStackFips) return `partition ${forms.partition} has no FIPS dual-stack registries (dkr-ecr-fips)`;
  return { host, account, region, partition: forms.partition, fips: service.fips, dualStack: service.dualStack };
}

/** Parses a host name (no port, any case) as a private ECR registry; undefined when it is not one. */
export function parseEcrHost(host: string): EcrRegistry | undefined {
  const name = asciiLower(host);
  if (name === undefined) return undefined;
  const read = readEcrHost(name);
  return typeof read === 'string' ? undefined : read;
}

export function isEcrPrivateHost(host: string): boolean {
  return parseEcrHost(host) !== undefined;
}

/**
 * Whether a host (no port) is shaped like a private ECR registry, known form or not: its first label is 12 ASCII
 * digits followed by `.dkr` (`.dkr.`, `.dkr-ecr`, …), in any case. A fixed-length look at the start of the host.
 */
export function looksLikeEcrHost(host: string): boolean {
  if (host.length < ACCOUNT_DIGITS + 4) return false;
  for (let i = 0; i < ACCOUNT_DIGITS; i++) if (!isDigit(host.charCodeAt(i))) return false;
  return asciiLower(host.slice(ACCOUNT_DIGITS, ACCOUNT_DIGITS + 4)) === '.dkr';
}

export type RegistryHostKind =
  | { readonly kind: 'ecr'; readonly registry: EcrRegistry }
  | { readonly kind: 'not-ecr' }
  | { readonly kind: 'refused'; readonly problem: string; readonly short: string };

/**
 * What a registry host, exactly as an image or a policy writes it (no port), is to the webhook: a private ECR
 * registry it can mint pull secrets for, another registry, or a host it must refuse:
 *
 * - a private ECR host written with upper-case letters: the kubelet gives a pod the pull secret whose key is the
 *   host exactly as the image writes it, and the secrets name ECR hosts in lower case, so such a pod could not pull;
 * - a host shaped like a private ECR registry but of no form known here: taking it for a non-ECR registry would let
 *   it in ungranted wherever non-ECR images are allowed.
 */
export function classifyRegistryHost(host: string): RegistryHostKind {
  const lower = asciiLower(host);
  const read = lower === undefined ? 'it holds a character that is not ASCII' : readEcrHost(lower);
  if (typeof read !== 'string') {
    if (read.host === host) return { kind: 'ecr', registry: read };
    return {
      kind: 'refused',
      problem:
        `registry host ${quote(host, 100)} is a private ECR registry written with upper-case letters; write it in lower case ` +
        `(${read.host}): the kubelet matches a pull secret only to the host exactly as written, and pull secrets name ECR hosts in lower case`,
      short: 'ECR host must be lower case',
    };
  }
  if (!looksLikeEcrHost(host)) return { kind: 'not-ecr' };
  return {
    kind: 'refused',
    problem: `registry host ${quote(host, 100)} looks like a private ECR registry but is not a form this webhook knows (${read}); refused rather than treated as a non-ECR registry`,
    short: 'ECR-like host of unknown form',
  };
}
