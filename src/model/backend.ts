import type { Backend, CgroupLimits, Credentials, KnownSnapshot, Outcome, TaskSpec, UpdateContext, UpdateOptions } from '../vocab/backend.js';
import { ModelKernel } from './kernel.js';
import type { MapSpec } from '../vocab/map-spec.js';
import type { KernelProfile } from '../vocab/profile.js';

/** The model behind the {@link Backend} seam: a {@link ModelKernel} in memory. */
export class ModelBackend implements Backend {
  readonly kind = 'model';
  readonly kernel: ModelKernel;

  constructor(readonly profile: KernelProfile) {
    this.kernel = new ModelKernel(profile);
  }

  createCgroup(path: string, limits: CgroupLimits): Promise<Outcome> {
    return Promise.resolve(this.kernel.createCgroup(path, limits));
  }
  setLimit(path: string, limits: Partial<CgroupLimits>): Promise<Outcome> {
    return Promise.resolve(this.kernel.setLimit(path, limits));
  }
  removeCgroup(path: string): Promise<Outcome> {
    return Promise.resolve(this.kernel.removeCgroup(path));
  }
  startTask(name: string, spec: TaskSpec): Promise<Outcome> {
    return Promise.resolve(this.kernel.startTask(name, spec));
  }
  stopTask(name: string): Promise<Outcome> {
    return Promise.resolve(this.kernel.stopTask(name));
  }
  setCredentials(name: string, credentials: Credentials): Promise<Outcome> {
    return Promise.resolve(this.kernel.setCredentials(name, credentials));
  }
  moveTask(name: string, cgroup: string): Promise<Outcome> {
    return Promise.resolve(this.kernel.moveTask(name, cgroup));
  }
  allocMemory(task: string, bytes: number): Promise<Outcome> {
    return Promise.resolve(this.kernel.allocMemory(task, bytes));
  }
  lockMemory(task: string, bytes: number, via: 'mlock' | 'io_uring'): Promise<Outcome> {
    return Promise.resolve(this.kernel.lockMemory(task, bytes, via));
  }
  createMap(task: string, name: string, spec: MapSpec): Promise<Outcome> {
    return Promise.resolve(this.kernel.createMap(task, name, spec));
  }
  /** The model has no per-CPU allocator timing: options change nothing. */
  updateMap(map: string, count: number, context: UpdateContext, cpu: number, _options?: UpdateOptions): Promise<Outcome> {
    return Promise.resolve(this.kernel.updateMap(map, count, context, cpu));
  }
  deleteFromMap(map: string, count: number, cpu: number): Promise<Outcome> {
    return Promise.resolve(this.kernel.deleteFromMap(map, count, cpu));
  }
  loadProg(task: string, name: string, insns: number): Promise<Outcome> {
    return Promise.resolve(this.kernel.loadProg(task, name, insns));
  }
  close(kind: 'map' | 'prog', name: string): Promise<Outcome> {
    return Promise.resolve(this.kernel.close(kind, name));
  }
  drainStocks(path: string): Promise<Outcome> {
    return Promise.resolve(this.kernel.drainStocks(path));
  }
  snapshot(): Promise<KnownSnapshot> {
    return Promise.resolve(this.kernel.snapshot());
  }
  dispose(): Promise<void> {
    return Promise.resolve();
  }
}
