/**
 * The part of VS Code's extension API this extension uses (@types/vscode is not a
 * dependency of mdc). The names and shapes are VS Code's; VS Code supplies the module
 * at run time, so the bundle keeps `vscode` external.
 */
declare module 'vscode' {
  export interface Disposable {
    dispose(): unknown;
  }
  export interface Uri {
    readonly scheme: string;
    readonly fsPath: string;
  }
  export interface TextDocument {
    readonly uri: Uri;
    readonly languageId: string;
    readonly isDirty: boolean;
    save(): Thenable<boolean>;
  }
  export interface TextEditor {
    readonly document: TextDocument;
  }
  export interface OutputChannel extends Disposable {
    readonly name: string;
    append(value: string): void;
    appendLine(value: string): void;
    clear(): void;
    show(preserveFocus?: boolean): void;
  }
  export interface WorkspaceFolder {
    readonly uri: Uri;
    readonly name: string;
  }
  export interface WorkspaceConfiguration {
    get<T>(section: string, defaultValue: T): T;
  }
  export interface ExtensionContext {
    readonly subscriptions: Disposable[];
    readonly extensionPath: string;
  }
  export namespace commands {
    function registerCommand(command: string, callback: (...args: unknown[]) => unknown): Disposable;
  }
  export namespace window {
    const activeTextEditor: TextEditor | undefined;
    function createOutputChannel(name: string): OutputChannel;
    function showErrorMessage(message: string): Thenable<string | undefined>;
    function showWarningMessage(message: string): Thenable<string | undefined>;
  }
  export namespace workspace {
    const workspaceFolders: readonly WorkspaceFolder[] | undefined;
    function getConfiguration(section?: string): WorkspaceConfiguration;
  }
}
