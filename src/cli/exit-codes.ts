export const EXIT = {
  ok: 0,
  stepFailed: 1,
  usage: 2,
  /** A bug in mlc-build (EX_SOFTWARE). */
  internal: 70,
  interrupted: 130,
} as const;
