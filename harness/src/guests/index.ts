// The guests the harness pushes into the VM: the C cell interpreter, the Node app view, and
// the bench's floor program.
export { buildCGuest, buildFloor, C_GUEST_BINARY, C_GUEST_SOURCE, FLOOR_BINARY, FLOOR_SOURCE, type BuildCGuestOptions } from './c-guest.js';
export { tsGuestPath, TS_GUEST_REMOTE_NAME } from './ts-guest.js';
