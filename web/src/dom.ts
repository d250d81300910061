/**
 * A few DOM helpers. Text always goes in as text (textContent), never as HTML: cgroup paths,
 * map names and commands come from the machine.
 */
import { escapeText } from '../../src/vocab/escape.js';

type Child = Node | string | null | undefined | false;

/** An element with attributes and children. `class` and `data-*`, `aria-*` are attributes. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Readonly<Record<string, string | number | boolean | undefined>> = {},
  ...children: readonly Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === false) continue;
    el.setAttribute(name, value === true ? '' : String(value));
  }
  append(el, ...children);
  return el;
}

/**
 * Appends children, skipping empty ones. Text is shown escaped where it holds control or bidi
 * characters (src/vocab/escape.ts): a process named `‮evil` would otherwise show reversed.
 */
export function append(parent: Node, ...children: readonly Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    parent.appendChild(typeof c === 'string' ? document.createTextNode(escapeText(c)) : c);
  }
}

/** Sets an element's text, escaped as {@link append} does. */
export function setText(el: HTMLElement, text: string): void {
  el.textContent = escapeText(text);
}

/** Replaces an element's children. */
export function replace(parent: Element, ...children: readonly Child[]): void {
  parent.replaceChildren();
  append(parent, ...children);
}

/** The element with this id, or a clear error when the page's HTML lacks it. */
export function byId(id: string): HTMLElement {
  const el = document.getElementById(id);
  if (!el) throw new Error(`the page has no element #${id}`);
  return el;
}

/** The element with this id, which must be a `tag` (`byTag('sim-text', 'textarea')`). */
export function byTag<K extends keyof HTMLElementTagNameMap>(id: string, tag: K): HTMLElementTagNameMap[K] {
  const el = byId(id);
  if (el.localName !== tag) throw new Error(`#${id} is a <${el.localName}>, not a <${tag}>`);
  return el as HTMLElementTagNameMap[K];
}

/** HTML-escaped text, for the one place HTML is built as a string: chart tooltips. */
export function escapeHtml(text: string): string {
  // Control and bidi characters first, as text shown anywhere else (append).
  return escapeText(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
