import t from 'tap';
import { findingSubject } from '../../src/events/finding-subject.ts';

const controller = { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'api-7f9c', uid: 'uid-1', controller: true };
const pod = (ownerReferences: unknown) => ({ metadata: { generateName: 'api-7f9c-', ownerReferences } });
const onNamespace = { apiVersion: 'v1', kind: 'Namespace', name: 'shop', namespace: 'shop' };

const cases = [
  { name: 'a pod made by a ReplicaSet is reported on the ReplicaSet', object: pod([controller]), want: { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'api-7f9c', namespace: 'shop', uid: 'uid-1' } },
  { name: 'only the owner that is the controller counts', object: pod([{ ...controller, kind: 'ConfigMap', name: 'cm', controller: false }, { ...controller, kind: 'Job', name: 'migrate' }]), want: { apiVersion: 'apps/v1', kind: 'Job', name: 'migrate', namespace: 'shop', uid: 'uid-1' } },
  { name: 'a controller without a uid is still named', object: pod([{ ...controller, uid: undefined }]), want: { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'api-7f9c', namespace: 'shop', uid: undefined } },
  { name: 'a bare pod is reported on its namespace', object: pod(undefined), want: onNamespace },
  { name: 'owners that are not controllers leave the namespace', object: pod([{ ...controller, controller: false }]), want: onNamespace },
  { name: 'a controller reference without a name leaves the namespace', object: pod([{ ...controller, name: '' }]), want: onNamespace },
  { name: 'a controller reference with a kind that is not a string leaves the namespace', object: pod([{ ...controller, kind: 7 }]), want: onNamespace },
  { name: 'ownerReferences that are not a list leave the namespace', object: pod({ controller }), want: onNamespace },
  { name: 'an object without metadata is reported on its namespace', object: 'not an object', want: onNamespace },
];
for (const c of cases) t.test(c.name, async (t) => t.same(findingSubject(c.object, 'shop'), c.want));
