import { CreateRepositoryCommand, ECRClient, PutImageCommand, RepositoryAlreadyExistsException } from '@aws-sdk/client-ecr';
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';

/**
 * A registry's owner in moto, pushing images as CI would: moto keeps repositories per caller account and answers a
 * caller from its own account only, so the owner is a role of the registry's account, which is where the tenant
 * roles that read it live in these tests. Used by the tests and by `npm run bench`.
 */
export interface RegistryOwner {
  /** Creates a repository (tagged as given); one that exists already is left as it is. */
  repository(name: string, tags?: Readonly<Record<string, string>>): Promise<void>;
  /** Pushes a manifest of its own (a config digest derived from `seed`) under `tag`; the digest moto reports. */
  push(repository: string, tag: string, seed: string): Promise<string>;
  destroy(): void;
}

export async function registryOwner(endpoint: string, account: string, region: string): Promise<RegistryOwner> {
  const sts = new STSClient({ endpoint, region, credentials: { accessKeyId: 'AKIDOWNER', secretAccessKey: 'owner-secret' } });
  const { Credentials } = await sts.send(new AssumeRoleCommand({ RoleArn: `arn:aws:iam::${account}:role/registry-owner`, RoleSessionName: 'owner' }));
  sts.destroy();
  const ecr = new ECRClient({ endpoint, region, credentials: { accessKeyId: Credentials!.AccessKeyId!, secretAccessKey: Credentials!.SecretAccessKey!, sessionToken: Credentials!.SessionToken! } });
  const hex = (text: string) => Buffer.from(text.padEnd(32, '0')).toString('hex').slice(0, 64);
  return {
    async repository(name, tags = {}) {
      try {
        await ecr.send(new CreateRepositoryCommand({ repositoryName: name, tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })) }));
      } catch (error) {
        if (!(error instanceof RepositoryAlreadyExistsException)) throw error;
      }
    },
    async push(repositoryName, imageTag, seed) {
      const imageManifest = JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
        config: { mediaType: 'application/vnd.docker.container.image.v1+json', size: 1469, digest: `sha256:${hex(seed)}` },
        layers: [{ mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', size: 2811, digest: `sha256:${hex(`${seed}-layer`)}` }],
      });
      const answer = await ecr.send(new PutImageCommand({ repositoryName, imageManifest, imageTag }));
      return answer.image!.imageId!.imageDigest!;
    },
    destroy: () => ecr.destroy(),
  };
}
