import { describe, expect, it } from 'vitest';
import { labelOf } from './labels.js';

describe('labelOf', () => {
  it.each([
    ['/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod0f1c2d3e_4a5b_6c7d_8e9f_0a1b2c3d4e5f.slice', 'pod', 'pod 0f1c2d3e-4a5b-6c7d-8e9f-0a1b2c3d4e5f'],
    [
      '/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod0f1c2d3e_4a5b_6c7d_8e9f_0a1b2c3d4e5f.slice/cri-containerd-3a9d2c1b5e07f00d3a9d2c1b5e07f00d3a9d2c1b5e07f00d3a9d2c1b5e07f00d.scope',
      'container',
      'container 3a9d2c1b5e07',
    ],
    ['/kubepods/burstable/pod0f1c2d3e-4a5b-6c7d-8e9f-0a1b2c3d4e5f', 'pod', 'pod 0f1c2d3e-4a5b-6c7d-8e9f-0a1b2c3d4e5f'],
    ['/kubepods/burstable/pod0f1c2d3e-4a5b-6c7d-8e9f-0a1b2c3d4e5f/3a9d2c1b5e07f00d3a9d2c1b5e07f00d3a9d2c1b5e07f00d3a9d2c1b5e07f00d', 'container', 'container 3a9d2c1b5e07'],
    ['/system.slice/sshd.service', 'service', 'service sshd'],
    ['/user.slice/user-1000.slice/session-2.scope', 'scope', 'scope session-2'],
    ['/system.slice', 'slice', 'slice system'],
    ['/pods/agent', 'other', ''],
  ])('%s is a %s', (path, kind, text) => {
    expect(labelOf(path)).toEqual({ kind, text });
  });
});
