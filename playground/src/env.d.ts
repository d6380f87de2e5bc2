/** Vite's `?raw` imports: the file's text. */
declare module '*.model?raw' {
  const text: string;
  export default text;
}
