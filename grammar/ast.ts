import type { Span } from '../diagnostics/span.js';

/** The typed AST. Every node carries the span it came from; nodes are never mutated after parsing. */
export interface Node {
  readonly span: Span;
}
export interface Ident extends Node {
  readonly name: string;
}

export type Expr = NumberLit | StringLit | BoolLit | SizeLit | NameRef | Call | Binary | Unary | ListExpr | RepeatExpr;
export interface NumberLit extends Node {
  readonly kind: 'num';
  readonly value: number;
  readonly text: string;
  readonly isInt: boolean;
}
export interface StringLit extends Node {
  readonly kind: 'str';
  readonly value: string;
}
export interface BoolLit extends Node {
  readonly kind: 'bool';
  readonly value: boolean;
}
export interface SizeLit extends Node {
  readonly kind: 'size';
  readonly bytes: number;
  readonly text: string;
}
export interface NameRef extends Node {
  readonly kind: 'name';
  readonly name: string;
}
export interface Call extends Node {
  readonly kind: 'call';
  readonly callee: Ident;
  readonly args: readonly Arg[];
}
export type BinaryOp = '+' | '-' | '*' | '/' | '@' | '**';
export interface Binary extends Node {
  readonly kind: 'binary';
  readonly op: BinaryOp;
  readonly left: Expr;
  readonly right: Expr;
}
export interface Unary extends Node {
  readonly kind: 'unary';
  readonly op: '-';
  readonly operand: Expr;
}
export interface ListExpr extends Node {
  readonly kind: 'list';
  readonly items: readonly Expr[];
}
/** `repeat(n) Block(x, ...)`: the block's first argument is threaded through n copies. */
export interface RepeatExpr extends Node {
  readonly kind: 'repeat';
  readonly count: Expr;
  readonly call: Call;
}

export interface Arg extends Node {
  readonly name?: Ident;
  readonly value: Expr;
}
export interface Annotation extends Node {
  readonly name: Ident;
  readonly args: readonly Arg[];
}

/** One dim of a tensor type: a size expression and the mesh axes it is split over (`d @tp`, `B@(dp,sp)`). */
export interface DimNode extends Node {
  readonly size: Expr;
  readonly axes: readonly Ident[];
}
export interface TensorTypeNode extends Node {
  readonly dtype: Ident;
  readonly dims: readonly DimNode[];
  /** `partial(tp)`: a pending sum over these mesh axes. */
  readonly partial: readonly Ident[];
}

export type Stmt = ParamStmt | LetStmt | ReturnStmt;
export interface ParamStmt extends Node {
  readonly kind: 'param';
  readonly name: Ident;
  readonly type: TensorTypeNode;
  readonly init?: Expr;
  readonly annotations: readonly Annotation[];
  readonly doc?: string;
}
/** `let a, b = e` introduces names; `a = e` (isLet false) rebinds existing ones. */
export interface LetStmt extends Node {
  readonly kind: 'let';
  readonly isLet: boolean;
  readonly names: readonly Ident[];
  readonly value: Expr;
  readonly annotations: readonly Annotation[];
  readonly doc?: string;
}
export interface ReturnStmt extends Node {
  readonly kind: 'return';
  readonly values: readonly Expr[];
  readonly doc?: string;
}

export interface Entry extends Node {
  readonly name: Ident;
  readonly value: Expr;
  readonly doc?: string;
}
export interface MeshAxis extends Node {
  readonly name: Ident;
  readonly size: Expr;
}

export type Item = MeshDecl | ConfigDecl | PresetDecl | FunctionDecl | SectionDecl;
export interface MeshDecl extends Node {
  readonly kind: 'mesh';
  readonly name: Ident;
  readonly axes: readonly MeshAxis[];
  readonly doc?: string;
}
export interface ConfigDecl extends Node {
  readonly kind: 'config';
  readonly name: Ident;
  readonly entries: readonly Entry[];
  readonly doc?: string;
}
/** `preset tiny for GPT2 { d = 128 }`: named overrides of config constants. */
export interface PresetDecl extends Node {
  readonly kind: 'preset';
  readonly name: Ident;
  readonly base?: Ident;
  readonly entries: readonly Entry[];
  readonly doc?: string;
}
export interface ParamDecl extends Node {
  readonly name: Ident;
  readonly type: TensorTypeNode;
}
/** Blocks (reusable) and models (entry points) share one shape. */
export interface FunctionDecl extends Node {
  readonly kind: 'block' | 'model';
  readonly name: Ident;
  readonly params: readonly ParamDecl[];
  readonly returns: readonly TensorTypeNode[];
  readonly where: readonly Entry[];
  readonly body: readonly Stmt[];
  readonly doc?: string;
  readonly bodySpan: Span;
}
export interface SectionDecl extends Node {
  readonly kind: 'train' | 'infer';
  readonly target: Ident;
  readonly entries: readonly Entry[];
  readonly doc?: string;
}

export interface Comment {
  readonly text: string;
  readonly span: Span;
}
export interface Program {
  readonly items: readonly Item[];
  readonly comments: readonly Comment[];
  readonly file: string;
}
