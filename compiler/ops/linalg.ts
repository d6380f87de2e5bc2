import { dimConst, dimEquals, dimValue, type Dim } from '../dims.js';
import { printDim, printType } from '../types.js';
import { requireFloat, sameDtype, t, type OpDef } from './signature.js';

export const linalgOps: OpDef[] = [
  {
    name: 'matmul', cls: 'out-fusable',
    doc: 'matmul(a, b) or a @ b: [..., M, K] @ [..., K, N] → [..., M, N]; leading (batch) dims broadcast.',
    args: [{ name: 'a', kind: 'tensor' }, { name: 'b', kind: 'tensor' }],
    infer: (c) => {
      const a = c.tensor('a');
      const b = c.tensor('b');
      if (a.dims.length < 2 || b.dims.length < 2) {
        return c.error('MDC0201', 'matmul', 'operands of rank ≥ 2', `${printType(a)} @ ${printType(b)}`);
      }
      if (!sameDtype(c, a, b) || !requireFloat(c, 'a', a)) return undefined;
      const ka = a.dims[a.dims.length - 1]!;
      const kb = b.dims[b.dims.length - 2]!;
      if (!dimEquals(ka, kb)) return c.error('MDC0203', printType(a), printType(b), printDim(ka), printDim(kb));
      const ba = a.dims.slice(0, -2);
      const bb = b.dims.slice(0, -2);
      const n = Math.max(ba.length, bb.length);
      const batch: Dim[] = [];
      for (let i = 0; i < n; i++) {
        const x = ba[ba.length - n + i] ?? dimConst(1);
        const y = bb[bb.length - n + i] ?? dimConst(1);
        if (dimEquals(x, y) || dimValue(y) === 1) batch.push(x);
        else if (dimValue(x) === 1) batch.push(y);
        else return c.error('MDC0202', printType(a), printType(b), printDim(x), printDim(y));
      }
      return [t(a.dtype, [...batch, a.dims[a.dims.length - 2]!, b.dims[b.dims.length - 1]!])];
    },
  },
];
