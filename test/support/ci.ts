/**
 * Whether the tests run under CI (`CI` set to anything but '', '0' or 'false'). Under CI
 * nothing that decides what a green run means may be skipped or rewritten: a missing
 * adapter or adapter feature fails, snapshots are compared and never written.
 */
export const UNDER_CI = !['', '0', 'false'].includes((process.env['CI'] ?? '').trim().toLowerCase());
