// src/app/: what every command and watch share, so that cli/ only parses argv and prints, and
// watch/ stands on the same ground without importing cli/. It owns: loading the project
// (project.ts), selecting its nodes with what this host can build (select.ts, host-aware.ts),
// opening the build context (context.ts), the project's build lock (build-lock.ts), setting up a
// managed toolchain (toolchain-setup.ts), the machine's pools and -j (machine.ts), running a build
// of a selection (run-build.ts, with its no-op stamp, noop-stamp.ts), other hosts' keys
// (foreign.ts), a release of a selection (release.ts) and its publish on the hub (publish.ts), what
// the remote cache lacks (remote-holdings.ts), interrupts: the one place SIGINT and SIGTERM are heard (interrupts.ts), and
// outcomes → exit codes (exit-codes.ts). How results look is report/'s.
export { lockProject } from './build-lock.js';
export { openContext, readOnlyPlan } from './context.js';
export { buildExit, EXIT, type ExitCode } from './exit-codes.js';
export { foreignKeys } from './foreign.js';
export { allHostsRequested, hostView, skipText, unavailableNodes, type HostView } from './host-aware.js';
export { jobsFor, thisMachine } from './machine.js';
export { deleteStamp, deleteStamps, type NoopRequest } from './noop-stamp.js';
export { recordNoop, type NoopRun } from './noop-record.js';
export { loadProject, loadProjectFor, remoteFlags, type GlobalOptions, type Project } from './project.js';
export { buildSelected, traceStamp, type BuildFlags } from './run-build.js';
export {
  makeRelease,
  releaseCells,
  releaseFolder,
  withRelease,
  type MissingCell,
  type OpenRelease,
  type ReleaseRequest,
  type ReleaseResult,
} from './release.js';
export { publishRelease, type PublishRequest, type PublishResult, type RepoReport, type RepoStatus } from './publish.js';
export { remoteLacks } from './remote-holdings.js';
export { removeDeadProbes, writableFolderProblem } from './writable.js';
export { selectIn, type Selected, type SelectionProblem, type SelectionRequest } from './select.js';
export { setUpToolchain, wheelStash } from './toolchain-setup.js';
export { abortOnInterrupt, listenForInterrupts, type Interrupts } from './interrupts.js';
