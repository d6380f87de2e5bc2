import ts from 'typescript';
import type { SizeDim } from '../runtime/dynamic-sizes.js';
import type { Plan, PlanIO } from '../runtime/plan.js';

const f = ts.factory;

export interface HostModule {
  readonly ts: string;
  readonly dts: string;
  /** The module as ES2022 JavaScript, to import where TypeScript is not compiled. */
  readonly js: string;
}

/**
 * Names a model's class may not take: JavaScript's reserved words, TypeScript's built-in
 * type names, and every name the module declares, imports or refers to (a class named
 * `Promise` or `PlanRunner` would shadow it and the module would not type-check).
 */
const TAKEN = new Set(
  [
    'break case catch class const continue debugger default delete do else enum export extends false finally for function if import in',
    'instanceof new null return super switch this throw true try typeof var void while with implements interface let package private',
    'protected public static yield await arguments eval any unknown never number string boolean symbol object bigint undefined',
    'PlanRunner RunnerOptions PlanKernels HostArray HostModel LoadOptions JSON plan inputShapes outputShapes GPUDevice Promise Record Int32Array Float32Array',
    'SizeDim sizeDims',
  ]
    .join(' ')
    .split(' '),
);
/**
 * The class name of model `name`: itself when it is a free identifier, else with a leading
 * `_` (and `_` for characters an identifier cannot hold), so the module always type-checks.
 */
export function hostClassName(name: string): string {
  const id = /^[A-Za-z_$][\w$]*$/.test(name) ? name : `_${name.replace(/[^\w$]/g, '_')}`;
  return ['', 'Inputs', 'Outputs', 'Sizes', 'SizedOutputs'].some((s) => TAKEN.has(`${id}${s}`)) ? `_${id}` : id;
}
/** An object literal's key for `name`: computed for `__proto__`, which as a plain key would set the prototype instead. */
const key = (name: string) => (name === '__proto__' ? f.createComputedPropertyName(f.createStringLiteral(name)) : f.createStringLiteral(name));
const readonlyMod = [f.createModifier(ts.SyntaxKind.ReadonlyKeyword)];
const exportMod = [f.createModifier(ts.SyntaxKind.ExportKeyword)];

function arrayType(io: PlanIO): ts.TypeNode {
  return f.createTypeReferenceNode(io.dtype === 'i32' || io.dtype === 'bool' ? 'Int32Array' : 'Float32Array');
}

/** `readonly [2, 16, 512]`: the shape as a literal tuple type. */
function shapeType(shape: readonly number[]): ts.TypeNode {
  const tuple = f.createTupleTypeNode(shape.map((d) => f.createLiteralTypeNode(f.createNumericLiteral(d))));
  return f.createTypeOperatorNode(ts.SyntaxKind.ReadonlyKeyword, ts.setEmitFlags(tuple, ts.EmitFlags.SingleLine));
}

function withDoc<T extends ts.Node>(node: T, text: string): T {
  return ts.addSyntheticLeadingComment(node, ts.SyntaxKind.MultiLineCommentTrivia, `* ${text} `, true);
}

/** `sized`: outputs at run-time sizes, whose shapes are numbers rather than the compiled literals. */
function ioInterface(name: string, ios: readonly PlanIO[], outputs: boolean, sized = false): ts.InterfaceDeclaration {
  return f.createInterfaceDeclaration(
    exportMod,
    name,
    undefined,
    undefined,
    ios.map((io) => {
      const type = outputs
        ? f.createTypeLiteralNode([
            f.createPropertySignature(
              readonlyMod,
              'shape',
              undefined,
              sized
                ? f.createTypeOperatorNode(ts.SyntaxKind.ReadonlyKeyword, f.createArrayTypeNode(f.createKeywordTypeNode(ts.SyntaxKind.NumberKeyword)))
                : shapeType(io.shape),
            ),
            f.createPropertySignature(readonlyMod, 'data', undefined, arrayType(io)),
          ])
        : arrayType(io);
      return withDoc(f.createPropertySignature(readonlyMod, f.createStringLiteral(io.name), undefined, type), `${io.dtype}[${io.shape.join(', ')}]`);
    }),
  );
}

function shapesConst(name: string, ios: readonly PlanIO[]): ts.VariableStatement {
  const obj = f.createObjectLiteralExpression(
    ios.map((io) => f.createPropertyAssignment(key(io.name), f.createArrayLiteralExpression(io.shape.map((d) => f.createNumericLiteral(d))))),
  );
  return f.createVariableStatement(
    exportMod,
    f.createVariableDeclarationList(
      [f.createVariableDeclaration(name, undefined, undefined, f.createAsExpression(obj, f.createTypeReferenceNode('const')))],
      ts.NodeFlags.Const,
    ),
  );
}

/**
 * The typed host module for a plan, built with the TypeScript compiler API: input and
 * output interfaces whose shapes are literal types, and a class that loads the plan
 * onto a GPUDevice and runs it. The `.d.ts` comes from the same source.
 */
export function emitHost(plan: Plan, planFile: string, runtimeModule = 'mdc/runtime', dims: readonly SizeDim[] = []): HostModule {
  const cls = hostClassName(plan.model);
  const inT = `${cls}Inputs`;
  const outT = `${cls}Outputs`;
  // A module with the record of its dims (driver/shrink.ts) also runs at smaller sizes; without one it is as before.
  const sized = dims.length > 0;
  const sizesT = `${cls}Sizes`;
  const sizedT = `${cls}SizedOutputs`;
  const any = (e: ts.Expression, t: string) =>
    f.createAsExpression(f.createAsExpression(e, f.createKeywordTypeNode(ts.SyntaxKind.UnknownKeyword)), f.createTypeReferenceNode(t));
  const self = (name: string) => f.createPropertyAccessExpression(f.createPropertyAccessExpression(f.createThis(), 'model'), name);
  const method = (name: string, params: ts.ParameterDeclaration[], type: ts.TypeNode, body: ts.Expression, doc: string, mods?: ts.Modifier[]) =>
    withDoc(f.createMethodDeclaration(mods, undefined, name, undefined, undefined, params, type, f.createBlock([f.createReturnStatement(body)], true)), doc);
  const param = (name: string, type: string, optional = false) =>
    f.createParameterDeclaration(
      undefined,
      undefined,
      name,
      optional ? f.createToken(ts.SyntaxKind.QuestionToken) : undefined,
      f.createTypeReferenceNode(type),
    );
  const promise = (t: ts.TypeNode) => f.createTypeReferenceNode('Promise', [t]);
  const names = [
    ['HostModel', false],
    ['LoadOptions', true],
    ['PlanKernels', true],
    ['HostArray', true],
    ...(sized ? ([['SizeDim', true]] as const) : []),
  ] as const;
  const statements: ts.Statement[] = [
    f.createImportDeclaration(
      undefined,
      f.createImportClause(
        false,
        undefined,
        f.createNamedImports(names.map(([n, typeOnly]) => f.createImportSpecifier(typeOnly, undefined, f.createIdentifier(n)))),
      ),
      f.createStringLiteral(runtimeModule),
    ),
    withDoc(shapesConst('inputShapes', plan.inputs), `Input shapes of ${plan.model}.`),
    withDoc(shapesConst('outputShapes', plan.outputs), `Output shapes of ${plan.model}.`),
    ioInterface(inT, plan.inputs, false),
    ioInterface(outT, plan.outputs, true),
    ...(sized ? sizeStatements(plan, dims, sizesT, sizedT) : []),
    withDoc(
      f.createClassDeclaration(exportMod, cls, undefined, undefined, [
        f.createConstructorDeclaration(
          [f.createModifier(ts.SyntaxKind.PrivateKeyword)],
          [
            f.createParameterDeclaration(
              [f.createModifier(ts.SyntaxKind.PrivateKeyword), f.createModifier(ts.SyntaxKind.ReadonlyKeyword)],
              undefined,
              'model',
              undefined,
              f.createTypeReferenceNode('HostModel'),
            ),
          ],
          f.createBlock([]),
        ),
        method(
          'load',
          [param('device', 'GPUDevice'), param('options', 'LoadOptions', true)],
          promise(f.createTypeReferenceNode(cls)),
          f.createNewExpression(f.createIdentifier(cls), undefined, [
            f.createAwaitExpression(
              f.createCallExpression(f.createPropertyAccessExpression(f.createIdentifier('HostModel'), 'load'), undefined, [
                f.createIdentifier('device'),
                f.createIdentifier('plan'),
                f.createIdentifier('options'),
                ...(sized ? [f.createIdentifier('sizeDims')] : []),
              ]),
            ),
          ]),
          `Validates the plan, creates buffers on \`device\`, compiles the plan's ${plan.kernels.length} kernels (pipeline creation, timed in \`kernels\`) ` +
            'and uploads the parameters: from `options.checkpoint` (safetensors bytes; `options.weightsMap` for Hugging Face names), ' +
            "`options.params`, or else initialised from the plan's seed.",
          [f.createModifier(ts.SyntaxKind.StaticKeyword), f.createModifier(ts.SyntaxKind.AsyncKeyword)],
        ),
        method(
          'warmup',
          [],
          promise(f.createKeywordTypeNode(ts.SyntaxKind.NumberKeyword)),
          f.createCallExpression(self('warmup'), undefined, []),
          'Runs every kernel once on zero inputs so that the first real run pays no first-use costs; resolves to its milliseconds.',
        ),
        withDoc(
          f.createGetAccessorDeclaration(
            undefined,
            'kernels',
            [],
            f.createTypeReferenceNode('PlanKernels'),
            f.createBlock([f.createReturnStatement(self('kernels'))], true),
          ),
          'How many kernels the plan has and how long `load` took to compile them.',
        ),
        ...(sized
          ? [
              withDoc(runSignature([param('inputs', inT)], promise(f.createTypeReferenceNode(outT))), 'Runs one forward pass at the compiled sizes.'),
              withDoc(
                runSignature([param('inputs', inT), param('sizes', sizesT)], promise(f.createTypeReferenceNode(sizedT))),
                `Runs one forward pass at \`sizes\` (each from 1 to its compiled size; inputs of the shapes at those sizes): ` +
                  'the inputs are padded to the compiled shapes and the outputs cut back. A dim the compiler found cannot shrink is refused with a SizeError saying why.',
              ),
            ]
          : []),
        method(
          'run',
          sized ? [param('inputs', inT), param('sizes', sizesT, true)] : [param('inputs', inT)],
          promise(sized ? f.createUnionTypeNode([f.createTypeReferenceNode(outT), f.createTypeReferenceNode(sizedT)]) : f.createTypeReferenceNode(outT)),
          any(
            f.createParenthesizedExpression(
              f.createAwaitExpression(
                f.createCallExpression(self('run'), undefined, [
                  any(f.createIdentifier('inputs'), 'Record<string, HostArray>'),
                  ...(sized ? [any(f.createIdentifier('sizes'), 'Record<string, number>')] : []),
                ]),
              ),
            ),
            outT,
          ),
          'Runs one forward pass.',
          [f.createModifier(ts.SyntaxKind.AsyncKeyword)],
        ),
        withDoc(
          f.createMethodDeclaration(
            undefined,
            undefined,
            'destroy',
            undefined,
            undefined,
            [],
            f.createKeywordTypeNode(ts.SyntaxKind.VoidKeyword),
            f.createBlock([f.createExpressionStatement(f.createCallExpression(self('destroy'), undefined, []))], true),
          ),
          'Releases the GPU buffers.',
        ),
      ]),
      `${plan.model}, compiled by mdc from ${plan.source || 'a .model file'}.`,
    ),
    f.createExportDefault(f.createIdentifier(cls)),
    withDoc(
      f.createVariableStatement(
        undefined,
        f.createVariableDeclarationList(
          [
            f.createVariableDeclaration(
              'plan',
              undefined,
              f.createKeywordTypeNode(ts.SyntaxKind.UnknownKeyword),
              f.createCallExpression(f.createPropertyAccessExpression(f.createIdentifier('JSON'), 'parse'), undefined, [
                f.createStringLiteral(JSON.stringify(plan)),
              ]),
            ),
          ],
          ts.NodeFlags.Const,
        ),
      ),
      `The plan (${planFile} beside this module holds the same), inlined so that the module needs no JSON import and no bundler setup.`,
    ),
  ];
  const file = f.createSourceFile(statements, f.createToken(ts.SyntaxKind.EndOfFileToken), ts.NodeFlags.None);
  const printer = ts.createPrinter({ newLine: ts.NewLineKind.LineFeed });
  const header = `// Generated by mdc from ${plan.source || 'a .model file'}. Do not edit.\n`;
  const source = header + printer.printFile(file);
  const compilerOptions = { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext };
  const dts = ts.transpileDeclaration(source, { fileName: `${plan.model}.ts`, compilerOptions, reportDiagnostics: false }).outputText;
  const js = ts.transpileModule(source, { fileName: `${plan.model}.ts`, compilerOptions, reportDiagnostics: false }).outputText;
  return { ts: source, dts, js };
}

/** An overload signature of `run` (no body). */
function runSignature(params: ts.ParameterDeclaration[], type: ts.TypeNode): ts.MethodDeclaration {
  return f.createMethodDeclaration(undefined, undefined, 'run', undefined, undefined, params, type, undefined);
}

/**
 * The record of the model's dims (`sizeDims`, which HostModel.load takes), the type of a
 * run's sizes (one optional number per dim, documented with its range or why it cannot
 * shrink) and the outputs at run-time sizes.
 */
function sizeStatements(plan: Plan, dims: readonly SizeDim[], sizesT: string, sizedT: string): ts.Statement[] {
  const record = f.createVariableStatement(
    exportMod,
    f.createVariableDeclarationList(
      [
        f.createVariableDeclaration(
          'sizeDims',
          undefined,
          f.createTypeOperatorNode(ts.SyntaxKind.ReadonlyKeyword, f.createArrayTypeNode(f.createTypeReferenceNode('SizeDim'))),
          f.createCallExpression(f.createPropertyAccessExpression(f.createIdentifier('JSON'), 'parse'), undefined, [
            f.createStringLiteral(JSON.stringify(dims)),
          ]),
        ),
      ],
      ts.NodeFlags.Const,
    ),
  );
  const sizes = f.createInterfaceDeclaration(
    exportMod,
    sizesT,
    undefined,
    undefined,
    dims.map((d) =>
      withDoc(
        f.createPropertySignature(
          readonlyMod,
          /^[A-Za-z_$][\w$]*$/.test(d.name) ? d.name : key(d.name),
          f.createToken(ts.SyntaxKind.QuestionToken),
          f.createKeywordTypeNode(ts.SyntaxKind.NumberKeyword),
        ),
        d.fixed ? `Only ${d.compiled}, as compiled: ${d.fixed.replace(/\*\//g, '* /')}.` : `From 1 to ${d.compiled} (compiled at ${d.compiled}).`,
      ),
    ),
  );
  return [
    withDoc(record, `${plan.model}'s dims: which input and output axes each is, its compiled size, and why it cannot run smaller when it cannot.`),
    withDoc(sizes, `Sizes for \`run\`: a dim left out runs at its compiled size.`),
    withDoc(ioInterface(sizedT, plan.outputs, true, true), `${plan.model}'s outputs at the sizes a run asked for.`),
  ];
}
