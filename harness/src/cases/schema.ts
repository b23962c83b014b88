// JSON Schema of a case file (validated with ajv); cases/README.md documents each key.
export const SOCKET_OPTIONS = ['reuseaddr', 'reuseport', 'bind_address_no_port', 'euid', 'family', 'addr', 'v6only'] as const;
export const BASE_DIMENSIONS = ['autobind_reuse', 'port_range', 'family', 'addr'] as const;

const bool = { type: 'boolean' };
const euid = { type: 'integer', minimum: 0, maximum: 65535 };
const nonEmptyList = (items: object) => ({ type: 'array', minItems: 1, items });
const family = { enum: ['inet', 'inet6', 'v4mapped'] };
const addr = { enum: ['loopback', 'any'] };
const port = { type: 'integer', minimum: 1, maximum: 65535 };
/** One op: bind (port 0, an explicit port, or the port socket J holds), connect, listen, close. */
export const OP_PATTERN = '^(bind s[0-7]( port ([0-9]{1,5}|s[0-7]))?|listen s[0-7]|close s[0-7]|connect s[0-7] d[0-7])$';
/** ip_local_reserved_ports as a matrix value: keep, none, one port or one LO-HI range. */
export const RESERVED_PATTERN = '^(keep|none|[0-9]{1,5}(-[0-9]{1,5})?)$';

export const caseSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'title', 'sockets', 'ops'],
  properties: {
    name: { type: 'string', pattern: '^[a-z0-9][a-z0-9-]*$' },
    title: { type: 'string', minLength: 1 },
    guests: nonEmptyList({ enum: ['c', 'ts'] }),
    sockets: {
      type: 'array', minItems: 1, maxItems: 8,
      items: {
        type: 'object', additionalProperties: false,
        properties: { reuseaddr: bool, reuseport: bool, bind_address_no_port: bool, euid, family, addr, v6only: bool },
      },
    },
    ops: {
      type: 'array', minItems: 1, maxItems: 32,
      items: { type: 'string', pattern: OP_PATTERN },
    },
    destinations: {
      type: 'array', minItems: 1, maxItems: 8,
      items: {
        type: 'object', additionalProperties: false,
        properties: { family: { enum: ['inet', 'inet6'] }, reuseaddr: bool, port },
      },
    },
    matrix: {
      type: 'object',
      additionalProperties: false,
      patternProperties: {
        '^(s[0-7]|all)\\.(reuseaddr|reuseport|bind_address_no_port|v6only)$': nonEmptyList(bool),
        '^(s[0-7]|all)\\.euid$': nonEmptyList(euid),
        '^(s[0-7]|all)\\.family$': nonEmptyList(family),
        '^(s[0-7]|all)\\.addr$': nonEmptyList(addr),
      },
      properties: {
        autobind_reuse: nonEmptyList({ enum: ['absent', 0, 1, 'keep', 'try-0', 'try-1'] }),
        tcp_tw_reuse: nonEmptyList({ enum: ['keep', 0, 1, 2] }),
        reserved_ports: nonEmptyList({ type: ['string', 'integer'], pattern: RESERVED_PATTERN, minimum: 1, maximum: 65535 }),
        port_range: nonEmptyList({ type: 'string', pattern: '^(one-port|roomy|[0-9]{1,5}-[0-9]{1,5})$' }),
        family: nonEmptyList(family),
        addr: nonEmptyList(addr),
      },
    },
    selftests: nonEmptyList({ type: 'string', pattern: '^[a-z0-9_-]+/[a-z0-9_-]+$' }),
    exclude: {
      type: 'array',
      items: { type: 'object', minProperties: 1, additionalProperties: { type: ['string', 'number', 'boolean'] } },
    },
  },
} as const;
