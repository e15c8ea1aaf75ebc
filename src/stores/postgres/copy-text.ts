const SPECIAL = /[\\\n\r\t]/;
const ESCAPE: Readonly<Record<string, string>> = { '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/**
 * One value in the text format of `COPY ... FROM STDIN`, where a tab ends a column and a newline a row: the
 * backslash, newline, carriage return and tab are escaped, and most values, having none, pass untouched.
 */
export function copyText(value: string): string {
  return SPECIAL.test(value) ? value.replace(/[\\\n\r\t]/g, (c) => ESCAPE[c] ?? c) : value;
}
