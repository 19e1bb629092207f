import type { GradeBands } from '../../contract/run-contract.js';
import { REFERENCE_RUN_CONTRACT } from '../../contract/run-contract.js';
import type { Grade } from '../../contract/verdict.js';

/** F with any CRITICAL; else the first band (A, B, C) whose warning allowance covers the count; D beyond. */
export function gradeOf(warnings: number, criticals: number, bands: GradeBands): Grade {
  if (criticals > 0) return 'F';
  if (warnings <= bands.A) return 'A';
  if (warnings <= bands.B) return 'B';
  if (warnings <= bands.C) return 'C';
  return 'D';
}

/** Fact sheet §2 (reference bands): F if any CRITICAL; else A with no warning, B one, C two or three, D four or more. */
export function performanceGrade(warnings: number, criticals: number, bands: GradeBands = REFERENCE_RUN_CONTRACT.grades.performance): Grade {
  return gradeOf(warnings, criticals, bands);
}

/** Fact sheet §2 (reference bands): F if any CRITICAL isolation violation; else A none, B <= 2, C <= 5, D more. */
export function securityGrade(warnings: number, criticals: number, bands: GradeBands = REFERENCE_RUN_CONTRACT.grades.security): Grade {
  return gradeOf(warnings, criticals, bands);
}
