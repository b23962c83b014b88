// The guests the harness pushes into the VM: the C cell interpreter and the Node app view.
export { buildCGuest, C_GUEST_BINARY, C_GUEST_SOURCE, type BuildCGuestOptions } from './c-guest.js';
export { tsGuestPath, TS_GUEST_REMOTE_NAME } from './ts-guest.js';
