/** Result of a baseline step: which step it was. */
export interface NoopResult {
  step: string;
}

/** The baseline's activities: each does nothing, so what remains is the cost of Temporal itself. */
export function createBaselineActivities() {
  /** Returns at once; stands in for one checkout step. */
  async function noop(input: { step: string }): Promise<NoopResult> {
    return { step: input.step };
  }
  return { noop };
}
