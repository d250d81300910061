import type { Regime } from '../vocab/profile.js';
import type { Scenario } from './types.js';

/** What a run may change of a scenario's kernel, to compare one workload across kernels and hosts. */
export interface KernelOverrides {
  readonly version?: string;
  readonly cpus?: number;
  readonly regime?: Regime;
}

/** The scenario with its kernel changed. */
export function withKernel(scenario: Scenario, o: KernelOverrides): Scenario {
  return {
    ...scenario,
    kernel: {
      ...scenario.kernel,
      ...(o.version === undefined ? {} : { version: o.version }),
      ...(o.cpus === undefined ? {} : { cpus: o.cpus }),
      ...(o.regime === undefined ? {} : { regime: o.regime }),
    },
  };
}
