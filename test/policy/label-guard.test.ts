import t from 'tap';
import { MODE_LABEL, TENANT_LABEL } from '../../src/labels.ts';
import { describeAdmins, describeChange, guardedLabelChanges, isLabelAdmin, judgeLabelChange, serviceAccountUsername } from '../../src/policy/label-guard.ts';
import type { LabelAdmins } from '../../src/policy/schema.ts';

const ADMINS: LabelAdmins = { users: ['platform-admin'], groups: ['system:masters'], serviceAccounts: ['argocd/argocd-application-controller'] };
const NOBODY: LabelAdmins = { users: [], groups: [], serviceAccounts: [] };
const tenant = (value: string) => ({ [TENANT_LABEL]: value });

const changeCases: { name: string; before: Record<string, string>; after: Record<string, string>; expected: object[] }[] = [
  { name: 'a namespace created without guarded labels changes nothing guarded', before: {}, after: { team: 'a' }, expected: [] },
  { name: 'adding the tenant label is a change from nothing', before: {}, after: tenant('payments'), expected: [{ key: TENANT_LABEL, from: undefined, to: 'payments' }] },
  { name: 'removing the mode label is a change to nothing', before: { [MODE_LABEL]: 'dry-run' }, after: {}, expected: [{ key: MODE_LABEL, from: 'dry-run', to: undefined }] },
  { name: 'changing both labels reports both, tenant first', before: { ...tenant('a'), [MODE_LABEL]: 'enforce' }, after: { ...tenant('b'), [MODE_LABEL]: 'dry-run' }, expected: [{ key: TENANT_LABEL, from: 'a', to: 'b' }, { key: MODE_LABEL, from: 'enforce', to: 'dry-run' }] },
  { name: 'other labels changing around an unchanged tenant label is no guarded change', before: { ...tenant('a'), x: '1' }, after: { ...tenant('a'), x: '2' }, expected: [] },
  { name: 'a label inherited through the prototype is not a label', before: Object.create(tenant('a')) as Record<string, string>, after: {}, expected: [] },
];

for (const c of changeCases) {
  t.test(c.name, async (t) => t.same(guardedLabelChanges(c.before, c.after), c.expected));
}

const adminCases = [
  { name: 'a listed user is a label admin', who: { username: 'platform-admin', groups: [] }, admins: ADMINS, expected: true },
  { name: 'a member of a listed group is a label admin', who: { username: 'root', groups: ['system:authenticated', 'system:masters'] }, admins: ADMINS, expected: true },
  { name: 'a listed service account is a label admin by its API server user name', who: { username: 'system:serviceaccount:argocd:argocd-application-controller', groups: [] }, admins: ADMINS, expected: true },
  { name: 'another service account in the same namespace is not', who: { username: 'system:serviceaccount:argocd:argocd-server', groups: ['system:serviceaccounts:argocd'] }, admins: ADMINS, expected: false },
  { name: 'a tenant admin with namespace edit rights is not', who: { username: 'tenant-admin', groups: ['system:authenticated'] }, admins: ADMINS, expected: false },
  { name: 'with labelAdmins naming nobody, even a cluster admin is not', who: { username: 'root', groups: ['system:masters'] }, admins: NOBODY, expected: false },
];

for (const c of adminCases) {
  t.test(c.name, async (t) => t.equal(isLabelAdmin(c.who, c.admins), c.expected));
}

t.test('a service account reference becomes the user name the API server authenticates it as', async (t) => {
  t.equal(serviceAccountUsername('flux-system/kustomize-controller'), 'system:serviceaccount:flux-system:kustomize-controller');
});

t.test('changes are described as a person would say them', async (t) => {
  t.equal(describeChange({ key: TENANT_LABEL, from: undefined, to: 'payments' }), `add ${TENANT_LABEL}="payments"`);
  t.equal(describeChange({ key: TENANT_LABEL, from: 'a', to: undefined }), `remove ${TENANT_LABEL} (was "a")`);
  t.equal(describeChange({ key: MODE_LABEL, from: 'dry-run', to: 'enforce' }), `change ${MODE_LABEL} from "dry-run" to "enforce"`);
  t.equal(describeAdmins(NOBODY), 'users: none; groups: none; serviceAccounts: none');
});

t.test('a label admin may change the tenant label, and the changes come back', async (t) => {
  const changes = [{ key: TENANT_LABEL, from: undefined, to: 'payments' }];
  t.same(judgeLabelChange('shop', { username: 'platform-admin', groups: [] }, changes, ADMINS), { allowed: true, changes });
});

t.test('no guarded change is allowed whoever asks', async (t) => {
  t.same(judgeLabelChange('shop', { username: 'anyone', groups: [] }, [], NOBODY), { allowed: true, changes: [] });
});

t.test('anyone else is refused with who, what, where and who may', async (t) => {
  const verdict = judgeLabelChange('shop', { username: 'tenant-admin', groups: [] }, [{ key: TENANT_LABEL, from: 'payments', to: 'analytics' }], ADMINS);
  t.same(verdict, {
    allowed: false,
    message:
      `"tenant-admin" may not change ${TENANT_LABEL} from "payments" to "analytics" on namespace "shop": only the policy's spec.labelAdmins ` +
      `may set ${TENANT_LABEL} or ${MODE_LABEL} (users: platform-admin; groups: system:masters; serviceAccounts: argocd/argocd-application-controller)`,
  });
});
