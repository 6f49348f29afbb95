import type { Budget } from '../deadline.ts';
import { decide, type Decision, type DecisionInput } from '../policy/decide.ts';
import type { RegistryLookups } from './registry-lookups.ts';

/**
 * An answer can raise one new question: a repository's tags grant an image whose digest is then read; a rewritten
 * image found missing keeps its original, whose tags and digest are then read. Four rounds settle any pod.
 */
export const LOOKUP_ROUNDS = 4;

/**
 * Decides, reading ECR for what the decision needs and memory cannot answer: decide, look up its open questions
 * together within the budget, decide again with the answers. A pod whose facts are all in memory (or that needs
 * none) is decided once, with no wait. Without lookups (none configured), decides offline.
 */
export async function decideReadingRegistry(input: DecisionInput, lookups: RegistryLookups | undefined, budget: Budget): Promise<Decision> {
  if (lookups === undefined) return decide(input);
  const facts = lookups.forAdmission();
  let decision = decide({ ...input, facts });
  for (let round = 0; round < LOOKUP_ROUNDS && decision.open.length > 0; round++) {
    await facts.fetch(decision.open, budget);
    decision = decide({ ...input, facts });
  }
  return decision;
}
