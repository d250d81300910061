import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { quote } from '../vocab/fields.js';
import { inOurWords } from './main.js';

describe("commander's argument errors in bpfmem's words", () => {
  it('a refused choice names the option and the value as bpfmem quotes values, whatever the value', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200, unit: 'binary' }), (value) => {
        const said = inOurWords(`option '--sort <key>' argument '${value}' is invalid. Allowed choices are id, name, type.`);
        expect(said).toBe(`--sort ${quote(value)}: expected one of id, name, type${said.endsWith('?)') ? said.slice(said.indexOf(' (did you mean')) : ''}`);
        // No control character of the value comes through unquoted.
        for (let i = 0; i < said.length; i++) expect(said.charCodeAt(i) < 0x20 || said.charCodeAt(i) === 0x7f).toBe(false);
      }),
      { numRuns: 500 },
    );
  });

  it('a missing value and extra arguments, and anything else as it came', () => {
    expect(inOurWords("option '--sort <key>' argument missing")).toBe('--sort needs a value: --sort <key>');
    // An option with a short flag is named by its long one.
    expect(inOurWords("option '-d, --interval <duration>' argument missing")).toBe('--interval needs a value: --interval <duration>');
    expect(inOurWords("option '-o, --output <format>' argument 'x' is invalid. Allowed choices are json.")).toBe('--output "x": expected one of json');
    expect(inOurWords("option '--arm-below <size>' cannot be used with option '--always'")).toBe('--arm-below and --always cannot be given together');
    expect(inOurWords("too many arguments for 'simulate'. Expected 1 argument but got 3.")).toBe('simulate takes 1 argument (got 3)');
    expect(inOurWords("too many arguments for 'maps'. Expected 0 arguments but got 1.")).toBe('maps takes no arguments (got 1)');
    expect(inOurWords("unknown option '--x'")).toBe("unknown option '--x'");
  });
});
