// Sizes as people read them, the same in the dashboard and the CLI.

/** Decimal units, as disk vendors print them: 500107862016 → "500 GB". */
export function decimalBytes(n: number): string {
  const units = ["B", "kB", "MB", "GB", "TB", "PB"];
  let i = 0;
  let v = n;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${+v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}
