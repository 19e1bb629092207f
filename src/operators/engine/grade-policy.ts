import type { Grade } from '../../contract/verdict.js';

/** Fact sheet §2: F if any CRITICAL; else A with no warning, B one, C two or three, D four or more. */
export function performanceGrade(warnings: number, criticals: number): Grade {
  if (criticals > 0) return 'F';
  if (warnings === 0) return 'A';
  if (warnings === 1) return 'B';
  if (warnings <= 3) return 'C';
  return 'D';
}

/** Fact sheet §2: F if any CRITICAL isolation violation; else A none, B <= 2, C <= 5, D more. */
export function securityGrade(warnings: number, criticals: number): Grade {
  if (criticals > 0) return 'F';
  if (warnings === 0) return 'A';
  if (warnings <= 2) return 'B';
  if (warnings <= 5) return 'C';
  return 'D';
}
