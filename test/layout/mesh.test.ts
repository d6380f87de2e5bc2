import { describe, expect, it } from 'vitest';
import {
  axisSize,
  blockIndex,
  blockStart,
  coordsOf,
  deviceOf,
  groupOf,
  groupsOf,
  localShape,
  meshDevices,
  numel,
  splitCount,
  stridesOf,
  type BlockLayout,
  type MeshAxes,
} from '../../layout/mesh.js';

const mesh24: MeshAxes = {
  axes: [
    { name: 'dp', size: 2 },
    { name: 'tp', size: 4 },
  ],
};
const mesh232: MeshAxes = {
  axes: [
    { name: 'a', size: 2 },
    { name: 'b', size: 3 },
    { name: 'c', size: 2 },
  ],
};

describe('strides and element counts', () => {
  it('numel of edge shapes', () => {
    expect(numel([])).toBe(1);
    expect(numel([0])).toBe(0);
    expect(numel([2, 0, 3])).toBe(0);
    expect(numel([5])).toBe(5);
    expect(numel([2, 3, 4])).toBe(24);
  });
  it('row-major strides', () => {
    expect(stridesOf([])).toEqual([]);
    expect(stridesOf([0])).toEqual([1]);
    expect(stridesOf([5])).toEqual([1]);
    expect(stridesOf([2, 3, 4])).toEqual([12, 4, 1]);
    expect(stridesOf([2, 0, 3])).toEqual([0, 3, 1]);
  });
});

describe('device coordinates', () => {
  it('numbers devices row-major over the axes', () => {
    expect(meshDevices(mesh24)).toBe(8);
    expect(meshDevices({ axes: [] })).toBe(1);
    expect(coordsOf(mesh24, 5)).toEqual({ dp: 1, tp: 1 });
    expect(coordsOf(mesh24, 3)).toEqual({ dp: 0, tp: 3 });
    expect(coordsOf(mesh232, 7)).toEqual({ a: 1, b: 0, c: 1 });
    expect(deviceOf(mesh24, { dp: 1, tp: 3 })).toBe(7);
    expect(deviceOf(mesh232, { a: 0, b: 2, c: 1 })).toBe(5);
    expect(deviceOf(mesh24, { tp: 2 })).toBe(2); // a missing axis is coordinate 0
  });
  it('round-trips every device', () => {
    for (const m of [mesh24, mesh232])
      for (let d = 0; d < meshDevices(m); d++) {
        expect(deviceOf(m, coordsOf(m, d))).toBe(d);
      }
  });
  it('names unknown axes', () => {
    expect(axisSize(mesh24, 'tp')).toBe(4);
    expect(() => axisSize(mesh24, 'pp')).toThrow(/no axis 'pp'/);
    expect(() => groupsOf(mesh24, 'pp')).toThrow(/no axis 'pp'/);
  });
});

describe('axis groups', () => {
  it('lists the groups of an axis, each by coordinate', () => {
    expect(groupsOf(mesh24, 'tp')).toEqual([
      [0, 1, 2, 3],
      [4, 5, 6, 7],
    ]);
    expect(groupsOf(mesh24, 'dp')).toEqual([
      [0, 4],
      [1, 5],
      [2, 6],
      [3, 7],
    ]);
    expect(groupsOf(mesh232, 'b')).toEqual([
      [0, 2, 4],
      [1, 3, 5],
      [6, 8, 10],
      [7, 9, 11],
    ]);
    expect(groupOf(mesh232, 9, 'b')).toEqual([7, 9, 11]);
  });
  it('partitions the devices, each device in the group groupOf gives', () => {
    for (const m of [mesh24, mesh232])
      for (const axis of m.axes) {
        const groups = groupsOf(m, axis.name);
        expect(groups.flat().sort((x, y) => x - y)).toEqual(Array.from({ length: meshDevices(m) }, (_, i) => i));
        expect(groups.length).toBe(meshDevices(m) / axis.size);
        for (const g of groups) for (const d of g) expect(groupOf(m, d, axis.name)).toEqual(g);
      }
  });
});

describe('blocks', () => {
  const split: BlockLayout = { axes: [['tp'], ['dp']], partial: [] };
  const twoAxes: BlockLayout = { axes: [['dp', 'tp'], []], partial: [] };
  it('local shapes and block starts', () => {
    expect(splitCount(mesh24, ['dp', 'tp'])).toBe(8);
    expect(splitCount(mesh24, [])).toBe(1);
    expect(localShape(mesh24, [8, 6], split)).toEqual([2, 3]);
    expect(blockStart(mesh24, split, [2, 3], 5)).toEqual([2, 3]);
    expect(blockStart(mesh24, split, [2, 3], 6)).toEqual([4, 3]);
    expect(localShape(mesh24, [16, 3], twoAxes)).toEqual([2, 3]);
    // Device 5: dp = 1, tp = 1, so block 1·4 + 1 = 5 of dim 0, the dp axis major.
    expect(blockIndex(mesh24, twoAxes, 0, coordsOf(mesh24, 5))).toBe(5);
    expect(blockStart(mesh24, twoAxes, [2, 3], 5)).toEqual([10, 0]);
    expect(localShape(mesh24, [], { axes: [], partial: ['tp'] })).toEqual([]);
    expect(blockStart(mesh24, { axes: [], partial: ['tp'] }, [], 3)).toEqual([]);
  });
  it('tile the global shape: each element held by devices / blocks devices', () => {
    const cases: [MeshAxes, readonly number[], BlockLayout][] = [
      [mesh24, [8, 6], split],
      [mesh24, [16, 3], twoAxes],
      [mesh24, [4, 8], { axes: [[], ['tp']], partial: ['dp'] }],
      [mesh232, [6, 4, 2], { axes: [['b', 'a'], ['c'], []], partial: [] }],
    ];
    for (const [m, shape, l] of cases) {
      const local = localShape(m, shape, l);
      const blocks = l.axes.reduce((n, axes) => n * splitCount(m, axes), 1);
      const held = new Array<number>(numel(shape)).fill(0);
      const st = stridesOf(shape);
      for (let d = 0; d < meshDevices(m); d++) {
        const start = blockStart(m, l, local, d);
        for (let i = 0; i < numel(local); i++) {
          const idx = local.map((s, k) => Math.floor(i / stridesOf(local)[k]!) % s);
          held[idx.reduce((o, x, k) => o + (x + start[k]!) * st[k]!, 0)]!++;
        }
      }
      expect(held).toEqual(new Array<number>(numel(shape)).fill(meshDevices(m) / blocks));
    }
  });
});
