/**
 * Private Amazon ECR registry hosts. `public.ecr.aws` (ECR Public) is deliberately not one: it needs no
 * tenant credentials and is treated like any other non-ECR registry.
 */
export interface EcrRegistry {
  readonly host: string;
  readonly account: string;
  readonly region: string;
  readonly partition: 'aws' | 'aws-cn' | 'aws-us-gov';
  readonly fips: boolean;
  readonly dualStack: boolean;
}

const REGION = '[a-z]{2}(?:-[a-z]+)+-\\d{1,2}';
const ACCOUNT = '\\d{12}';

const HOST_FORMS: readonly RegExp[] = [
  // 111111111111.dkr.ecr.eu-west-1.amazonaws.com, .amazonaws.com.cn, dkr.ecr-fips
  new RegExp(`^(${ACCOUNT})\\.dkr\\.ecr(-fips)?\\.(${REGION})\\.amazonaws\\.com(\\.cn)?$`),
  // dual-stack: 111111111111.dkr-ecr.eu-west-1.on.aws, dkr-ecr-fips
  new RegExp(`^(${ACCOUNT})\\.dkr-ecr(-fips)?\\.(${REGION})\\.on\\.aws()$`),
  // dual-stack in China: 111111111111.dkr-ecr.cn-north-1.on.amazonwebservices.com.cn
  new RegExp(`^(${ACCOUNT})\\.dkr-ecr()\\.(${REGION})\\.on\\.amazonwebservices\\.com(\\.cn)$`),
];

/** Parses a host name (no port) as a private ECR registry; undefined when it is not one. */
export function parseEcrHost(host: string): EcrRegistry | undefined {
  const name = host.toLowerCase();
  for (const form of HOST_FORMS) {
    const m = form.exec(name);
    if (m === null) continue;
    const [, account = '', fips, region = '', china] = m;
    const inChina = china === '.cn';
    // A China domain serves only China regions and the other way round; anything else is not a real endpoint.
    if (inChina !== region.startsWith('cn-')) return undefined;
    return {
      host: name,
      account,
      region,
      partition: inChina ? 'aws-cn' : region.startsWith('us-gov-') ? 'aws-us-gov' : 'aws',
      fips: fips === '-fips',
      dualStack: name.includes('.dkr-ecr'),
    };
  }
  return undefined;
}

export function isEcrPrivateHost(host: string): boolean {
  return parseEcrHost(host) !== undefined;
}
