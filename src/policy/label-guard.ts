import { MODE_LABEL, TENANT_LABEL } from '../labels.ts';
import { quote } from '../text.ts';
import type { LabelAdmins } from './schema.ts';

/**
 * The namespace-label guard's decision, pure: which guarded labels a namespace CREATE or UPDATE adds, changes or
 * removes, and whether the requester is one of the policy's labelAdmins. The tenant label decides which grants a
 * namespace's pods get, so setting it is as powerful as editing the policy.
 */
export const GUARDED_LABELS = [TENANT_LABEL, MODE_LABEL] as const;

export type Labels = Readonly<Record<string, string>>;

export interface Requester {
  readonly username: string;
  readonly groups: readonly string[];
}

export interface LabelChange {
  readonly key: string;
  readonly from: string | undefined;
  readonly to: string | undefined;
}

export type GuardVerdict = { readonly allowed: true; readonly changes: readonly LabelChange[] } | { readonly allowed: false; readonly message: string };

export function serviceAccountUsername(reference: string): string {
  const [namespace, name] = reference.split('/');
  return `system:serviceaccount:${namespace}:${name}`;
}

export function guardedLabelChanges(before: Labels, after: Labels): LabelChange[] {
  return GUARDED_LABELS.flatMap((key) => {
    const from = Object.hasOwn(before, key) ? before[key] : undefined;
    const to = Object.hasOwn(after, key) ? after[key] : undefined;
    return from === to ? [] : [{ key, from, to }];
  });
}

export function isLabelAdmin(requester: Requester, admins: LabelAdmins): boolean {
  if (admins.users.includes(requester.username)) return true;
  if (admins.serviceAccounts.some((account) => serviceAccountUsername(account) === requester.username)) return true;
  return requester.groups.some((group) => admins.groups.includes(group));
}

export function describeChange(change: LabelChange): string {
  if (change.to === undefined) return `remove ${change.key} (was ${quote(String(change.from), 63)})`;
  if (change.from === undefined) return `add ${change.key}=${quote(change.to, 63)}`;
  return `change ${change.key} from ${quote(change.from, 63)} to ${quote(change.to, 63)}`;
}

function listed(values: readonly string[]): string {
  return values.length === 0 ? 'none' : values.join(', ');
}

export function describeAdmins(admins: LabelAdmins): string {
  return `users: ${listed(admins.users)}; groups: ${listed(admins.groups)}; serviceAccounts: ${listed(admins.serviceAccounts)}`;
}

export function judgeLabelChange(namespace: string, requester: Requester, changes: readonly LabelChange[], admins: LabelAdmins): GuardVerdict {
  if (changes.length === 0 || isLabelAdmin(requester, admins)) return { allowed: true, changes };
  const what = changes.map(describeChange).join(' and ');
  return {
    allowed: false,
    message:
      `${quote(requester.username, 100)} may not ${what} on namespace ${quote(namespace, 63)}: ` +
      `only the policy's spec.labelAdmins may set ${GUARDED_LABELS.join(' or ')} (${describeAdmins(admins)})`,
  };
}
