export const EXIT = {
  ok: 0,
  stepFailed: 1,
  usage: 2,
  interrupted: 130,
} as const;
