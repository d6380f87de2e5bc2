import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // WebGPU tests share one llvmpipe adapter and two cores: run files one at a time.
    fileParallelism: false,
  },
});
