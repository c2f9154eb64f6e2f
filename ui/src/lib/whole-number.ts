/** Digits only: what Number() and parseFloat() would also read from "1,000" (1), "30s" (30) or "0x1F90" (8080) is refused. */
const DIGITS = /^\d{1,15}$/;

/**
 * A form field's whole number as the operator typed it (spaces around it allowed), or as the api gave
 * it; null for anything else, so that what is saved is never another number than the one typed.
 */
export function parseWholeNumber(value: string | number | null | undefined): number | null {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value >= 0 ? value : null;
  if (typeof value !== 'string') return null;
  const typed = value.trim();
  return DIGITS.test(typed) ? Number(typed) : null;
}
