import { describe, expect, it } from 'vitest';
import { LIFECYCLE_TYPES } from '../../src/contract/event.js';
import { compileRunContract, REFERENCE_RUN_CONTRACT, severityOf, TYPE_CODE, type RunContract } from '../../src/contract/run-contract.js';
import { RunwatchError } from '../../src/errors.js';

/** The error compileRunContract throws for `raw` (fails the test if it compiles). */
function rejection(raw: unknown): RunwatchError {
  try {
    compileRunContract(raw);
  } catch (err) {
    expect(err).toBeInstanceOf(RunwatchError);
    return err as RunwatchError;
  }
  throw new Error('expected the contract to be rejected');
}

const bit = (...types: (typeof LIFECYCLE_TYPES)[number][]) => types.reduce((mask, t) => mask | (1 << TYPE_CODE[t]), 0);

describe('compileRunContract', () => {
  it('compiles the reference contract (also the default) into masks, a transition table and the run deadline', () => {
    const compiled = compileRunContract(REFERENCE_RUN_CONTRACT);
    expect(compiled).toEqual(compileRunContract());
    expect(compiled).toMatchObject({
      startType: 'agent_started',
      terminalType: 'agent_completed',
      requiredMask: 0b11111,
      runDeadlineMs: 30_000,
      suspiciousSkewMs: 3_600_000,
      thresholds: { deliveryLatencyMs: { warning: 500, critical: 2_000 }, gapMs: { warning: 1_000, critical: 5_000 }, runDurationMs: { warning: 10_000, critical: 30_000 } },
      toolPairing: { opens: 'tool_executing', closes: 'tool_completed', matchBy: ['executionId', 'eventId', 'toolName'] },
    });
    expect(compiled.allowedAfter).toEqual([
      // a tool_completed right after the start is left to the pairing rule (no call before it)
      bit('agent_thinking', 'tool_executing', 'tool_completed', 'agent_completed'),
      bit('agent_thinking', 'tool_executing', 'tool_completed', 'agent_completed'),
      bit('agent_thinking', 'tool_executing', 'tool_completed', 'agent_completed'),
      bit('agent_thinking', 'tool_executing', 'tool_completed', 'agent_completed'),
      0,
    ]);
    expect(Object.isFrozen(compiled)).toBe(true);
    expect(Object.isFrozen(compiled.allowedAfter)).toBe(true);
  });

  it('takes thresholds from the contract; the run deadline is the critical run duration', () => {
    const compiled = compileRunContract({ ...REFERENCE_RUN_CONTRACT, thresholds: { ...REFERENCE_RUN_CONTRACT.thresholds, runDurationMs: { warning: 10, critical: 30 } } });
    expect(compiled.runDeadlineMs).toBe(30);
    expect(compiled.thresholds.runDurationMs).toEqual({ warning: 10, critical: 30 });
  });

  it('accepts warning == critical, and compares strictly (severityOf)', () => {
    const levels = { warning: 5, critical: 5 };
    expect(() => compileRunContract({ ...REFERENCE_RUN_CONTRACT, thresholds: { ...REFERENCE_RUN_CONTRACT.thresholds, gapMs: levels } })).not.toThrow();
    expect([severityOf(5, levels), severityOf(6, levels), severityOf(6, { warning: 5, critical: 20 }), severityOf(21, { warning: 5, critical: 20 })]).toEqual([undefined, 'CRITICAL', 'WARNING', 'CRITICAL']);
  });

  describe('rejects a malformed contract with CONTRACT_INVALID, naming the problem', () => {
    const R = REFERENCE_RUN_CONTRACT;
    const cases: Array<[string, unknown, string]> = [
      ['a missing transition', { ...R, transitions: Object.fromEntries(Object.entries(R.transitions).filter(([from]) => from !== 'tool_completed')) }, 'transitions.tool_completed is missing'],
      ['the start type allowed after another type', { ...R, transitions: { ...R.transitions, agent_thinking: ['agent_started', 'agent_thinking'] } }, 'agent_started may only come first, but transitions.agent_thinking allows it'],
      ['successors of the terminal type', { ...R, transitions: { ...R.transitions, agent_completed: ['agent_thinking'] } }, 'nothing may follow the terminal type agent_completed'],
      ['warning above critical', { ...R, thresholds: { ...R.thresholds, gapMs: { warning: 6_000, critical: 5_000 } } }, 'thresholds.gapMs: warning must not exceed critical'],
      ['an unknown type in requiredTypes', { ...R, requiredTypes: ['agent_started', 'agent_dancing'] }, "requiredTypes.1: Invalid enum value. Expected 'agent_started' | 'agent_thinking' | 'tool_executing' | 'tool_completed' | 'agent_completed', received 'agent_dancing'"],
      ['an unknown type as a transition source', { ...R, transitions: { ...R.transitions, agent_dancing: [] } }, "transitions.agent_dancing: Invalid enum value. Expected 'agent_started' | 'agent_thinking' | 'tool_executing' | 'tool_completed' | 'agent_completed', received 'agent_dancing'"],
      ['an unknown type as a successor', { ...R, transitions: { ...R.transitions, tool_executing: ['tool_finished'] } }, "transitions.tool_executing.0: Invalid enum value. Expected 'agent_started' | 'agent_thinking' | 'tool_executing' | 'tool_completed' | 'agent_completed', received 'tool_finished'"],
      ['an unknown start type', { ...R, startType: 'run_started' }, "startType: Invalid enum value. Expected 'agent_started' | 'agent_thinking' | 'tool_executing' | 'tool_completed' | 'agent_completed', received 'run_started'"],
      ['the same start and terminal type', { ...R, terminalType: 'agent_started' }, 'startType and terminalType must differ'],
      ['tool pairing of one type with itself', { ...R, toolPairing: { ...R.toolPairing, closes: 'tool_executing' } }, 'toolPairing.opens and toolPairing.closes must differ'],
      ['a negative threshold', { ...R, thresholds: { ...R.thresholds, deliveryLatencyMs: { warning: -1, critical: 2_000 } } }, 'thresholds.deliveryLatencyMs.warning: Number must be greater than or equal to 0'],
      ['no required type', { ...R, requiredTypes: [] }, 'requiredTypes: Array must contain at least 1 element(s)'],
      ['an unknown key (a typo)', { ...R, treshold: {} }, "(root): Unrecognized key(s) in object: 'treshold'"],
      ['not an object', null, '(root): Expected object, received null'],
    ];

    it.each(cases)('%s', (_name, raw, problem) => {
      const err = rejection(raw);
      expect(err.code).toBe('CONTRACT_INVALID');
      expect(err.retriable).toBe(false);
      expect(err.message).toBe(`invalid run contract: ${(err.context['problems'] as string[]).join('; ')}`);
      expect(err.context['problems']).toContain(problem);
    });

    it('reports every problem at once', () => {
      const broken: RunContract = { ...R, transitions: { ...R.transitions, agent_thinking: ['agent_started'], agent_completed: ['agent_thinking'] } };
      expect(rejection(broken).context['problems']).toEqual(['nothing may follow the terminal type agent_completed', 'agent_started may only come first, but transitions.agent_thinking allows it']);
    });
  });
});
